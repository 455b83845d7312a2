"""The loopback HTTP servers (the sandbox, the media host): they stop at once, even with a
client's connection kept alive (serve_forever looks at its stop flag only every half second,
so `stop()` wakes it by shutting the listening socket down; tests start and stop many), and a
client that drops its connection makes no traceback."""

from __future__ import annotations

import logging
import socket
import struct
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from publisher.hosting import mediahost
from publisher.hosting.mediahost import ServeHost
from publisher.sandbox.server import SandboxServer
from tests.support.wait import wait_for

ROUNDS = 5
FAST = 0.25  # seconds: well under serve_forever's 0.5 s poll


def test_the_sandbox_stops_at_once() -> None:
    slowest = 0.0
    for _round in range(ROUNDS):
        server = SandboxServer(fetch_media=False)
        url = server.start()
        with httpx.Client() as client:
            assert client.get(f"{url}/_sandbox/posts").status_code == 200
            started = time.monotonic()
            server.close()
            slowest = max(slowest, time.monotonic() - started)
    assert slowest < FAST


def test_the_media_host_stops_at_once(tmp_path: Path) -> None:
    media = tmp_path / "photo.jpg"
    media.write_bytes(b"\xff\xd8 not really a jpeg")
    slowest = 0.0
    for _round in range(ROUNDS):
        host = ServeHost(
            content_dir=tmp_path,
            state_dir=tmp_path / "state",
            listen=("127.0.0.1", 0),
            public_url="http://127.0.0.1:9",
            link_ttl=timedelta(hours=1),
        )
        host.start()
        link = host.url_for(media).replace("http://127.0.0.1:9", f"http://127.0.0.1:{host.port}")
        with httpx.Client() as client:
            assert client.get(link).status_code == 200
            started = time.monotonic()
            host.stop()
            slowest = max(slowest, time.monotonic() - started)
    assert slowest < FAST


# --- a client that drops the connection to our media server ----------------------------------


class _Served:
    """One of our two HTTP servers, started on a free loopback port."""

    def __init__(self, kind: str, root: Path) -> None:
        self.sandbox: SandboxServer | None = None
        self.media: mediahost.ServeHost | None = None
        if kind == "sandbox":
            self.sandbox = SandboxServer()
            self.sandbox.start()
            self.port = self.sandbox.port
        else:
            (root / "content").mkdir()
            self.media = mediahost.ServeHost(
                content_dir=root / "content",
                state_dir=root,
                listen=("127.0.0.1", 0),
                public_url="http://127.0.0.1:0",
                link_ttl=timedelta(hours=1),
            )
            self.media.start()
            self.port = self.media.port

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
        if self.media is not None:
            self.media.stop()


@pytest.mark.parametrize(
    ("kind", "logger"), [("media", "publisher.hosting.mediahost"), ("sandbox", "publisher.sandbox")]
)
def test_a_dropped_connection_prints_no_traceback(
    kind: str,
    logger: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The media host faces the internet (Meta's fetcher, scanners); a client that resets
    # the connection made socketserver print a raw traceback on stderr: the user's terminal
    # during `publisher publish`, the journal under systemd, bypassing the log filter.
    caplog.set_level(logging.DEBUG, logger=logger)
    served = _Served(kind, tmp_path)
    try:
        client = socket.create_connection(("127.0.0.1", served.port))
        client.sendall(b"GET /m/1")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # linger 0: a reset, not a close
        err = ""

        def handled() -> bool:  # by the server, one way or other
            nonlocal err
            err += capfd.readouterr().err
            return "Traceback" in err or any("dropped" in r.getMessage() for r in caplog.records)

        wait_for(handled, timeout=5, every=0.01, what="the server to handle the reset")
    finally:
        served.stop()
    assert "Traceback" not in err + capfd.readouterr().err
    assert any("dropped its connection" in record.getMessage() for record in caplog.records)
