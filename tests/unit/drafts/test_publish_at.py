"""drafts.publish_at: `publish_at` as written, to an aware UTC time, across clock changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from publisher import drafts

PARIS = ZoneInfo("Europe/Paris")


PUBLISH_AT = [
    # (value, UTC result, publish_now, part of the warning)
    (None, None, False, None),
    ("now", None, True, None),
    ("NOW", None, True, None),
    ("2026-12-01 09:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC), False, None),
    ("2026-12-01T09:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC), False, None),
    ("2026-07-01 09:00", datetime(2026, 7, 1, 7, 0, tzinfo=UTC), False, None),
    ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC), False, None),
    ("2026-12-01T09:00-05:00", datetime(2026, 12, 1, 14, 0, tzinfo=UTC), False, None),
    # clocks go back on 2026-10-25 at 03:00 CEST -> 02:00 CET: 02:30 happens twice
    ("2026-10-25 02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), False, "+02:00"),
    ("2026-10-25 03:00", datetime(2026, 10, 25, 2, 0, tzinfo=UTC), False, None),
    ("2026-10-25T02:30+01:00", datetime(2026, 10, 25, 1, 30, tzinfo=UTC), False, None),
    (datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 11, tzinfo=UTC), False, None),
]


@pytest.mark.parametrize(("value", "expected", "now", "warning"), PUBLISH_AT)
def test_parse_publish_at(
    value: object, expected: datetime | None, now: bool, warning: str | None
) -> None:
    when, publish_now, note = drafts.parse_publish_at(value, PARIS)
    assert (when, publish_now) == (expected, now)
    if when is not None:
        assert when.tzinfo is UTC
    if warning is None:
        assert note is None
    else:
        assert note is not None and warning in note and "2026-10-25T02:30+01:00" in note


@pytest.mark.parametrize(
    ("value", "part"),
    [
        ("2026-03-29 02:30", "from 02:00 to 03:00"),
        ("2026-03-29 02:00", "write 2026-03-29 03:00 or a time before 02:00"),
        ("2026-03-29 02:59:30", "does not exist in Europe/Paris"),
        ("2026-12-01", "has no time of day"),
        ("2026-13-45", "is not a date; write it like 2026-12-01 09:00"),
        ("2026-02-30 09:00", "is not a date and time"),
        ("01/12/2026 09:00", "is not a date and time"),
        ("", "is not a date and time"),
        (1700000000, "is not a date and time"),
        (True, "is not a date and time"),
        ("9999-12-31T23:59-05:00", "give a year from 2000 to 2100"),
        ("0001-01-01 00:00", "give a year from 2000 to 2100"),
        ("2101-01-01T00:00+01:00", "not a plausible time"),
        (["now"], "is not a date and time"),
    ],
)
def test_parse_publish_at_errors(value: object, part: str) -> None:
    with pytest.raises(ValueError) as caught:
        drafts.parse_publish_at(value, PARIS)
    assert part in str(caught.value)


def test_dst_gap_in_another_zone() -> None:
    # US clocks jump 02:00 -> 03:00 on 2026-03-08
    with pytest.raises(ValueError, match="from 02:00 to 03:00"):
        drafts.parse_publish_at("2026-03-08 02:15", ZoneInfo("America/New_York"))
