"""Waiting for something another thread or process does: poll a condition with a deadline,
never a bare sleep. (Imports nothing of publisher: the SPEC-surface tests use it too.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], *, timeout: float = 15.0, every: float = 0.02, what: str = ""
) -> T:
    """Call `condition` every `every` seconds until it returns something true, and return
    that; fail the test (AssertionError) once `timeout` seconds have passed without."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}")
        time.sleep(every)
