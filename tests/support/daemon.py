"""Shared by the daemon tests: a hand-moved clock, an in-process daemon on a site in
tmp_path, and a way to let it run until nothing is left to do."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.job import Job
from publisher.publishing.runtime import Runtime
from publisher.store import jobstore

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class ManualClock:
    """Time moves only when the test says so; `sleep` returns at once (the sandbox's
    containers finish after a number of polls, not of seconds)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta

    def sleep(self, _seconds: float) -> None:
        time.sleep(0)


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


def open_daemon(config: Config, clock: ManualClock | JumpingClock, **kwargs: object) -> Daemon:
    runtime = Runtime.open(config, clock=clock, sleep=clock.sleep, retry_wait=0.0)
    options: dict[str, object] = {"quiet": 0.05, "heartbeat": 0.2}
    options.update(kwargs)
    daemon = Daemon(config, runtime, clock=clock, **options)  # type: ignore[arg-type]
    daemon.start()
    return daemon


def settle(daemon: Daemon, *, timeout: float = 10.0) -> None:
    """Run steps until no task runs and no message waits (two quiet rounds in a row)."""
    deadline = time.monotonic() + timeout
    quiet_rounds = 0
    while quiet_rounds < 2:
        daemon.step()
        daemon.workers.wait(max(0.0, deadline - time.monotonic()))
        quiet_rounds = quiet_rounds + 1 if daemon.settled() else 0
        if time.monotonic() > deadline:
            raise AssertionError("the daemon did not settle in time")


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


def jobs_by_draft(config: Config) -> dict[str, Job]:
    return {job.draft: job for job in jobstore.read_jobs(config.state_dir)}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def at(moment: datetime) -> str:
    """A publish_at value for a draft: aware ISO 8601."""
    return moment.isoformat()
