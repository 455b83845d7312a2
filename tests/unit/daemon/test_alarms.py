"""The alarm clock: APScheduler date jobs that only wake the daemon, kept in line with what
the daemon wants, a heartbeat, and a late alarm that still rings (misfire_grace_time=None)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import apscheduler.schedulers.base
import pytest

from publisher.daemon.alarms import AlarmClock
from tests.support.clock import ShiftedDatetime
from tests.support.wait import wait_for


class Rings:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.event = threading.Event()

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)
        self.event.set()

    def wait_for(self, reason: str, timeout: float = 3.0) -> None:
        wait_for(
            lambda: reason in self.reasons,
            timeout=timeout,
            every=0.01,
            what=f"{reason!r} to ring (rang: {self.reasons})",
        )


@pytest.fixture
def rings() -> Rings:
    return Rings()


@pytest.fixture
def clock(rings: Rings) -> Iterator[AlarmClock]:
    alarms = AlarmClock(rings, heartbeat=0.05)
    alarms.start()
    yield alarms
    alarms.stop()


def test_an_alarm_rings_at_its_instant_and_is_then_gone(clock: AlarmClock, rings: Rings) -> None:
    now = datetime.now(UTC)
    soon = now + timedelta(milliseconds=150)
    clock.update({"job": [soon]}, now)
    assert clock.armed() == {"job": [soon]}
    rings.wait_for("alarm job")
    rang_at = datetime.now(UTC)
    assert rang_at >= soon
    assert (rang_at - soon).total_seconds() < 0.5
    assert clock.armed() == {}


def test_an_alarm_in_the_past_still_rings(clock: AlarmClock, rings: Rings) -> None:
    # APScheduler's default misfire_grace_time (1 s) would drop it silently (§1.1).
    now = datetime.now(UTC)
    clock.update({"late": [now - timedelta(minutes=30)]}, now)
    rings.wait_for("alarm late")
    assert clock.missed == 0


def test_update_keeps_what_is_wanted_and_drops_the_rest(clock: AlarmClock) -> None:
    now = datetime.now(UTC)
    a, b, c = (now + timedelta(hours=hours) for hours in (1, 2, 3))
    clock.update({"x": [a, b], "y": [c]}, now)
    clock.update({"x": [b, c]}, now)
    assert clock.armed() == {"x": [b, c]}
    far = now + timedelta(days=3)  # beyond the horizon: armed later, as time passes
    clock.update({"x": [far]}, now)
    assert clock.armed() == {}
    clock.update({"x": [far]}, far - timedelta(hours=1))
    assert clock.armed() == {"x": [far]}


def test_the_heartbeat_keeps_it_alive(clock: AlarmClock, rings: Rings) -> None:
    rings.wait_for("heartbeat")
    assert clock.alive(max_silence=1.0)
    clock.stop()
    assert not clock.alive(max_silence=1.0)


def test_the_heartbeat_survives_the_wall_clock_going_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An NTP step back of an hour: APScheduler's heartbeat waited for the hour, so the
    alarm clock looked dead, the watchdog keep-alive stopped and systemd killed the daemon
    (SIGABRT) in the middle of whatever it was publishing."""
    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", ShiftedDatetime)
    monkeypatch.setattr(ShiftedDatetime, "offset", timedelta())
    beats: list[str] = []
    alarms = AlarmClock(beats.append, heartbeat=0.05, now=lambda: ShiftedDatetime.now(UTC))
    alarms.start()
    try:
        wait_for(lambda: len(beats) >= 2)
        ShiftedDatetime.offset = -timedelta(hours=1)

        def beating_again() -> bool:
            before = len(beats)
            time.sleep(0.2)
            return alarms.alive(0.25) and len(beats) > before

        wait_for(beating_again, timeout=3)
    finally:
        alarms.stop()


def test_an_alarm_about_to_ring_is_left_to_ring_when_disarmed(
    clock: AlarmClock, rings: Rings
) -> None:
    # APScheduler removes a date job right after running it; one we removed in between made
    # its thread die of JobLookupError, and with it every alarm and the heartbeat. So an alarm
    # due within DUE_MARGIN is no longer removed: it rings once more, waking the loop for
    # nothing, and is no longer counted as armed.
    now = datetime.now(UTC)
    soon = now + timedelta(milliseconds=200)
    later = now + timedelta(hours=1)
    clock.update({"soon": [soon], "later": [later]}, now)
    clock.update({}, now)
    assert clock.armed() == {}
    rings.wait_for("alarm soon")  # left to ring
    assert clock.armed() == {}
    assert clock.alive(max_silence=1.0)
