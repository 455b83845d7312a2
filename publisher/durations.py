"""Durations as users write them: `30s`, `5m`, `2h`, `1d`, and sums like `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^\s*(?:\d+\s*(?:ms|s|m|h|d|w)\s*)+$")
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def parse(text: str) -> timedelta:
    """Given `30s`, `5m`, `2h`, `1d` or a sum like `1h30m`, return the timedelta.

    Raise ValueError with the allowed forms otherwise.
    """
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: 30s, 5m, 2h, 1d (or 1h30m)"
        )
    total = timedelta()
    for number, unit in _PART.findall(text):
        total += int(number) * _UNITS[unit]
    return total


def format(delta: timedelta) -> str:
    """Given a timedelta, return the shortest `1h30m`-style text (seconds resolution)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + "".join(out)
