"""How a publish reports its steps as it goes: `publisher publish` prints each line; the
daemon passes `noop` (its log already says what happened)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def noop(_line: str) -> None:
    """The default progress callback: say nothing."""
