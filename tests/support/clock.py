"""The test clocks: one per way a test needs time to move. The code takes its clock
(`publisher.clock.Clock`: a callable returning an aware UTC datetime) and its sleep as
parameters, so a test hands it one of these instead of waiting.

- `ManualClock`: moves only when the test says so (`advance`, or setting `now`); `sleep`
  returns at once without moving it (the sandbox's containers finish after a number of
  polls, not of seconds, so a daemon under test never waits).
- `SleepClock`: a `ManualClock` that each `sleep` moves on instead: polling, backoff and the
  reconciliation's settle wait take no real time, and `slept` says how long they asked for.
- `JumpingClock`: the real clock, except that `sleep` jumps it forward instead of waiting;
  for code that runs beside real processes on real time.
- `TickClock`: each reading is `tick` after the previous one (call durations never zero).
- `ShiftedDatetime`: `datetime` with `now()` shifted by `offset`, for a library that reads
  the wall clock itself (monkeypatch it into the library's module).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TICK = timedelta(milliseconds=25)


class ManualClock:
    """Time moves only when the test says so; `sleep` returns at once (and is recorded)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(0)  # let other threads run, as a real sleep would


class SleepClock(ManualClock):
    """A clock that moves only when slept on (or advanced). Starts at the real time unless
    told otherwise, so that links and timestamps it signs look current to a real process."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start or datetime.now(UTC))

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(timedelta(seconds=max(seconds, 0.0)))


class JumpingClock:
    """The real clock, except that `sleep` jumps it forward instead of waiting (the
    reconciliation's settle wait, polling and backoff then take no real time)."""

    def __init__(self) -> None:
        self.offset = timedelta()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.offset += delta

    def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=max(seconds, 0.0)))


class TickClock:
    """Each reading is `tick` after the previous one."""

    def __init__(self, start: datetime = START, tick: timedelta = TICK) -> None:
        self.now = start
        self.tick = tick

    def __call__(self) -> datetime:
        self.now += self.tick
        return self.now


class ShiftedDatetime(datetime):
    """`datetime`, with `now()` moved by `offset`: the wall clock as a library that calls
    `datetime.now()` itself sees it (APScheduler does)."""

    offset = timedelta()

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + cls.offset
