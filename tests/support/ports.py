"""A free loopback port. (Imports nothing of publisher: the SPEC-surface tests use it too.)"""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now: a server can bind it, and a
    connection to it is refused (a receiver that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
