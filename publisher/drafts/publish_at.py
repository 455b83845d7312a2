"""`publish_at` as written in a draft, made an aware UTC time (SPEC §4).

Naive times are in the config's zone. A local time that happens twice (the clocks go back)
takes the first occurrence, with a warning; one that never happens (the clocks jump
forward) is an error that names the times that do exist.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

YEARS = (2000, 2100)  # publish_at outside these is a typo
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_publish_at(value: object, zone: tzinfo) -> tuple[datetime | None, bool, str | None]:
    """Given `publish_at` as written and the config's zone, return (aware UTC time or None,
    publish_now, warning or None). Naive times are in `zone`; an ambiguous one (clocks go
    back) takes the first occurrence, with a warning. Raise ValueError with the fix for
    anything else, including a local time skipped by a daylight-saving change."""
    if value is None:
        return None, False, None
    if isinstance(value, str) and value.strip().lower() == "now":
        return None, True, None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        text = value.strip()
        if _DATE_ONLY.match(text):
            try:
                date.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"{text!r} is not a date; write it like 2026-12-01 09:00 (year-month-day)"
                ) from None
            raise ValueError(f"{text!r} has no time of day; write it like {text} 09:00")
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date and time; write it like 2026-12-01 09:00 "
                "(in the config's timezone), 2026-12-01T09:00+01:00, or now"
            ) from None
    else:
        raise ValueError(
            f"{value!r} is not a date and time; write it like 2026-12-01 09:00, or now"
        )
    if not YEARS[0] <= when.year <= YEARS[1]:
        # Far years overflow datetime arithmetic (UTC conversion, slot maths) downstream.
        raise ValueError(
            f"{value!s} is not a plausible time; give a year from {YEARS[0]} to {YEARS[1]}"
        )
    if when.tzinfo is not None and when.utcoffset() is not None:
        return when.astimezone(UTC), False, None
    return _localize(when.replace(tzinfo=None), zone)


def _localize(naive: datetime, zone: tzinfo) -> tuple[datetime, bool, str | None]:
    first = naive.replace(tzinfo=zone, fold=0)
    if not _exists(naive, zone):
        start = end = naive.replace(second=0, microsecond=0)
        for _ in range(24 * 60):  # gaps last minutes to an hour or two; never loop forever
            if _exists(start - timedelta(minutes=1), zone):
                break
            start -= timedelta(minutes=1)
        for _ in range(24 * 60):
            if _exists(end, zone):
                break
            end += timedelta(minutes=1)
        raise ValueError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone}: the clocks jump from "
            f"{start:%H:%M} to {end:%H:%M} that night (daylight saving time); "
            f"write {end:%Y-%m-%d %H:%M} or a time before {start:%H:%M}"
        )
    second = naive.replace(tzinfo=zone, fold=1)
    warning = None
    if first.utcoffset() != second.utcoffset():
        warning = (
            f"{naive:%Y-%m-%d %H:%M} happens twice in {zone} (the clocks go back that night); "
            f"the first one is used, {first.isoformat(timespec='minutes')}; write "
            f"{second.isoformat(timespec='minutes')} for the second"
        )
    return first.astimezone(UTC), False, warning


def _exists(naive: datetime, zone: tzinfo) -> bool:
    """False for a wall time skipped by a clock change (it does not survive a round trip)."""
    there = naive.replace(tzinfo=zone)
    return there.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive
