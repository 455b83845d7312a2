"""Shared by the job store's tests: a hand-moved clock, an API call record, and what the
kill -9 tests need to drive a child process that writes jobs."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from datetime import UTC, datetime

from publisher.job import ApiCall
from tests.support.clock import ManualClock
from tests.support.paths import REPO

# A child process imports publisher from this checkout.
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO)}
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class FakeClock(ManualClock):
    """A clock for the store: time moves only when the test says so, from T0."""

    def __init__(self, now: datetime = T0) -> None:
        super().__init__(now)


def call(at: datetime, number: int = 0) -> ApiCall:
    """One status poll, as the store records it."""
    return ApiCall(
        at=at, method="GET", endpoint=f"/v25.0/{number}", status=200, duration_ms=1.0, step="poll"
    )


class LineReader:
    """Lines from a pipe, with timeouts, so a stuck child fails the test instead of hanging it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def lines(self, timeout: float) -> list[str]:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            chunk = os.read(self.fd, 65536)
            assert chunk, "the driver died"
            self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        return [line.decode() for line in complete]

    def until(self, markers: set[str], note: Callable[[str], None]) -> list[str]:
        """Read until a line starting with each marker word was seen; pass every line to
        `note`; return the marker lines. Lines come in whole batches, so none is lost."""
        deadline = time.monotonic() + 10
        found: list[str] = []
        missing = set(markers)
        while missing:
            assert time.monotonic() < deadline, f"the driver never said {sorted(missing)}"
            for line in self.lines(timeout=0.05):
                note(line)
                word = line.split(" ", 1)[0]
                if word in missing:
                    missing.discard(word)
                    found.append(line)
        return found
