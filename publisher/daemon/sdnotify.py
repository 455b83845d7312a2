"""systemd's notify protocol: READY / WATCHDOG / STOPPING datagrams, with no dependency.

sd_notify(3) is one datagram of `KEY=value` lines sent to the AF_UNIX socket named by
$NOTIFY_SOCKET (a path, or an abstract socket when it starts with `@`). Outside systemd the
variable is unset and every method does nothing, so the daemon calls them unconditionally.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

logger = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages for the current process. A failed send is logged, never raised:
    systemd being unreachable must not stop publishing (the watchdog then restarts us if it
    really is gone)."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._address = _socket_address(environ.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = _watchdog_usec(environ)
        self._warned = False
        self.enabled: bool = self._address is not None

    def ready(self, status: str = "") -> None:
        """Tell systemd the service is up (`systemctl start` returns); `status` shows in
        `systemctl status`."""
        self._send("READY=1", *_status_line(status))

    def reloading(self) -> None:
        """Tell systemd a reload (SIGHUP) started; send `ready()` when it is done."""
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self) -> None:
        """Tell systemd we are shutting down (after SIGTERM)."""
        self._send("STOPPING=1")

    def status(self, text: str) -> None:
        """Set the one-line status shown by `systemctl status`."""
        self._send(*_status_line(text))

    def watchdog(self) -> None:
        """Keep-alive: call at least every `watchdog_interval()` seconds, and only while every
        worker thread is healthy, so that a wedged daemon is killed and restarted."""
        self._send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Given WATCHDOG_USEC (and WATCHDOG_PID, which must be this process when set), return
        half the watchdog timeout in seconds, as sd_watchdog_enabled(3) advises; None when the
        watchdog is off or the variables are not for us."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def extend_timeout(self, seconds: float) -> None:
        """Ask systemd for `seconds` more before it gives up on a slow start or stop."""
        self._send(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")

    def _send(self, *lines: str) -> None:
        if self._address is None or not lines:
            return
        message = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self._address)
        except OSError as exc:
            # Log the first failure only: the watchdog sends every few seconds.
            if not self._warned:
                logger.warning("could not notify systemd at NOTIFY_SOCKET: %s", exc.strerror)
                self._warned = True


def _socket_address(value: str) -> str | bytes | None:
    """Given $NOTIFY_SOCKET, return the address for sendto(): a path, or the bytes of an
    abstract name (`@name` → `\\0name`); None when it is unset or not a socket address."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def _watchdog_usec(environ: Mapping[str, str]) -> int | None:
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None  # inherited from a parent that systemd watches, not meant for us
    return usec


def _status_line(text: str) -> tuple[str, ...]:
    # The protocol is newline-separated: a newline in the text would start a new assignment.
    flat = " ".join(text.split())
    return (f"STATUS={flat}",) if flat else ()
