"""store.health: the gate before every write of jobs.json: back off after a failure, one log
line a minute, mend a deleted state_dir and try once more, say when it works again."""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.errors import StoreError, StoreUnwritable
from publisher.store.health import FIRST_BACKOFF, MAX_BACKOFF, WriteGate
from tests.support.store import FakeClock


class _Disk:
    """A write that fails while `full`, counting the attempts."""

    def __init__(self) -> None:
        self.full = True
        self.attempts = 0

    def write(self) -> None:
        self.attempts += 1
        if self.full:
            raise StoreError("cannot write jobs.json: No space left on device")


def test_after_a_failure_writes_are_refused_until_the_backoff_is_over() -> None:
    clock, disk = FakeClock(), _Disk()
    gate = WriteGate(Path("jobs.json"), clock)
    tried_at = []
    for _second in range(120):
        for _change in range(100):  # a hundred changes a second want to be written
            before = disk.attempts
            with pytest.raises(StoreUnwritable, match="No space left on device; the change"):
                gate.write(disk.write)
            if disk.attempts > before:
                tried_at.append(clock())
        clock.advance(timedelta(seconds=1))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(tried_at)]
    assert gaps[:5] == [1, 2, 4, 8, 16]
    assert set(gaps[5:]) == {MAX_BACKOFF.total_seconds()}
    assert disk.attempts <= 10
    assert gate.failing is not None and "publishing waits until it can" in gate.failing


def test_the_failure_is_logged_once_a_minute_and_the_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, disk = FakeClock(), _Disk()
    gate = WriteGate(Path("state/jobs.json"), clock)
    with caplog.at_level(logging.INFO, logger="publisher"):
        for _second in range(150):
            with pytest.raises(StoreUnwritable):
                gate.write(disk.write)
            clock.advance(timedelta(seconds=1))
        disk.full = False
        clock.advance(MAX_BACKOFF)
        gate.write(disk.write)
        gate.write(disk.write)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 4, lines  # at 0 s, 60 s, 120 s, then the recovery
    assert all(record.exc_info is None for record in caplog.records)
    assert lines[0].startswith("cannot write jobs.json: No space left on device; publishing")
    assert lines[3].startswith("state/jobs.json can be written again after 180 s")
    assert gate.failing is None


def test_a_mended_state_dir_is_tried_once_more_at_once() -> None:
    clock, disk = FakeClock(), _Disk()

    def mend() -> bool:
        disk.full = False
        return True

    gate = WriteGate(Path("jobs.json"), clock, mend=mend)
    gate.write(disk.write)
    assert disk.attempts == 2 and gate.failing is None


def test_the_first_retry_comes_after_the_first_backoff() -> None:
    clock, disk = FakeClock(), _Disk()
    gate = WriteGate(Path("jobs.json"), clock)
    with pytest.raises(StoreUnwritable):
        gate.write(disk.write)
    assert not gate.due()
    clock.advance(FIRST_BACKOFF)
    assert gate.due()
