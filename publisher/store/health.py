"""When jobs.json cannot be written: back off, say it once a minute, notice when it mends.

A full disk, a read-only file system or an I/O error makes every write of jobs.json fail.
Trying again at every change (a due publish, a saved draft, a worker's record) was a hot loop:
hundreds of failed writes and tracebacks a second. `WriteGate` stands before every write of
jobs.json. After a failure it refuses writes at once (StoreUnwritable, nothing touched on
disk) until a backoff has passed (1 s, doubling up to MAX_BACKOFF); the next write after that
is a real attempt. The failure is logged here, one line a minute at most, with how many
writes were refused; the callers need not log it again. The first write that succeeds ends
the failure and says so. Before giving up on a failed write the gate asks `mend` (the store
recreates a deleted state_dir and takes its lock again) and, if it mended something, tries
once more. The gate runs under the store's lock; its clock is the store's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from publisher.clock import Clock
from publisher.errors import StoreError, StoreUnwritable

log = logging.getLogger(__name__)

FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(seconds=30)
LOG_EVERY = timedelta(minutes=1)


@dataclass
class _Failure:
    since: datetime
    reason: str  # the storage's sentence, without "the change was not recorded"
    backoff: timedelta
    next_try: datetime
    logged_at: datetime | None = None
    refused: int = 0  # writes failed or refused since the failure began


class WriteGate:
    """Owns whether jobs.json is failing, and when to try writing it again."""

    def __init__(self, path: Path, clock: Clock, mend: Callable[[], bool] | None = None) -> None:
        self._path = path
        self._clock = clock
        self._mend = mend
        self._failure: _Failure | None = None

    @property
    def failing(self) -> str | None:
        """Why jobs.json cannot be written, in a sentence; None while it can."""
        if self._failure is None:
            return None
        return (
            f"the job store cannot be written ({self._failure.reason}); publishing waits "
            "until it can"
        )

    def due(self) -> bool:
        """True when a write would be attempted now (no failure, or its backoff is over)."""
        return self._failure is None or self._clock() >= self._failure.next_try

    def write(self, attempt: Callable[[], None]) -> None:
        """Run `attempt` (a write of jobs.json that raises StoreError when it fails) unless
        the store is backing off. Raise StoreUnwritable if it was not attempted or failed."""
        now = self._clock()
        failure = self._failure
        if failure is not None and now < failure.next_try:
            failure.refused += 1
            self._log(now)
            raise StoreUnwritable(self._refusal())
        try:
            try:
                attempt()
            except StoreError:
                if self._mend is None or not self._mend():
                    raise
                attempt()  # state_dir was recreated: once more
        except StoreError as exc:
            self._failed(exc, now)
            raise StoreUnwritable(self._refusal()) from exc
        self._succeeded(now)

    def _refusal(self) -> str:
        assert self._failure is not None
        return f"{self._failure.reason}; the change was not recorded"

    def _failed(self, exc: StoreError, now: datetime) -> None:
        reason = str(exc).removesuffix("; the change was not recorded")
        failure = self._failure
        if failure is None:
            self._failure = _Failure(now, reason, FIRST_BACKOFF, now + FIRST_BACKOFF, refused=1)
        else:
            failure.reason = reason
            failure.refused += 1
            failure.backoff = min(failure.backoff * 2, MAX_BACKOFF)
            failure.next_try = now + failure.backoff
        self._log(now)

    def _log(self, now: datetime) -> None:
        failure = self._failure
        assert failure is not None
        if failure.logged_at is not None and now - failure.logged_at < LOG_EVERY:
            return
        failure.logged_at = now
        log.error(
            "%s; publishing waits: %d write(s) of the job store failed or were held back "
            "since %s, and what they held is recorded once it can be written (trying again "
            "every %d s at most)",
            failure.reason,
            failure.refused,
            failure.since.isoformat(timespec="seconds"),
            MAX_BACKOFF.total_seconds(),
        )

    def _succeeded(self, now: datetime) -> None:
        failure, self._failure = self._failure, None
        if failure is None:
            return
        log.warning(
            "%s can be written again after %d s; publishing goes on, and the changes of "
            "drafts the %d write(s) held are read again",
            self._path,
            (now - failure.since).total_seconds(),
            failure.refused,
        )
