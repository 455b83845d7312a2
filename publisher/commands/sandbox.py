"""`publisher sandbox`: the built-in Graph API sandbox on loopback, in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from publisher.sandbox import server

HOST = "127.0.0.1"  # loopback only: the sandbox takes any token


def serve(port: int, state: Path | None, out: TextIO) -> None:
    """Serve the sandbox on 127.0.0.1:`port` (0: any free port), keeping its posts in `state`
    when given, until Ctrl-C or SIGTERM; say on `out` where it listens once the port is
    bound. Raise OSError (EADDRINUSE) when the port is taken."""

    def announce(url: str) -> None:
        print(f"sandbox listening on {url} (Ctrl-C stops it)", file=out, flush=True)

    server.serve_forever(HOST, port, state, announce=announce)
