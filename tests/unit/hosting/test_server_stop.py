"""The loopback HTTP servers (the sandbox, the media host) stop at once, even with a client's
connection kept alive: serve_forever looks at its stop flag only every half second, so
`stop()` wakes it by shutting the listening socket down (tests start and stop many)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx

from publisher.hosting.mediahost import ServeHost
from publisher.sandbox.server import SandboxServer

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
