"""The one gate of the daemon's periodic chores: each runs when its time has come on the
injected clock, and not before. A hand-moved clock; nothing sleeps."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from publisher.daemon import loop
from publisher.daemon.chores import Chores
from tests.support.clock import START, ManualClock

HEARTBEAT = 1.0
RESCAN_EVERY = 180.0
# The daemon's chores, as loop.Daemon registers them: name, period, first time (None: one
# period after start), whether it only runs when it has something to do.
DAEMON_CHORES = [
    ("account check", loop.ACCOUNT_CHECK_EVERY, None),
    ("orphan take-over", HEARTBEAT, 0.0),
    ("archive", loop.ARCHIVE_EVERY, loop.FIRST_ARCHIVE),
    ("inbox cleanup", loop.ARCHIVE_EVERY, loop.FIRST_ARCHIVE),
    ("rescan", RESCAN_EVERY, None),
]


class Ran:
    """Records which chores ran, at what time of the clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.times: dict[str, list[timedelta]] = {}

    def work(self, name: str) -> object:
        return lambda: self.times.setdefault(name, []).append(self.clock() - START)


@pytest.mark.parametrize(("name", "every", "first"), DAEMON_CHORES)
def test_each_daemon_chore_runs_when_due_and_not_before(
    name: str, every: float, first: float | None
) -> None:
    clock = ManualClock()
    chores = Chores(clock)
    ran = Ran(clock)
    chores.every(name, every, ran.work(name), first=first)
    first_at = timedelta(seconds=every if first is None else first)
    period = timedelta(seconds=every)

    if first_at > timedelta(0):
        clock.advance(first_at - timedelta(milliseconds=1))
        assert chores.run_due() == []  # a millisecond early
        clock.advance(timedelta(milliseconds=1))
    assert chores.run_due() == [name]
    assert chores.run_due() == []  # once per time, however many steps

    clock.advance(period - timedelta(milliseconds=1))
    assert chores.run_due() == []
    clock.advance(timedelta(milliseconds=1))
    assert chores.run_due() == [name]
    assert ran.times[name] == [first_at, first_at + period]


def all_daemon_chores(clock: ManualClock) -> Chores:
    chores = Chores(clock)
    ran = Ran(clock)
    for name, every, first in DAEMON_CHORES:
        chores.every(name, every, ran.work(name), first=first)
    return chores


def test_a_clock_that_stands_still_runs_nothing_twice() -> None:
    chores = all_daemon_chores(ManualClock())
    assert chores.run_due() == ["orphan take-over"]  # the only one due at start
    for _ in range(100):
        assert chores.run_due() == []


def test_a_big_jump_of_the_clock_runs_each_chore_once() -> None:
    clock = ManualClock()
    chores = all_daemon_chores(clock)
    clock.advance(timedelta(days=2))  # a suspended laptop: no catching up on missed runs
    assert chores.run_due() == [name for name, _every, _first in DAEMON_CHORES]
    assert chores.run_due() == []


def test_restart_puts_the_next_time_a_whole_period_away() -> None:
    """The account check is also done at start and after a reload: its period restarts."""
    clock = ManualClock()
    chores = Chores(clock)
    ran = Ran(clock)
    chores.every("account check", 300.0, ran.work("account check"))
    clock.advance(timedelta(seconds=200))
    chores.restart("account check")
    assert chores.next_at("account check") == START + timedelta(seconds=500)
    clock.advance(timedelta(seconds=299))
    assert chores.run_due() == []
    clock.advance(timedelta(seconds=1))
    assert chores.run_due() == ["account check"]


def test_a_chore_with_nothing_to_do_waits_then_runs_at_once() -> None:
    """The orphan take-over runs only when there are orphans, at most once a heartbeat."""
    clock = ManualClock()
    chores = Chores(clock)
    orphans: list[str] = []
    taken: list[timedelta] = []

    def take_over() -> None:
        taken.append(clock() - START)
        orphans.clear()

    chores.every("orphan take-over", 1.0, take_over, first=0.0, only_if=lambda: bool(orphans))
    clock.advance(timedelta(seconds=10))
    assert chores.run_due() == []  # its time came long ago, but there was nothing to do
    orphans.append("job-1")
    assert chores.run_due() == ["orphan take-over"]  # at once
    orphans.append("job-2")
    assert chores.run_due() == []  # not twice within a heartbeat
    clock.advance(timedelta(seconds=1))
    assert chores.run_due() == ["orphan take-over"]
    assert taken == [timedelta(seconds=10), timedelta(seconds=11)]


def test_a_clock_set_back_waits_at_most_one_period() -> None:
    clock = ManualClock()
    chores = Chores(clock)
    ran = Ran(clock)
    chores.every("archive", 3600.0, ran.work("archive"), first=60.0)
    clock.now -= timedelta(days=1)  # the wall clock corrected backwards
    assert chores.run_due() == []
    clock.advance(timedelta(seconds=3600))
    assert chores.run_due() == ["archive"]


def test_a_failing_chore_is_logged_once_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    chores = Chores(clock)
    ran = Ran(clock)

    def archive() -> None:
        raise OSError(28, "No space left on device")

    chores.every("archive", 60.0, archive)
    chores.every("rescan", 60.0, ran.work("rescan"))
    with caplog.at_level(logging.ERROR, logger="publisher.daemon.chores"):
        for _ in range(3):
            clock.advance(timedelta(seconds=60))
            assert chores.run_due() == ["archive", "rescan"]  # tried again at its next time
    assert len(ran.times["rescan"]) == 3
    failures = [r for r in caplog.records if "archive failed" in r.getMessage()]
    assert len(failures) == 1  # the same failure, logged once
