"""When each draft goes out: slots, the next free slot, DST-safe local times. Pure functions.

Nothing here reads the clock or a file: `now` is a parameter. Every datetime returned is aware
UTC; wall times are read in the config zone (`Config.tz`).

Daylight saving time (SPEC §3, LESSONS "Time", RELIABILITY.md §1.4):
- A wall time in a DST gap (02:30 on a spring-forward day) does not exist. A draft's naive
  `publish_at` there is an error (`NonexistentTime`, with the fix in the sentence); a queue
  slot there is **skipped for that day**: the queue has one slot fewer, and every slot the
  queue yields is at a wall time the user configured.
- A wall time that happens twice (01:30 on a fall-back day in New York) is taken at its
  **first** occurrence (fold=0), for `publish_at` and for slots alike: a slot happens once.
- Cron slots: APScheduler parses the expression, but it is evaluated on wall-clock time (a
  trigger in UTC fed naive local times) and each match is converted here. A CronTrigger in
  the zone itself (3.11.3) yields the fold hour's times backwards and over again
  (`*/30 1 * * *`, New York, 2026-11-01: 05:00Z, 05:30Z, 06:00Z, 05:30Z, 06:00Z ...) and
  returns non-existent gap times (2026-03-29 02:30+01:00 in Paris).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from apscheduler.triggers.cron import CronTrigger

from publisher.config import Config, Slot
from publisher.job import FINAL, QUEUED, Job

# A queue slot rarer than this (a cron for 29 February) ends the search: slot_times never
# scans forever for a slot that matches nothing (`days: []`, `0 9 30 2 *`).
MAX_GAP = timedelta(days=366)
# "On time" allows for the scheduler waking a little after the instant.
ON_TIME_TOLERANCE = timedelta(seconds=1)
# Instagram's publishing quota (content_publishing_limit) when the live value is unknown.
DEFAULT_QUOTA = 100
QUOTA_WINDOW = timedelta(hours=24)
_TICK = timedelta(microseconds=1)


class NonexistentTime(ValueError):
    """A wall time that falls in a DST gap: the clocks skip it in that zone."""


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


def _wall(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M" + (":%S" if value.second else ""))


def _exists(naive: datetime, tz: tzinfo) -> bool:
    first = naive.replace(tzinfo=tz, fold=0)
    return first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive.replace(fold=0)


def is_ambiguous(naive: datetime, tz: tzinfo) -> bool:
    """Given a naive wall time, return True if it happens twice in `tz` (a fall-back hour)."""
    naive = naive.replace(tzinfo=None)
    first = naive.replace(tzinfo=tz, fold=0).utcoffset()
    second = naive.replace(tzinfo=tz, fold=1).utcoffset()
    return first != second and _exists(naive, tz)


def _gap(naive: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The wall times at which the DST gap holding `naive` starts and ends."""
    before = naive.replace(tzinfo=tz, fold=0).utcoffset() or timedelta()
    after = naive.replace(tzinfo=tz, fold=1).utcoffset() or timedelta()
    # The transition instant lies between these two readings of `naive`: bisect to the second.
    low = (naive - after).replace(tzinfo=UTC)
    high = (naive - before).replace(tzinfo=UTC)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    switch = high.replace(tzinfo=None, microsecond=0)
    return switch + before, switch + after


def local_to_utc(naive: datetime, tz: tzinfo) -> datetime:
    """Given a wall time in `tz`, return the aware UTC instant.

    A time that happens twice (fall-back) is taken at its first occurrence; the input's
    `fold` is ignored. An aware input is converted as it is. Raise NonexistentTime, a sentence
    with the fix, if the wall time falls in a DST gap.
    """
    if naive.tzinfo is not None:
        _require_aware(naive, "the time")
        return naive.astimezone(UTC)
    if not _exists(naive, tz):
        start, end = _gap(naive, tz)
        same_day = end.date() == naive.date() and start.date() == naive.date()
        shown = (lambda value: value.strftime("%H:%M")) if same_day else _wall
        raise NonexistentTime(
            f"{_wall(naive)} does not exist in {tz}: clocks jump from {shown(start)} to "
            f"{shown(end)}; use {shown(end)} or later"
        )
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _day_slot_times(slot: Slot, tz: tzinfo, after: datetime) -> Iterator[datetime]:
    weekdays, times = slot.weekdays, slot.times_of_day
    day = after.astimezone(tz).date()
    last_found = after
    while day <= (last_found.astimezone(tz) + MAX_GAP).date():
        if day.weekday() in weekdays:
            for time_of_day in times:
                naive = datetime.combine(day, time_of_day)
                if not _exists(naive, tz):
                    continue  # a DST gap: this slot is skipped today (module docstring)
                instant = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
                if instant > after:
                    last_found = instant
                    yield instant
        day += timedelta(days=1)


def _cron_slot_times(expression: str, tz: tzinfo, after: datetime) -> Iterator[datetime]:
    # Wall-clock matching: a UTC trigger sees naive local times (module docstring).
    trigger = CronTrigger.from_crontab(expression, timezone=UTC)
    wall = after.astimezone(tz).replace(tzinfo=UTC, fold=0)
    previous: datetime | None = None
    while True:
        match = trigger.get_next_fire_time(previous, wall)
        if match is None or match > wall + MAX_GAP:
            return
        previous, wall = match, match + _TICK
        naive = match.replace(tzinfo=None)
        if not _exists(naive, tz):
            continue
        instant = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
        if instant > after:
            yield instant


def slot_times(
    slots: Sequence[Slot], tz: tzinfo, after: datetime, *, limit: int
) -> Iterator[datetime]:
    """Given queue slots, yield their instants (aware UTC) strictly after `after`, in order.

    Slots are merged and de-duplicated; days+times and cron slots are wall times in `tz`
    (gap times skipped, repeated times once, at the first occurrence). Stop after `limit`
    instants, or when no slot matches within MAX_GAP of the previous one. Raise ValueError if
    `after` is naive.
    """
    _require_aware(after, "after")
    streams = [
        _cron_slot_times(slot.cron, tz, after)
        if slot.cron is not None
        else _day_slot_times(slot, tz, after)
        for slot in slots
    ]
    last: datetime | None = None
    count = 0
    for instant in heapq.merge(*streams):
        if count >= limit:
            return
        if last is None or instant > last:  # equal instants from two slots: one slot
            last = instant
            count += 1
            yield instant


def is_slot(instant: datetime, slots: Sequence[Slot], tz: tzinfo) -> bool:
    """Given an aware instant, return True if one of `slots` falls exactly on it."""
    return next(slot_times(slots, tz, instant - _TICK, limit=1), None) == instant


@dataclass(frozen=True)
class Want:
    """A valid draft that should go out. `publish_at` is aware; `order_key` is its file name."""

    rel: str
    account: str
    publish_at: datetime | None = None
    publish_now: bool = False
    order_key: str = ""


Kind = Literal["now", "publish_at", "slot"]
SlotTest = Callable[[datetime], bool]


@dataclass(frozen=True)
class Plan:
    """When each draft goes out (`times`, aware UTC) and why not (`problems`, sentences).

    `accounts` and `kinds` ("now", "publish_at", "slot") cover every draft in `times`;
    `accounts` covers those in `problems` too.
    """

    times: Mapping[str, datetime] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)
    accounts: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, Kind] = field(default_factory=dict)


def assign(wants: Sequence[Want], jobs: Sequence[Job], config: Config, now: datetime) -> Plan:
    """Given the drafts that should go out and the known jobs, return when each goes out.

    - `publish_now` -> now (a job already due for it within misfire_grace keeps its time);
      `publish_at` -> that instant, past or not (lateness_policy judges it).
    - Otherwise the draft takes a slot of its account's queue, one draft per slot. A slot is
      taken by a published/unconfirmed job (it keeps its slot for good) and by a `publish_at`
      draft at that exact instant.
    - Stability: a queue draft whose job holds a future slot that is still in the queue and
      not taken keeps it (between two drafts holding the same slot, the first in queue order
      wins). A due job (scheduled, retrying, publishing) keeps its past time too. New drafts
      then take the free slots strictly after `now` in queue order (file name, then path),
      holes first: a new draft never moves a scheduled one.
    - A draft whose job is published or unconfirmed gets no time at all.
    A queue draft whose account has no slots, or is not configured, is in `problems`.
    Raise ValueError if `now` or a `publish_at` is naive.
    """
    _require_aware(now, "now")
    now = now.astimezone(UTC)
    job_of = {job.draft: job for job in jobs}
    times: dict[str, datetime] = {}
    problems: dict[str, str] = {}
    kinds: dict[str, Kind] = {}
    accounts = {want.rel: want.account for want in wants}
    taken: defaultdict[str, set[datetime]] = defaultdict(set)
    for job in jobs:
        if job.state in FINAL and job.scheduled_for is not None and job.account:
            taken[job.account].add(job.scheduled_for.astimezone(UTC))

    queue: list[Want] = []
    for want in wants:
        known = job_of.get(want.rel)
        if known is not None and known.state in FINAL:
            continue
        if want.publish_now:
            times[want.rel], kinds[want.rel] = _now_time(known, config, now), "now"
        elif want.publish_at is not None:
            _require_aware(want.publish_at, f"publish_at of {want.rel}")
            times[want.rel] = want.publish_at.astimezone(UTC)
            kinds[want.rel] = "publish_at"
            taken[want.account].add(times[want.rel])
        elif want.account not in config.accounts:
            problems[want.rel] = (
                f"account {want.account!r} is not in {config.config_path.name}; "
                f"use one of {', '.join(sorted(config.accounts))}"
            )
        elif not config.account_slots(want.account):
            problems[want.rel] = (
                f"account {want.account} has no queue slots; add schedule.slots (or "
                f"accounts.{want.account}.slots) to {config.config_path.name}, "
                "or set publish_at in the draft"
            )
        else:
            queue.append(want)

    queue.sort(key=lambda want: (want.order_key, want.rel))
    per_account = Counter(want.account for want in queue)
    is_valid = {
        account: _slot_test(config, account, now, count + len(taken[account]))
        for account, count in per_account.items()
    }
    fresh: defaultdict[str, list[Want]] = defaultdict(list)
    for want in queue:  # first the drafts that keep their slot, in queue order
        held = _held_slot(job_of.get(want.rel), now, taken[want.account], is_valid[want.account])
        if held is None:
            fresh[want.account].append(want)
        else:
            times[want.rel], kinds[want.rel] = held, "slot"
            taken[want.account].add(held)
    for account, waiting in fresh.items():  # then the new ones, into the free slots
        claimed = taken[account]
        limit = len(waiting) + sum(1 for instant in claimed if instant > now)
        slots = config.account_slots(account)
        free = (t for t in slot_times(slots, config.tz, now, limit=limit) if t not in claimed)
        for want in waiting:
            instant = next(free, None)
            if instant is not None:
                times[want.rel], kinds[want.rel] = instant, "slot"
            else:
                problems[want.rel] = (
                    f"account {account}'s queue slots match no free time within a year; "
                    f"check schedule.slots in {config.config_path.name}, or set publish_at"
                )
    return Plan(times=times, problems=problems, accounts=accounts, kinds=kinds)


def _now_time(job: Job | None, config: Config, now: datetime) -> datetime:
    # Re-planning a "now" draft that is already due must not push its time forward each pass.
    if job is not None and job.state in QUEUED and job.scheduled_for is not None:
        held = job.scheduled_for.astimezone(UTC)
        if now - config.schedule.misfire_grace <= held <= now:
            return held
    return now


def _slot_test(config: Config, account: str, now: datetime, count: int) -> SlotTest:
    """Is this instant one of `account`'s slots? A set lookup for the next `count` slots
    (where scheduled drafts normally are), `is_slot` beyond them."""
    slots, tz = config.account_slots(account), config.tz
    near = list(slot_times(slots, tz, now, limit=count))
    known = frozenset(near)

    def test(instant: datetime) -> bool:
        if near and instant <= near[-1]:
            return instant in known
        return is_slot(instant, slots, tz)

    return test


def _held_slot(
    job: Job | None, now: datetime, taken: set[datetime], is_valid: SlotTest
) -> datetime | None:
    if job is None or job.scheduled_for is None:
        return None
    held = job.scheduled_for.astimezone(UTC)
    if held in taken:
        return None
    if held <= now:
        return held if job.state in QUEUED else None
    return held if is_valid(held) else None


Lateness = Literal["on_time", "late", "missed"]


def lateness_policy(scheduled_for: datetime, now: datetime, grace: timedelta) -> Lateness:
    """Given a due time, return how the daemon treats it at `now` (misfire_grace = `grace`).

    "on_time" up to ON_TIME_TOLERANCE (1 s) after `scheduled_for` (and any time before it);
    "late" after that up to `scheduled_for + grace` inclusive: publish, saying how late;
    "missed" beyond: do not publish.
    """
    _require_aware(scheduled_for, "scheduled_for")
    _require_aware(now, "now")
    if now <= scheduled_for + ON_TIME_TOLERANCE:
        return "on_time"
    if now <= scheduled_for + grace:
        return "late"
    return "missed"


def prepare_at(scheduled_for: datetime, prepare_ahead: timedelta, now: datetime) -> datetime:
    """Given a publish time, return when to start preparing its containers: `prepare_ahead`
    before it, or `now` if that is already past."""
    return max(now, scheduled_for - prepare_ahead)


def quota_warnings(
    times: Mapping[str, tuple[str, datetime]],
    quota_total: int | Mapping[str, int] = DEFAULT_QUOTA,
    *,
    tz: tzinfo = UTC,
) -> list[str]:
    """Given rel -> (account, when), return one warning per stretch of time in which some
    24 h window [t, t + 24 h) holds more than the account's quota (an int for every account,
    or a mapping with DEFAULT_QUOTA for the others). Times are shown in `tz`. O(n log n).
    """
    by_account: defaultdict[str, list[datetime]] = defaultdict(list)
    for account, when in times.values():
        by_account[account].append(when)
    warnings = []
    for account in sorted(by_account):
        quota = (
            quota_total if isinstance(quota_total, int) else quota_total.get(account, DEFAULT_QUOTA)
        )
        instants = sorted(by_account[account])
        for first, last, peak in _crowded(instants, quota):
            warnings.append(
                f"account {account}: up to {peak} posts within 24 h from "
                f"{format_local(first, tz)} to {format_local(last, tz)}, more than its "
                f"publishing quota of {quota}; the extra posts will wait for the quota. "
                "Spread them out with more slots or other publish_at times"
            )
    return warnings


def _crowded(instants: list[datetime], quota: int) -> Iterator[tuple[datetime, datetime, int]]:
    """Sorted instants -> (first, last, peak count) for each run of overlapping 24 h windows
    holding more than `quota` posts. Two pointers: O(n)."""
    end = 0
    run: tuple[datetime, datetime, int] | None = None
    for start, instant in enumerate(instants):
        end = max(end, start)
        while end + 1 < len(instants) and instants[end + 1] < instant + QUOTA_WINDOW:
            end += 1
        count = end - start + 1
        if count <= quota:
            continue
        if run is not None and instant <= run[1]:
            run = (run[0], max(run[1], instants[end]), max(run[2], count))
        else:
            if run is not None:
                yield run
            run = (instant, instants[end], count)
    if run is not None:
        yield run


def format_local(instant: datetime, tz: tzinfo) -> str:
    """Given an aware instant, return it as a wall time with its zone:
    "2026-12-01 09:00 CET (+01:00)"."""
    local = instant.astimezone(tz)
    offset = local.utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{_wall(local)} {local.tzname()} ({sign}{minutes // 60:02d}:{minutes % 60:02d})"
