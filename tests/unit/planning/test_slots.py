"""Slots, the next free slot, DST, lateness and quota windows: pure functions, fixed `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from publisher.config import Config, Slot
from publisher.job import Job, State
from publisher.planning.slots import (
    NonexistentTime,
    Want,
    assign,
    format_local,
    is_ambiguous,
    is_slot,
    lateness_policy,
    local_to_utc,
    prepare_at,
    quota_warnings,
    slot_times,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def local(text: str, tz: ZoneInfo = PARIS) -> datetime:
    """'2026-12-01 09:00' in `tz` (first occurrence), or with an offset -> aware UTC."""
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)


def shown(instants: list[datetime], tz: ZoneInfo) -> list[str]:
    return [instant.astimezone(tz).isoformat(sep=" ", timespec="minutes") for instant in instants]


def make_config(
    slots: list[dict[str, Any]] | None = None,
    timezone: str = "Europe/Paris",
    accounts: dict[str, dict[str, Any]] | None = None,
    grace: str = "1h",
) -> Config:
    return Config(
        timezone=timezone,
        schedule={"slots": slots if slots is not None else [], "misfire_grace": grace},
        accounts=accounts or {"main": {"ig_user_id": "1"}},
    )


# --- local_to_utc / is_ambiguous ---------------------------------------------------------


@pytest.mark.parametrize(
    ("naive", "zone", "expected_utc"),
    [
        ("2026-12-01 09:00", PARIS, "2026-12-01 08:00"),  # CET
        ("2026-07-01 09:00", PARIS, "2026-07-01 07:00"),  # CEST
        ("2026-03-29 01:59", PARIS, "2026-03-29 00:59"),  # just before the gap
        ("2026-03-29 03:00", PARIS, "2026-03-29 01:00"),  # first time after the gap
        ("2026-10-25 02:30", PARIS, "2026-10-25 00:30"),  # fall-back: first occurrence (+02:00)
        ("2026-03-08 03:00", NEW_YORK, "2026-03-08 07:00"),
        ("2026-11-01 01:30", NEW_YORK, "2026-11-01 05:30"),  # first occurrence (EDT)
        ("2026-11-01 02:00", NEW_YORK, "2026-11-01 07:00"),  # EST
    ],
)
def test_local_to_utc(naive: str, zone: ZoneInfo, expected_utc: str) -> None:
    result = local_to_utc(datetime.fromisoformat(naive), zone)
    assert result == datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)
    assert result.tzinfo is UTC


def test_local_to_utc_ignores_fold_and_converts_aware_input() -> None:
    second = datetime(2026, 11, 1, 1, 30, fold=1)
    assert local_to_utc(second, NEW_YORK) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    aware = datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    assert local_to_utc(aware, NEW_YORK) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("naive", "zone", "message"),
    [
        (
            "2026-03-29 02:30",
            PARIS,
            "2026-03-29 02:30 does not exist in Europe/Paris: clocks jump from 02:00 to "
            "03:00; use 03:00 or later",
        ),
        (
            "2026-03-29 02:00",
            PARIS,
            "2026-03-29 02:00 does not exist in Europe/Paris: clocks jump from 02:00 to "
            "03:00; use 03:00 or later",
        ),
        (
            "2026-03-08 02:30",
            NEW_YORK,
            "2026-03-08 02:30 does not exist in America/New_York: clocks jump from 02:00 to "
            "03:00; use 03:00 or later",
        ),
        (
            "2027-03-14 02:59:30",
            NEW_YORK,
            "2027-03-14 02:59:30 does not exist in America/New_York: clocks jump from 02:00 "
            "to 03:00; use 03:00 or later",
        ),
        (  # Samoa skipped a whole day: the dates are shown
            "2011-12-30 12:00",
            ZoneInfo("Pacific/Apia"),
            "2011-12-30 12:00 does not exist in Pacific/Apia: clocks jump from 2011-12-30 "
            "00:00 to 2011-12-31 00:00; use 2011-12-31 00:00 or later",
        ),
    ],
)
def test_local_to_utc_rejects_a_time_in_a_gap(naive: str, zone: ZoneInfo, message: str) -> None:
    with pytest.raises(NonexistentTime) as error:
        local_to_utc(datetime.fromisoformat(naive), zone)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    ("naive", "zone", "ambiguous"),
    [
        ("2026-11-01 01:30", NEW_YORK, True),
        ("2026-11-01 00:59", NEW_YORK, False),
        ("2026-11-01 02:00", NEW_YORK, False),
        ("2026-10-25 02:00", PARIS, True),
        ("2026-10-25 02:59", PARIS, True),
        ("2026-10-25 03:00", PARIS, False),
        ("2026-03-29 02:30", PARIS, False),  # a gap is not ambiguous, it does not exist
        ("2026-07-01 12:00", PARIS, False),
    ],
)
def test_is_ambiguous(naive: str, zone: ZoneInfo, ambiguous: bool) -> None:
    assert is_ambiguous(datetime.fromisoformat(naive), zone) is ambiguous


# --- slot_times --------------------------------------------------------------------------

WEEKDAYS = {"days": "mon-fri", "times": ["09:00", "18:30"]}
SATURDAY_CRON = {"cron": "0 11 * * sat"}


@pytest.mark.parametrize(
    ("slots", "zone", "after", "limit", "expected"),
    [
        pytest.param(  # Friday evening -> Monday: the weekend has no slot
            [WEEKDAYS],
            PARIS,
            "2026-12-04 19:00",
            3,
            ["2026-12-07 09:00+01:00", "2026-12-07 18:30+01:00", "2026-12-08 09:00+01:00"],
            id="mon-fri-over-weekend",
        ),
        pytest.param(  # strictly after: a slot at `after` itself is not returned
            [WEEKDAYS],
            PARIS,
            "2026-12-01 09:00",
            2,
            ["2026-12-01 18:30+01:00", "2026-12-02 09:00+01:00"],
            id="strictly-after",
        ),
        pytest.param(
            [{"days": "daily", "times": ["09:00"]}],
            PARIS,
            "2026-12-05 23:59",
            3,
            ["2026-12-06 09:00+01:00", "2026-12-07 09:00+01:00", "2026-12-08 09:00+01:00"],
            id="daily-across-midnight",
        ),
        pytest.param(
            [{"times": ["00:00"]}],  # no days: every day
            PARIS,
            "2026-12-31 23:00",
            2,
            ["2027-01-01 00:00+01:00", "2027-01-02 00:00+01:00"],
            id="midnight-new-year",
        ),
        pytest.param(
            [SATURDAY_CRON],
            PARIS,
            "2026-12-05 11:00",
            1,
            ["2026-12-12 11:00+01:00"],
            id="strictly-after-cron",
        ),
        pytest.param(  # `after` in the repeated hour, second pass: 01:30 already happened
            [{"cron": "30 1 * * *"}, {"times": ["01:30"]}],
            NEW_YORK,
            "2026-11-01 06:15+00:00",
            1,
            ["2026-11-02 01:30-05:00"],
            id="after-in-second-pass-of-fold",
        ),
        pytest.param(
            [SATURDAY_CRON],
            PARIS,
            "2026-12-01 12:00",
            2,
            ["2026-12-05 11:00+01:00", "2026-12-12 11:00+01:00"],
            id="cron-saturday",
        ),
        pytest.param(  # the SPEC §3 example: weekdays and a Saturday cron, merged
            [WEEKDAYS, SATURDAY_CRON],
            PARIS,
            "2026-12-04 18:30",
            3,
            ["2026-12-05 11:00+01:00", "2026-12-07 09:00+01:00", "2026-12-07 18:30+01:00"],
            id="merged",
        ),
        pytest.param(  # the same instant from two slots is one slot
            [{"days": "daily", "times": ["09:00"]}, {"cron": "0 9 * * *"}, WEEKDAYS],
            PARIS,
            "2026-12-01 10:00",
            3,
            ["2026-12-01 18:30+01:00", "2026-12-02 09:00+01:00", "2026-12-02 18:30+01:00"],
            id="deduplicated",
        ),
        pytest.param(
            [{"days": "sat-sun", "times": ["18:30", "10:00"]}],  # times in any order
            NEW_YORK,
            "2026-12-05 12:00",
            3,
            ["2026-12-05 18:30-05:00", "2026-12-06 10:00-05:00", "2026-12-06 18:30-05:00"],
            id="weekend-new-york",
        ),
        pytest.param(  # spring forward: 02:30 does not exist on 29 March, skipped that day
            [{"times": ["02:30"]}],
            PARIS,
            "2026-03-27 12:00",
            3,
            ["2026-03-28 02:30+01:00", "2026-03-30 02:30+02:00", "2026-03-31 02:30+02:00"],
            id="paris-gap-skipped",
        ),
        pytest.param(
            [{"cron": "30 2 * * *"}],
            PARIS,
            "2026-03-27 12:00",
            2,
            ["2026-03-28 02:30+01:00", "2026-03-30 02:30+02:00"],
            id="paris-gap-skipped-cron",
        ),
        pytest.param(
            [{"times": ["02:30"]}],
            NEW_YORK,
            "2026-03-07 12:00",
            2,
            ["2026-03-09 02:30-04:00", "2026-03-10 02:30-04:00"],
            id="new-york-gap-skipped",
        ),
        pytest.param(  # fall back: 01:30 happens twice; the slot happens once, in EDT
            [{"times": ["01:30"]}],
            NEW_YORK,
            "2026-10-31 12:00",
            2,
            ["2026-11-01 01:30-04:00", "2026-11-02 01:30-05:00"],
            id="new-york-fold-once",
        ),
        pytest.param(  # APScheduler in the zone itself loops back here (module docstring)
            [{"cron": "*/30 1 * * *"}],
            NEW_YORK,
            "2026-10-31 12:00",
            4,
            [
                "2026-11-01 01:00-04:00",
                "2026-11-01 01:30-04:00",
                "2026-11-02 01:00-05:00",
                "2026-11-02 01:30-05:00",
            ],
            id="new-york-fold-once-cron",
        ),
        pytest.param(
            [{"times": ["02:30"]}],
            PARIS,
            "2026-10-24 12:00",
            2,
            ["2026-10-25 02:30+02:00", "2026-10-26 02:30+01:00"],
            id="paris-fold-once",
        ),
        pytest.param(  # the transition week: same wall time, the offset changes on Sunday
            [{"times": ["09:00"]}],
            PARIS,
            "2026-03-27 12:00",
            4,
            [
                "2026-03-28 09:00+01:00",
                "2026-03-29 09:00+02:00",
                "2026-03-30 09:00+02:00",
                "2026-03-31 09:00+02:00",
            ],
            id="paris-transition-week",
        ),
        pytest.param(
            [{"days": "mon-fri", "times": ["09:00"]}],
            NEW_YORK,
            "2026-10-30 12:00",
            2,
            ["2026-11-02 09:00-05:00", "2026-11-03 09:00-05:00"],
            id="new-york-transition-weekend",
        ),
        pytest.param([WEEKDAYS], PARIS, "2026-12-01 00:00", 0, [], id="limit-zero"),
        pytest.param([], PARIS, "2026-12-01 00:00", 5, [], id="no-slots"),
        pytest.param(  # matches nothing: ends at the horizon instead of looping
            [{"days": [], "times": ["09:00"]}],
            PARIS,
            "2026-12-01 00:00",
            5,
            [],
            id="days-match-nothing",
        ),
        pytest.param([{"cron": "0 9 30 2 *"}], PARIS, "2026-12-01 00:00", 5, [], id="feb-30"),
    ],
)
def test_slot_times(
    slots: list[dict[str, Any]],
    zone: ZoneInfo,
    after: str,
    limit: int,
    expected: list[str],
) -> None:
    parsed = [Slot(**slot) for slot in slots]
    found = list(slot_times(parsed, zone, local(after, zone), limit=limit))
    assert shown(found, zone) == expected
    assert all(instant.tzinfo is UTC for instant in found)


def test_slot_times_refuses_a_naive_after() -> None:
    with pytest.raises(ValueError, match="aware"):
        list(slot_times([Slot(times=["09:00"])], PARIS, datetime(2026, 12, 1), limit=1))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-12-01 09:00", True),
        ("2026-12-01 09:01", False),
        ("2026-12-05 11:00", True),  # the Saturday cron
        ("2026-12-05 09:00", False),  # Saturday is not mon-fri
    ],
)
def test_is_slot(instant: str, expected: bool) -> None:
    slots = [Slot(**WEEKDAYS), Slot(**SATURDAY_CRON)]
    assert is_slot(local(instant), slots, PARIS) is expected


def transitions(zone: ZoneInfo, first_year: int, last_year: int) -> list[datetime]:
    """Every UTC hour at which `zone`'s offset changes, found by walking the hours."""
    found = []
    hour = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    offset = hour.astimezone(zone).utcoffset()
    while hour < end:
        hour += timedelta(hours=1)
        now_offset = hour.astimezone(zone).utcoffset()
        if now_offset != offset:
            found.append(hour)
            offset = now_offset
    return found


TRANSITIONS = [
    pytest.param(zone, instant, id=f"{zone.key}-{instant:%Y-%m-%d}")
    for zone in (PARIS, NEW_YORK)
    for instant in transitions(zone, 2026, 2028)
]
EVERY_HALF_HOUR_AT_NIGHT = [f"{hour:02d}:{minute:02d}" for hour in range(5) for minute in (0, 30)]


def test_every_dst_transition_is_found() -> None:
    assert len(TRANSITIONS) == 12  # two a year, three years, two zones


@pytest.mark.parametrize(("zone", "switch"), TRANSITIONS)
def test_slots_across_every_dst_transition(zone: ZoneInfo, switch: datetime) -> None:
    after = switch - timedelta(days=2)
    days = [(after + timedelta(days=n)).astimezone(zone).date() for n in range(5)]
    slots = [
        Slot(times=EVERY_HALF_HOUR_AT_NIGHT[::2]),
        Slot(times=["09:00"]),
        Slot(cron="30 0-4 * * *"),  # the half hours, through cron
    ]
    wanted = {datetime.strptime(t, "%H:%M").time() for t in EVERY_HALF_HOUR_AT_NIGHT}
    wanted.add(datetime.strptime("09:00", "%H:%M").time())

    found = list(slot_times(slots, zone, after, limit=60))
    found = [instant for instant in found if instant.astimezone(zone).date() <= days[3]]

    assert all(later > earlier for earlier, later in zip(found, found[1:], strict=False))
    walls = [instant.astimezone(zone) for instant in found]
    assert all(wall.time() in wanted for wall in walls)
    assert all(wall.fold == 0 for wall in walls)  # a repeated time only at its first occurrence
    expected = sorted(
        naive
        for day in days[1:4]
        for time_of_day in wanted
        if not _in_gap(naive := datetime.combine(day, time_of_day), zone)
    )
    assert sorted(wall.replace(tzinfo=None) for wall in walls if wall.date() >= days[1]) == (
        expected
    )


def _in_gap(naive: datetime, zone: ZoneInfo) -> bool:
    try:
        local_to_utc(naive, zone)
    except NonexistentTime:
        return True
    return False


# --- assign ------------------------------------------------------------------------------

NOW = local("2026-12-01 12:00")  # a Tuesday
TWICE_DAILY = [{"days": "daily", "times": ["09:00", "18:30"]}]


def want(rel: str, account: str = "main", **extra: Any) -> Want:
    return Want(rel=rel, account=account, order_key=rel.rsplit("/", 1)[-1], **extra)


def job(rel: str, state: State, when: str, account: str = "main") -> Job:
    return Job(draft=rel, account=account, state=state, scheduled_for=local(when))


def times_of(plan_times: Any) -> dict[str, str]:
    return {rel: shown([when], PARIS)[0] for rel, when in plan_times.items()}


@pytest.mark.parametrize(
    ("wants", "jobs", "expected"),
    [
        pytest.param(
            [want("c.yaml"), want("a.yaml"), want("b.yaml")],
            [],
            {
                "a.yaml": "2026-12-01 18:30+01:00",
                "b.yaml": "2026-12-02 09:00+01:00",
                "c.yaml": "2026-12-02 18:30+01:00",
            },
            id="one-draft-per-slot-in-file-name-order",
        ),
        pytest.param(  # queue order is the file name, then the path
            [want("z/post.yaml"), want("a/post.yaml"), want("m/early.yaml")],
            [],
            {
                "m/early.yaml": "2026-12-01 18:30+01:00",
                "a/post.yaml": "2026-12-02 09:00+01:00",
                "z/post.yaml": "2026-12-02 18:30+01:00",
            },
            id="file-name-then-path",
        ),
        pytest.param(
            [
                want("now.yaml", publish_now=True),
                want("at.yaml", publish_at=local("2026-12-01 18:30")),
                want("queue.yaml"),
            ],
            [],
            {
                "now.yaml": "2026-12-01 12:00+01:00",
                "at.yaml": "2026-12-01 18:30+01:00",  # takes that slot
                "queue.yaml": "2026-12-02 09:00+01:00",
            },
            id="publish-now-and-publish-at",
        ),
        pytest.param(  # a past publish_at stays: lateness_policy judges it
            [want("late.yaml", publish_at=local("2026-12-01 11:00"))],
            [],
            {"late.yaml": "2026-12-01 11:00+01:00"},
            id="past-publish-at",
        ),
        pytest.param(  # published posts keep their slot, and get no new one (shoutrrr #143)
            [want("a.yaml"), want("done.yaml"), want("unsure.yaml")],
            [
                job("done.yaml", State.PUBLISHED, "2026-12-01 18:30"),
                job("unsure.yaml", State.UNCONFIRMED, "2026-12-02 09:00"),
            ],
            {"a.yaml": "2026-12-02 18:30+01:00"},
            id="final-jobs-keep-their-slot",
        ),
        pytest.param(  # a published job whose draft is gone still holds its slot
            [want("a.yaml")],
            [job("gone.yaml", State.PUBLISHED, "2026-12-01 18:30")],
            {"a.yaml": "2026-12-02 09:00+01:00"},
            id="final-job-without-draft",
        ),
        pytest.param(  # another account's published job does not take main's slot
            [want("a.yaml")],
            [job("shop.yaml", State.PUBLISHED, "2026-12-01 18:30", account="shop")],
            {"a.yaml": "2026-12-01 18:30+01:00"},
            id="slots-are-per-account",
        ),
        pytest.param(  # a new draft that sorts first does not move the scheduled ones
            [want("b.yaml"), want("c.yaml"), want("a.yaml")],
            [
                job("b.yaml", State.SCHEDULED, "2026-12-01 18:30"),
                job("c.yaml", State.SCHEDULED, "2026-12-02 09:00"),
            ],
            {
                "a.yaml": "2026-12-02 18:30+01:00",
                "b.yaml": "2026-12-01 18:30+01:00",
                "c.yaml": "2026-12-02 09:00+01:00",
            },
            id="stable-new-draft-sorting-first",
        ),
        pytest.param(  # a deleted draft leaves a hole: the next new draft fills it
            [want("a.yaml"), want("c.yaml"), want("d.yaml")],
            [
                job("a.yaml", State.SCHEDULED, "2026-12-01 18:30"),
                job("c.yaml", State.SCHEDULED, "2026-12-02 18:30"),
            ],
            {
                "a.yaml": "2026-12-01 18:30+01:00",
                "c.yaml": "2026-12-02 18:30+01:00",
                "d.yaml": "2026-12-02 09:00+01:00",
            },
            id="stable-hole-filled",
        ),
        pytest.param(  # a slot far ahead (earlier drafts were deleted) is still kept
            [want("far.yaml"), want("valid-far.yaml")],
            [
                job("far.yaml", State.SCHEDULED, "2026-12-10 10:00"),
                job("valid-far.yaml", State.SCHEDULED, "2026-12-10 18:30"),
            ],
            {"far.yaml": "2026-12-01 18:30+01:00", "valid-far.yaml": "2026-12-10 18:30+01:00"},
            id="far-slot-kept",
        ),
        pytest.param(  # 10:00 is no longer a slot (config changed): re-slotted
            [want("a.yaml"), want("b.yaml")],
            [
                job("a.yaml", State.SCHEDULED, "2026-12-02 10:00"),
                job("b.yaml", State.SCHEDULED, "2026-12-01 18:30"),
            ],
            {"a.yaml": "2026-12-02 09:00+01:00", "b.yaml": "2026-12-01 18:30+01:00"},
            id="invalid-slot-moved",
        ),
        pytest.param(  # two jobs on one slot: the first in queue order keeps it
            [want("b.yaml"), want("a.yaml")],
            [
                job("a.yaml", State.SCHEDULED, "2026-12-02 09:00"),
                job("b.yaml", State.SCHEDULED, "2026-12-02 09:00"),
            ],
            {"a.yaml": "2026-12-02 09:00+01:00", "b.yaml": "2026-12-01 18:30+01:00"},
            id="clash-first-in-order-wins",
        ),
        pytest.param(  # a publish_at draft takes a scheduled draft's slot
            [want("a.yaml"), want("pin.yaml", publish_at=local("2026-12-01 18:30"))],
            [job("a.yaml", State.SCHEDULED, "2026-12-01 18:30")],
            {"a.yaml": "2026-12-02 09:00+01:00", "pin.yaml": "2026-12-01 18:30+01:00"},
            id="publish-at-takes-the-slot",
        ),
        pytest.param(  # due jobs keep their past time: the daemon publishes or misses them
            [want("due.yaml"), want("retry.yaml"), want("busy.yaml"), want("x.yaml")],
            [
                job("due.yaml", State.SCHEDULED, "2026-12-01 09:00"),
                job("retry.yaml", State.RETRYING, "2026-11-30 18:30"),
                job("busy.yaml", State.PUBLISHING, "2026-11-30 09:00"),
                job("x.yaml", State.MISSED, "2026-11-29 09:00"),
            ],
            {
                "due.yaml": "2026-12-01 09:00+01:00",
                "retry.yaml": "2026-11-30 18:30+01:00",
                "busy.yaml": "2026-11-30 09:00+01:00",
                "x.yaml": "2026-12-01 18:30+01:00",  # not in flight: a new slot
            },
            id="due-jobs-keep-their-time",
        ),
        pytest.param(  # a blocked draft keeps its future slot
            [want("a.yaml"), want("b.yaml")],
            [job("b.yaml", State.BLOCKED, "2026-12-01 18:30")],
            {"a.yaml": "2026-12-02 09:00+01:00", "b.yaml": "2026-12-01 18:30+01:00"},
            id="blocked-keeps-future-slot",
        ),
        pytest.param(  # "now" already due within misfire_grace keeps its time
            [want("now.yaml", publish_now=True), want("old.yaml", publish_now=True)],
            [
                job("now.yaml", State.SCHEDULED, "2026-12-01 11:30"),
                job("old.yaml", State.SCHEDULED, "2026-12-01 10:00"),
            ],
            {"now.yaml": "2026-12-01 11:30+01:00", "old.yaml": "2026-12-01 12:00+01:00"},
            id="publish-now-stable",
        ),
    ],
)
def test_assign(wants: list[Want], jobs: list[Job], expected: dict[str, str]) -> None:
    plan = assign(wants, jobs, make_config(TWICE_DAILY), NOW)
    assert times_of(plan.times) == expected
    assert plan.problems == {}
    assert all(when.tzinfo is UTC for when in plan.times.values())


def test_assign_kinds_and_accounts() -> None:
    wants = [
        want("now.yaml", publish_now=True),
        want("at.yaml", publish_at=local("2026-12-03 10:00")),
        want("queue.yaml"),
    ]
    plan = assign(wants, [], make_config(TWICE_DAILY), NOW)
    assert plan.kinds == {"now.yaml": "now", "at.yaml": "publish_at", "queue.yaml": "slot"}
    assert set(plan.accounts.values()) == {"main"}


def test_replanning_with_the_own_result_changes_nothing() -> None:
    config = make_config([*TWICE_DAILY, SATURDAY_CRON])
    wants = [want(f"{n:02d}.yaml") for n in range(20)]
    first = assign(wants, [], config, NOW)
    jobs = [
        Job(draft=rel, account="main", state=State.SCHEDULED, scheduled_for=when)
        for rel, when in first.times.items()
    ]
    later = NOW + timedelta(hours=1)
    again = assign([*wants, want("00-new.yaml")], jobs, config, later)
    assert {rel: again.times[rel] for rel in first.times} == dict(first.times)
    assert again.times["00-new.yaml"] > max(first.times.values())
    assert len(set(again.times.values())) == len(again.times)


def test_per_account_slots_override_the_global_ones() -> None:
    config = make_config(
        TWICE_DAILY,
        accounts={
            "main": {"ig_user_id": "1"},
            "shop": {"ig_user_id": "2", "slots": [SATURDAY_CRON]},
        },
    )
    wants = [want("a.yaml"), want("b.yaml", account="shop"), want("c.yaml", account="shop")]
    plan = assign(wants, [], config, NOW)
    assert times_of(plan.times) == {
        "a.yaml": "2026-12-01 18:30+01:00",
        "b.yaml": "2026-12-05 11:00+01:00",
        "c.yaml": "2026-12-12 11:00+01:00",
    }


def test_account_without_slots_is_a_problem_not_a_time() -> None:
    config = make_config([])
    wants = [want("q.yaml"), want("at.yaml", publish_at=local("2026-12-03 10:00"))]
    plan = assign(wants, [], config, NOW)
    assert times_of(plan.times) == {"at.yaml": "2026-12-03 10:00+01:00"}
    assert plan.problems == {
        "q.yaml": "account main has no queue slots; add schedule.slots (or accounts.main.slots) "
        "to config.yaml, or set publish_at in the draft"
    }
    assert plan.accounts["q.yaml"] == "main"


@pytest.mark.parametrize(
    ("slots", "account", "fragment"),
    [
        ([{"days": [], "times": ["09:00"]}], "main", "match no free time within a year"),
        (TWICE_DAILY, "ghost", "account 'ghost' is not in config.yaml; use one of main"),
    ],
)
def test_unschedulable_drafts(slots: list[dict[str, Any]], account: str, fragment: str) -> None:
    plan = assign([want("q.yaml", account=account)], [], make_config(slots), NOW)
    assert plan.times == {}
    assert fragment in plan.problems["q.yaml"]


def test_assign_across_the_paris_spring_forward() -> None:
    config = make_config([{"times": ["02:30"]}])
    wants = [want("a.yaml"), want("b.yaml")]
    plan = assign(wants, [], config, local("2026-03-28 12:00"))
    assert times_of(plan.times) == {
        "a.yaml": "2026-03-30 02:30+02:00",
        "b.yaml": "2026-03-31 02:30+02:00",
    }


def test_assign_refuses_naive_times() -> None:
    config = make_config(TWICE_DAILY)
    with pytest.raises(ValueError, match="aware"):
        assign([want("a.yaml", publish_at=datetime(2026, 12, 3, 10))], [], config, NOW)
    with pytest.raises(ValueError, match="aware"):
        assign([want("a.yaml")], [], config, datetime(2026, 12, 1, 12))


def test_assign_many_drafts_gives_distinct_slots() -> None:
    config = make_config([*TWICE_DAILY, SATURDAY_CRON])
    wants = [want(f"{n:04d}.yaml") for n in range(2000)]
    plan = assign(wants, [], config, NOW)
    ordered = [plan.times[w.rel] for w in wants]
    assert ordered == sorted(set(ordered))


# --- lateness, prepare_at, quota ---------------------------------------------------------

SLOT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delay", "grace", "expected"),
    [
        (timedelta(minutes=-5), timedelta(hours=1), "on_time"),
        (timedelta(0), timedelta(hours=1), "on_time"),
        (timedelta(seconds=1), timedelta(hours=1), "on_time"),
        (timedelta(seconds=1, microseconds=1), timedelta(hours=1), "late"),
        (timedelta(minutes=59), timedelta(hours=1), "late"),
        (timedelta(hours=1), timedelta(hours=1), "late"),
        (timedelta(hours=1, microseconds=1), timedelta(hours=1), "missed"),
        (timedelta(days=2), timedelta(hours=1), "missed"),
        (timedelta(seconds=1), timedelta(0), "on_time"),
        (timedelta(seconds=2), timedelta(0), "missed"),
    ],
)
def test_lateness_policy(delay: timedelta, grace: timedelta, expected: str) -> None:
    assert lateness_policy(SLOT, SLOT + delay, grace) == expected


@pytest.mark.parametrize(
    ("now", "ahead", "expected"),
    [
        (SLOT - timedelta(hours=1), timedelta(minutes=10), SLOT - timedelta(minutes=10)),
        (SLOT - timedelta(minutes=3), timedelta(minutes=10), SLOT - timedelta(minutes=3)),
        (SLOT + timedelta(minutes=3), timedelta(minutes=10), SLOT + timedelta(minutes=3)),
        (SLOT - timedelta(hours=1), timedelta(0), SLOT),
    ],
)
def test_prepare_at(now: datetime, ahead: timedelta, expected: datetime) -> None:
    assert prepare_at(SLOT, ahead, now) == expected


def posts(account: str, *hours: float) -> dict[str, tuple[str, datetime]]:
    return {f"{account}-{n}": (account, SLOT + timedelta(hours=h)) for n, h in enumerate(hours)}


@pytest.mark.parametrize(
    ("times", "quota", "expected"),
    [
        pytest.param(
            posts("main", 0, 1, 23),
            2,
            [
                "account main: up to 3 posts within 24 h from 2026-12-01 09:00 CET (+01:00) to "
                "2026-12-02 08:00 CET (+01:00), more than its publishing quota of 2; the extra "
                "posts will wait for the quota. Spread them out with more slots or other "
                "publish_at times"
            ],
            id="three-in-a-day",
        ),
        pytest.param(posts("main", 0, 25, 50), 2, [], id="spaced-25h"),
        pytest.param(posts("main", 0, 24, 48, 72), 1, [], id="exactly-24h-apart"),
        pytest.param(posts("main", 0, 1), 2, [], id="at-the-quota"),
        pytest.param({**posts("main", 0, 1), **posts("shop", 0, 1)}, 2, [], id="accounts-apart"),
    ],
)
def test_quota_warnings(
    times: dict[str, tuple[str, datetime]], quota: int, expected: list[str]
) -> None:
    assert quota_warnings(times, quota, tz=PARIS) == expected


@pytest.mark.parametrize(
    ("hours", "quota", "peaks"),
    [
        ((0, 1, 2, 3), 2, ["4 posts"]),  # overlapping windows: one warning with the peak
        ((0, 1, 2, 25, 25.5), 2, ["3 posts"]),  # windows chained through overlap: one
        ((0, 1, 2, 48, 49, 50), 2, ["3 posts", "3 posts"]),  # two crowded days apart
        ((0, 0, 0), 2, ["3 posts"]),
    ],
)
def test_quota_warnings_one_per_crowded_stretch(
    hours: tuple[float, ...], quota: int, peaks: list[str]
) -> None:
    warnings = quota_warnings(posts("main", *hours), quota)
    assert [w.split(" within")[0].removeprefix("account main: up to ") for w in warnings] == peaks


def test_quota_per_account() -> None:
    times = {**posts("main", 0, 1, 2), **posts("shop", 0, 1, 2)}
    warnings = quota_warnings(times, {"main": 2})  # shop: the default 100
    assert len(warnings) == 1
    assert warnings[0].startswith("account main:")


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Paris", "2026-12-01 09:00 CET (+01:00)"),
        ("America/New_York", "2026-12-01 03:00 EST (-05:00)"),
        ("UTC", "2026-12-01 08:00 UTC (+00:00)"),
        ("Asia/Kolkata", "2026-12-01 13:30 IST (+05:30)"),
        ("America/St_Johns", "2026-12-01 04:30 NST (-03:30)"),
    ],
)
def test_format_local(zone: str, expected: str) -> None:
    assert format_local(SLOT, ZoneInfo(zone)) == expected
