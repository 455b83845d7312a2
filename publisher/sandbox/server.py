"""`SandboxServer`: the Graph API sandbox on a loopback port, served from a daemon thread,
with its faults and what it recorded (posts, publish calls) at hand for tests.

Auth: `Authorization: Bearer <token>`; with `token` set it must match, else any non-empty
token passes (handler.py has the routes and the rules of the HTTP side). The same port is
the upload host of resumable video uploads (`rupload`, `Authorization: OAuth <token>`).

Run alone: `python -m publisher.sandbox.server --port 8766 --state sandbox.json`, or
`publisher sandbox`, which calls `serve_forever`.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from publisher.clock import Clock, system_clock
from publisher.hosting import httpserve
from publisher.sandbox import faults as faults_module
from publisher.sandbox import meta_errors, rupload, tokens
from publisher.sandbox.faults import Faults
from publisher.sandbox.fetch import Fetcher
from publisher.sandbox.graph import Graph
from publisher.sandbox.handler import GraphHTTPServer

DEFAULT_PORT = 8766


class SandboxServer:
    """The fake Graph API on a port, served from a daemon thread. Owns its HTTP server, its
    media fetcher and its state (durable when `state_path` is given)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: Path | None = None,
        faults: Faults | None = None,
        token: str | None = None,
        fetch_media: bool = True,
        captions_without_at: bool = False,
        clock: Clock = system_clock,
    ) -> None:
        self._address = (host, port)
        self._faults = faults if faults is not None else Faults()
        if captions_without_at:
            # Like Meta for an app user without an admin role; a fault like the others, so
            # `reset()` turns it off too.
            self._faults.captions_without_at = True
        self._token = token
        self._clock = clock
        self._fetcher = Fetcher() if fetch_media else None
        self.graph = Graph(
            state_path=state_path, faults=self._faults, clock=clock, fetcher=self._fetcher
        )
        # partial resumable uploads: beside the state file, or in a folder of its own
        spool = state_path.with_name(state_path.stem + "-uploads") if state_path else None
        if spool is not None:
            spool.mkdir(parents=True, exist_ok=True)
        self.uploads = rupload.Spool(spool)
        self._random = random.Random(0)
        self._random_lock = threading.Lock()
        self._httpd: GraphHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    @property
    def faults(self) -> Faults:
        return self._faults

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not started")
        return int(self._httpd.server_address[1])

    def start(self) -> str:
        """Listen and serve in a daemon thread; return the base URL "http://host:port"."""
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already started")
        self._httpd = GraphHTTPServer(self._address, self)
        host = self._address[0]
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name="sandbox",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop listening and close every open connection. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpserve.shutdown(httpd)
            httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Stop, and release the media fetcher."""
        self.stop()
        self.uploads.close()
        if self._fetcher is not None:
            self._fetcher.close()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def posts(self) -> list[dict[str, Any]]:
        """Every published post (all accounts), oldest first."""
        return self.graph.posts()

    def publish_calls(self) -> dict[str, int]:
        """container id -> media_publish calls that reached it (a transient 5xx fault answers
        before that, like a front end failing, and is not counted)."""
        return self.graph.publish_calls()

    def reset(self) -> None:
        """Forget every account, container and post; all faults back to off."""
        self.graph.reset()
        self.uploads.clear()
        for name, value in faults_module.to_json(Faults()).items():
            setattr(self._faults, name, value)
        with self._random_lock:
            self._random.seed(0)

    def check_token(self, header: str) -> str:
        """Given the Authorization header, return the token's fingerprint. Raise GraphError
        (190) if it is missing, wrong, or the `invalid_token` fault is on."""
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "oauth") or not token:
            raise meta_errors.token_missing()
        return self.check_bare_token(token)

    def check_bare_token(self, token: str) -> str:
        """Given a token (from the header, or the query of /refresh_access_token), return
        its fingerprint. Raise GraphError (190) if it is not the sandbox's `token` nor one
        it issued, if a refresh replaced it, or if the `invalid_token` fault is on."""
        key = tokens.key(token)
        if self._token is not None and token != self._token and not self.graph.issued(key):
            raise meta_errors.token_invalid()
        if self._faults.invalid_token:
            raise meta_errors.token_expired(self._clock())
        self.graph.check_key(key)
        return key

    def take_rate_limit(self) -> bool:
        """True when the `rate_limited_calls` fault picks this call (one fewer left)."""
        with self._random_lock:
            if self._faults.rate_limited_calls <= 0:
                return False
            self._faults.rate_limited_calls -= 1
            return True

    def roll_transient(self) -> bool:
        """True when the transient 5xx fault picks this request (seeded, repeatable)."""
        rate = self._faults.transient_5xx_rate
        if rate <= 0:
            return False
        with self._random_lock:
            return self._random.random() < rate


def serve_forever(
    host: str,
    port: int,
    state_path: Path | None,
    *,
    token: str | None = None,
    faults: Faults | None = None,
    fetch_media: bool = True,
    captions_without_at: bool = False,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run a sandbox until SIGTERM or Ctrl-C (for `publisher sandbox`). `announce` receives
    the base URL once the port is bound (useful with port 0)."""
    server = SandboxServer(
        host=host,
        port=port,
        state_path=state_path,
        faults=faults,
        token=token,
        fetch_media=fetch_media,
        captions_without_at=captions_without_at,
    )
    stopping = threading.Event()
    previous: Any = None
    in_main = threading.current_thread() is threading.main_thread()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    if in_main:
        previous = signal.signal(signal.SIGTERM, on_term)
    url = server.start()
    try:
        if announce is not None:
            announce(url)
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m publisher.sandbox.server [--host H] [--port N] [--state FILE]`."""
    parser = argparse.ArgumentParser(
        prog="python -m publisher.sandbox.server",
        description="Run publisher's Graph API sandbox until SIGTERM or Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 = any free)")
    parser.add_argument("--state", type=Path, default=None, help="keep the state in FILE")
    parser.add_argument("--no-fetch", action="store_true", help="do not download media URLs")
    parser.add_argument(
        "--captions-without-at",
        action="store_true",
        help='read captions back without the "@" of mentions, as Meta does for most app users',
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every media URL the sandbox fetches at INFO; those are signed links.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)

    def announce(url: str) -> None:
        print(f"sandbox listening on {url}", flush=True)

    serve_forever(
        args.host,
        args.port,
        args.state,
        fetch_media=not args.no_fetch,
        captions_without_at=args.captions_without_at,
        announce=announce,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
