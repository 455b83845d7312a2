"""Insights written back (SPEC §9, `accounts.<name>.insights: true`): about 24 hours and
7 days after a post went live, its metrics are read into `status.insights`, so that
`git diff` shows how a post did.

    due     which published jobs need a read now, per account (pure)
    Reader  the daemon's worker task: read them, record them, write the status blocks

Meta's facts (Instagram Media Insights reference, Updated Jun 18, 2026,
https://developers.facebook.com/documentation/instagram-platform/reference/instagram-media/insights):
metrics are `reach`, `views`, `likes`, `comments`, `saved`, `shares` for feed posts, carousels
and reels, and `reach`, `views`, `shares`, `replies` for stories; data can lag up to 48 h; a
metric without data is left out of the answer (so it is left out of the status, never 0);
story metrics are kept for 24 hours only, so a story is read once, at 23 h; "(#10) Not
enough viewers for the media to show insights" is an answer, not a failure. The permission is
instagram_business_manage_insights (Instagram Login) or instagram_manage_insights (Facebook
Login); without it Meta answers (#10) or (#200): one warning, and the account's insights stay
off until the daemon restarts or config.yaml is reloaded. Never a failure of the post.

Rate: a round every INSIGHTS_EVERY (the daemon's chore) reads at most PER_ROUND posts per
account, through the account's pacer like every other call: at most 60 reads an hour, far
below Meta's 200 calls per hour per account, and never while the account publishes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.config import Config
from publisher.drafts import writeback
from publisher.errors import Ambiguous, ApiError, AuthFailed, RateLimited, Transient
from publisher.job import Job, State
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)

FIRST = timedelta(hours=24)
SECOND = timedelta(days=7)
STORY_READ = timedelta(hours=23)  # before Meta drops a story's metrics at 24 h
STORY_KEPT = timedelta(hours=24)
TOO_OLD = timedelta(days=30)  # after a long downtime, older posts are not read any more
PER_ROUND = 10

FEED_METRICS = ("reach", "views", "likes", "comments", "saved", "shares")
STORY_METRICS = ("reach", "views", "shares", "replies")
# Meta's `saved` is shown as `saves`, the word the issue and Instagram's app use.
SHOWN = {"saved": "saves"}

_PERMISSION = (
    "the token lacks the insights permission (instagram_business_manage_insights with "
    "Instagram Login, instagram_manage_insights with Facebook Login); grant it, or set "
    "insights: false for this account"
)


@dataclass(frozen=True)
class Read:
    """One read to make: the job, its post, and which read it is (24h | 7d)."""

    job_id: str
    media_id: str
    after: str
    story: bool


def due(jobs: Iterable[Job], config: Config, now: datetime) -> dict[str, list[Read]]:
    """Given the jobs, the config and now, return per opted-in account the reads due now,
    oldest post first, at most PER_ROUND each. Pure."""
    found: dict[str, list[tuple[datetime, Read]]] = {}
    for job in jobs:
        spec = config.accounts.get(job.account)
        if spec is None or not spec.insights:
            continue
        if job.state is not State.PUBLISHED or not job.media_id or job.published_at is None:
            continue
        after = _which(job, now)
        if after is not None:
            read = Read(job.id, job.media_id, after, job.type == "story")
            found.setdefault(job.account, []).append((job.published_at, read))
    return {
        account: [read for _at, read in sorted(reads, key=lambda pair: pair[0])][:PER_ROUND]
        for account, reads in found.items()
    }


def _which(job: Job, now: datetime) -> str | None:
    assert job.published_at is not None
    age = now - job.published_at
    last = (job.insights or {}).get("after")
    if job.type == "story":
        return "24h" if last is None and STORY_READ <= age < STORY_KEPT else None
    if age >= TOO_OLD:
        return None
    if age >= SECOND:
        return "7d" if last != "7d" else None
    if age >= FIRST:
        return "24h" if last is None else None
    return None


class Reader:
    """Reads the due insights of one account at a time (a worker task), and remembers the
    accounts whose token lacks the permission (until `forgive`)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._lock = threading.Lock()
        self._refused: set[str] = set()

    def refused(self, account: str) -> bool:
        with self._lock:
            return account in self._refused

    def forgive(self) -> None:
        """A new config (maybe a new token): try every account again."""
        with self._lock:
            self._refused.clear()

    def run(self, account: str, reads: list[Read]) -> int:
        """Make `reads` for `account`; return how many were recorded. Stops at the first
        answer that says to wait (rate limit, transient fault, a token problem)."""
        rt = self._rt
        client = rt.client(account)
        recorded = 0
        for read in reads:
            metrics = STORY_METRICS if read.story else FEED_METRICS
            now = rt.clock()
            entry: dict[str, object]
            try:
                numbers = client.insights(read.media_id, metrics)
                entry = {
                    SHOWN.get(name, name): numbers[name] for name in metrics if name in numbers
                }
            except ApiError as exc:
                if _not_enough_viewers(exc):
                    entry = {"unavailable": exc.message}  # an answer: asked again at 7 d
                elif _no_permission(exc):
                    self._refuse(account)
                    return recorded
                elif isinstance(exc, RateLimited | Transient | AuthFailed | Ambiguous):
                    log.info("insights for %s: not read now (%s); next round", account, exc.message)
                    return recorded
                else:  # a deleted post, say: recorded, so it is not asked again until 7 d
                    entry = {"unavailable": exc.message}
            job = self._record(read, now, entry)
            if job is not None:
                recorded += 1
        return recorded

    def _record(self, read: Read, now: datetime, entry: Mapping[str, object]) -> Job | None:
        rt = self._rt
        shown = now.astimezone(rt.config.tz).isoformat(timespec="seconds")
        insights = {"read_at": shown, "after": read.after, **entry}
        try:
            job = rt.store.update(read.job_id, insights=insights)
        except Exception as exc:  # the store's own failure is logged by it; next round
            log.warning("insights: could not record the read of %s: %s", read.job_id, exc)
            return None
        writeback.write(rt.config, job)  # never raises for the file; says why it did not
        return job

    def _refuse(self, account: str) -> None:
        with self._lock:
            if account in self._refused:
                return
            self._refused.add(account)
        log.warning(
            "insights for account %r are off until a restart or reload: %s", account, _PERMISSION
        )


def _not_enough_viewers(exc: ApiError) -> bool:
    return exc.code == 10 and "viewers" in exc.message.lower()


def _no_permission(exc: ApiError) -> bool:
    """(#10) or (#200..#299): Meta's permission codes (instagram.errors' table)."""
    return exc.code is not None and (exc.code == 10 or 200 <= exc.code < 300)
