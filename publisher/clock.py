"""The clock as a parameter. Only the composition root (cli) uses `system_clock`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]  # returns an aware datetime in UTC
Sleep = Callable[[float], None]


def system_clock() -> datetime:
    return datetime.now(UTC)


def system_sleep(seconds: float) -> None:
    time.sleep(seconds)
