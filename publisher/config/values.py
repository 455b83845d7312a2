"""How a single value in config.yaml is written, and its check: durations (`30s`, `2h`),
days (`mon-fri`), times of day (`09:00`), http(s) URLs and `host:port` addresses. Each
parser raises ValueError with a sentence that says the form; `schema` uses them in its
models, the rest of publisher through the parsed models.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from publisher import durations

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool | int | float):
        raise ValueError(f"{value!r} has no unit; write it like 30s, 5m, 2h or 1d")
    return durations.parse(value)


DURATION_PATTERN = r"^\s*(\d+\s*(ms|s|m|h|d|w)\s*)+$"
Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "1h30m"]}),
]


def parse_days(spec: str | list[str]) -> frozenset[int]:
    """'mon-fri', 'mon,wed,fri', 'sat-sun', 'daily', 'weekdays', 'weekends' or a list of
    those -> weekday numbers (Monday = 0). Raise ValueError naming what is allowed."""
    parts = spec if isinstance(spec, list) else str(spec).split(",")
    days: set[int] = set()
    for raw in parts:
        part = str(raw).strip().lower()
        if part in {"daily", "everyday", "*"}:
            days.update(range(7))
        elif part == "weekdays":
            days.update(range(5))
        elif part == "weekends":
            days.update((5, 6))
        elif "-" in part:
            start, _, end = part.partition("-")
            first, last = _day(start.strip()), _day(end.strip())
            day = first
            while True:  # ranges may wrap: fri-mon
                days.add(day)
                if day == last:
                    break
                day = (day + 1) % 7
        else:
            days.add(_day(part))
    return frozenset(days)


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(name: str) -> int:
    key = name[:3]
    if key not in DAY_NAMES or not _FULL_DAYS[DAY_NAMES.index(key)].startswith(name):
        raise ValueError(
            f"{name!r} is not a day; use mon..sun, ranges (mon-fri), lists (mon,wed,fri) or daily"
        )
    return DAY_NAMES.index(key)


_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_time(text: str) -> time:
    """'09:00' -> time(9, 0). Raise ValueError saying the form otherwise."""
    match = _TIME.match(str(text).strip())
    if not match:
        raise ValueError(f'{text!r} is not a time of day; write HH:MM in 24 h, like "09:00"')
    return time(int(match.group(1)), int(match.group(2)))


def _time_text(value: Any) -> Any:
    parse_time(value)
    return value


TimeOfDay = Annotated[str, AfterValidator(_time_text)]


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]  # without its final slash


def host_port(value: str, example: str) -> str:
    """Return `value` if it is host:port, else raise ValueError naming the form."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not host:port, like {example}")
    return value


def address(listen: str) -> tuple[str, int]:
    """'127.0.0.1:8765' -> ('127.0.0.1', 8765); '[::1]:80' -> ('::1', 80)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)
