"""How close the app and the account are to Meta's call limits, read from the usage headers
Meta sends with its answers, and how far apart the account's calls go because of it.

The headers (Graph API Rate Limiting, instagram-api.md §7.4,
https://developers.facebook.com/docs/graph-api/overview/rate-limiting/):

    X-App-Usage                 {"call_count": 28, "total_time": 25, "total_cputime": 25}
                                whole-number percentages of the app's hourly budget
    X-Business-Use-Case-Usage   {"<id>": [{"type": "instagram", "call_count": 95,
                                "total_cputime": 20, "total_time": 20,
                                "estimated_time_to_regain_access": 0}]}
                                percentages of the Instagram (BUC) budget; the wait in MINUTES
    X-Ad-Account-Usage          {"acc_id_util_pct": 9.67, "reset_time_duration": 0}
                                a percentage; the reset in SECONDS

Meta: "throttling can start at 100", and calls made while throttled extend the block. So
below PACE_FROM the account's calls go as they come; from there to 100 % they are spaced out
(`spacing`), up to a minute apart; at 100 % or after a rate-limit answer they stop until Meta
says access is back (`Pacer`). Mixpost calls 90 % "about to be exceeded" [CODE: MIXPOST];
publisher starts slowing down earlier, gently.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

HEADERS = ("x-app-usage", "x-business-use-case-usage", "x-ad-account-usage")
# Usage (%) from which calls are spaced out, and the usage at which Meta may throttle.
PACE_FROM = 80.0
LIMITED_AT = 100.0
# The longest gap put between two calls of an account while usage is high (seconds).
MAX_SPACING = 60.0


def parsed(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Given an answer's headers, return the usage headers present, each parsed from its
    JSON (an unparsable one is left out), keyed by lower-case name; None when there is none.
    This is what a job's API call record keeps."""
    lowered = {key.lower(): value for key, value in headers.items()}
    found: dict[str, Any] = {}
    for name in HEADERS:
        raw = lowered.get(name)
        if not raw:
            continue
        try:
            found[name] = json.loads(raw)
        except ValueError:
            log.debug("unparsable %s header ignored", name)
    return found or None


def _numbers(value: Any, keys: tuple[str, ...]) -> Iterator[float]:
    if not isinstance(value, Mapping):
        return
    for key in keys:
        number = value.get(key)
        if (
            isinstance(number, int | float)
            and not isinstance(number, bool)
            and math.isfinite(number)
        ):
            yield float(number)


_PERCENT_KEYS = ("call_count", "total_time", "total_cputime")


def percent(headers: Mapping[str, str]) -> float | None:
    """Given an answer's headers, return the highest usage figure in them (a percentage of
    a budget, 100 = at the limit), or None when they carry none."""
    usage = parsed(headers) or {}
    figures = list(_numbers(usage.get("x-app-usage"), _PERCENT_KEYS))
    figures += _numbers(usage.get("x-ad-account-usage"), ("acc_id_util_pct",))
    buc = usage.get("x-business-use-case-usage")
    for entries in buc.values() if isinstance(buc, Mapping) else ():
        for entry in entries if isinstance(entries, list) else ():
            figures += _numbers(entry, _PERCENT_KEYS)
    return max(figures) if figures else None


def regain_seconds(headers: Mapping[str, str]) -> float | None:
    """Given an answer's headers, return how long Meta says access stays blocked: the
    longest `estimated_time_to_regain_access` (minutes) of X-Business-Use-Case-Usage or
    `reset_time_duration` (seconds) of X-Ad-Account-Usage; None when neither says more
    than zero."""
    usage = parsed(headers) or {}
    seconds = [60 * minutes for minutes in _regain_minutes(usage.get("x-business-use-case-usage"))]
    seconds += _numbers(usage.get("x-ad-account-usage"), ("reset_time_duration",))
    longest = max(seconds, default=0.0)
    return longest if longest > 0 else None


def _regain_minutes(buc: Any) -> Iterator[float]:
    for entries in buc.values() if isinstance(buc, Mapping) else ():
        for entry in entries if isinstance(entries, list) else ():
            yield from _numbers(entry, ("estimated_time_to_regain_access",))


def spacing(usage: float | None) -> float:
    """Given the latest usage figure (percent; None: unknown), return the seconds to leave
    between two calls of the account: none below PACE_FROM, then growing with the square of
    the way to the limit (85 % ~4 s, 90 % 15 s, 95 % ~34 s), MAX_SPACING at the limit."""
    if usage is None or usage < PACE_FROM:
        return 0.0
    share = min((usage - PACE_FROM) / (LIMITED_AT - PACE_FROM), 1.0)
    return MAX_SPACING * share * share


class Pacer:
    """One account's call pacing, shared by every client of that account in a process
    (the Runtime keeps one per account). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage: float | None = None
        self._last_call: datetime | None = None
        self._blocked_until: datetime | None = None

    @property
    def usage(self) -> float | None:
        """The latest usage figure seen (percent), None before any."""
        with self._lock:
            return self._usage

    def reserve(self, now: datetime, longest: float) -> float:
        """Return the seconds to wait from `now` before the next call may go, and book that
        call for then unless the wait exceeds `longest` (then the caller does not call)."""
        with self._lock:
            ready = now
            if self._blocked_until is not None and self._blocked_until > ready:
                ready = self._blocked_until
            gap = spacing(self._usage)
            if gap and self._last_call is not None:
                ready = max(ready, self._last_call + timedelta(seconds=gap))
            wait = (ready - now).total_seconds()
            if wait <= longest:
                self._last_call = ready
            return wait

    def answered(self, headers: Mapping[str, str]) -> None:
        """Take the usage figures of an answer (success or error) into account."""
        figure = percent(headers)
        if figure is None:
            return
        with self._lock:
            before, self._usage = self._usage, figure
        if (before or 0.0) < PACE_FROM <= figure:
            log.info(
                "Meta reports %.0f%% of a call budget used: this account's calls are spaced "
                "out (up to %g s apart) until it goes down",
                figure,
                MAX_SPACING,
            )
        elif figure < PACE_FROM <= (before or 0.0):
            log.info("Meta reports %.0f%% of the call budget used: calls go as they come", figure)

    def hold(self, until: datetime) -> None:
        """Meta refused a call as throttled: no call of this account before `until`."""
        with self._lock:
            if self._blocked_until is None or until > self._blocked_until:
                self._blocked_until = until
