"""Slot planning over generated queues, zones and moments around DST changes: a slot is
never given twice, slots come strictly in order, each at a wall time the user configured,
and a second planning pass moves nobody (hypothesis; derandomized so CI sees the same cases)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.config import Config, Slot
from publisher.job import Job, State
from publisher.planning.slots import Want, assign, is_slot, slot_times

PROPERTIES = settings(max_examples=60, deadline=None, derandomize=True)

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC")
# The DST changes of 2026 in those zones (UTC dates): Berlin Mar 29 / Oct 25, New York
# Mar 8 / Nov 1, Lord Howe (half an hour) Apr 5 / Oct 4.
CHANGES = (
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Times of day, most of them in the hours where clocks change (01:00-03:59).
TIME_OF_DAY = st.one_of(
    st.builds(time, st.integers(1, 3), st.sampled_from([0, 15, 30, 45, 59])),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
)
DAY_SLOT = st.builds(
    lambda days, times: {"days": days, "times": [t.strftime("%H:%M") for t in times]},
    st.lists(st.sampled_from(DAY_NAMES), min_size=1, max_size=7, unique=True),
    st.lists(TIME_OF_DAY, min_size=1, max_size=4),
)
CRON_SLOT = st.builds(
    lambda minute, hours: {"cron": f"{minute} {hours} * * *"},
    st.sampled_from(["0", "30", "*/30", "15,45"]),
    st.sampled_from(["1", "2", "1-3", "*/6", "9"]),
)
SLOTS = st.lists(st.one_of(DAY_SLOT, CRON_SLOT), min_size=1, max_size=3)
# A moment up to two days either side of a DST change, to the minute.
AROUND_A_CHANGE = st.builds(
    lambda change, minutes: change + timedelta(minutes=minutes),
    st.sampled_from(CHANGES),
    st.integers(-2 * 24 * 60, 2 * 24 * 60),
)


def wall_times(slot: Slot, tz: ZoneInfo, instant: datetime) -> bool:
    """Is `instant` a wall time (in `tz`) this days+times slot names?"""
    local = instant.astimezone(tz)
    return (
        local.weekday() in slot.weekdays and local.time().replace(tzinfo=None) in slot.times_of_day
    )


@PROPERTIES
@given(st.sampled_from(ZONES), SLOTS, AROUND_A_CHANGE, st.integers(1, 40))
def test_slots_are_strictly_increasing_and_at_configured_wall_times(
    zone: str, documents: list[dict[str, Any]], after: datetime, limit: int
) -> None:
    tz = ZoneInfo(zone)
    slots = [Slot(**document) for document in documents]
    instants = list(slot_times(slots, tz, after, limit=limit))
    assert len(instants) == limit  # every queue here has a slot each day
    assert all(instant.tzinfo is UTC and instant > after for instant in instants)
    assert all(b > a for a, b in zip(instants, instants[1:], strict=False))
    for instant in instants:
        assert is_slot(instant, slots, tz)
        local = instant.astimezone(tz)
        # the wall time exists and is read the same way back (never a time in a DST gap)
        assert local.replace(tzinfo=None, fold=0).replace(tzinfo=tz).astimezone(UTC) == instant
        day_slots = [slot for slot in slots if slot.cron is None]
        if len(day_slots) == len(slots):
            assert any(wall_times(slot, tz, instant) for slot in day_slots)
    # a repeated wall time (the fall-back hour) is one slot: no two instants read alike
    walls = [instant.astimezone(tz).replace(tzinfo=None) for instant in instants]
    assert len(set(walls)) == len(walls)


@PROPERTIES
@given(
    st.sampled_from(ZONES),
    SLOTS,
    AROUND_A_CHANGE,
    st.integers(1, 25),
    st.lists(st.integers(0, 24 * 60 * 3), max_size=4),
)
def test_no_slot_is_given_twice_and_a_second_pass_moves_nobody(
    zone: str,
    documents: list[dict[str, Any]],
    now: datetime,
    drafts: int,
    fixed_minutes: list[int],
) -> None:
    config = Config(
        timezone=zone,
        schedule={"slots": documents},
        accounts={"main": {"ig_user_id": "1"}},
    )
    wants = [Want(rel=f"q{n:02}.yaml", account="main", order_key=f"q{n:02}") for n in range(drafts)]
    # some drafts with publish_at: a queue draft never gets their instant
    fixed = [now + timedelta(minutes=minutes) for minutes in fixed_minutes]
    wants += [
        Want(rel=f"at{n}.yaml", account="main", publish_at=when, order_key=f"at{n}")
        for n, when in enumerate(fixed)
    ]
    plan = assign(wants, [], config, now)
    assert not plan.problems
    queued = [plan.times[f"q{n:02}.yaml"] for n in range(drafts)]
    assert len(set(queued)) == len(queued), "a slot given twice"
    assert not set(queued) & set(fixed), "a queue draft on a publish_at draft's instant"
    assert all(when > now for when in queued)
    assert queued == sorted(queued)  # queue order: file names in order take slots in order
    assert all(is_slot(when, config.account_slots("main"), config.tz) for when in queued)

    # The daemon plans again a minute later with the jobs it made: nobody moves.
    jobs = [
        Job(draft=rel, account="main", state=State.SCHEDULED, scheduled_for=when)
        for rel, when in plan.times.items()
    ]
    again = assign(wants, jobs, config, now + timedelta(minutes=1))
    assert again.times == plan.times
