"""Waits that are not failures: the account's publishing quota (content_publishing_limit,
instagram-api.md §5), checked before an attempt makes anything, and Meta's throttling.

A used-up quota (SPEC: "it does not fail") and a rate-limit answer (codes 4, 17, 32, 613...
or the usage headers at the limit, instagram-api.md §7.3-§7.4) both put the job back to
`retrying` with the time of its next try, its attempts as they were: nothing was wrong with
the post. The quota figure is cached on the Runtime for a minute (`Runtime.cached_quota`),
and the limit in state_dir for `publisher plan` (`limits`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from publisher.errors import QuotaExhausted, RateLimited, Transient
from publisher.instagram import client as graph
from publisher.job import Job, State
from publisher.publishing import decisions, limits
from publisher.publishing.progress import Progress
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)


def check(rt: Runtime, job: Job, client: graph.Client) -> None:
    """Raise QuotaExhausted when the account's 24 h publishing quota is used up. A quota
    that cannot be read does not stop the post (media_publish enforces the limit anyway),
    unless Meta is throttling the account (RateLimited: the job waits)."""
    quota = rt.cached_quota(job.account)
    if quota is None:
        try:
            quota = client.publishing_limit()
        except Transient as exc:
            log.warning("job %s: quota not read, publishing anyway: %s", job.id, exc.describe())
            return
        rt.remember_quota(job.account, quota)
        _keep_limit(rt, job.account, quota)
    if quota.total and quota.used >= quota.total:
        hours = quota.duration_s / 3600
        raise QuotaExhausted(
            f"{quota.used} of {quota.total} posts already published in the last {hours:g} h",
            step="quota check",
            hint="the post waits for the window to free up; see `publisher accounts`",
        )


def _keep_limit(rt: Runtime, account: str, quota: graph.Quota) -> None:
    """Keep the account's real limit for `publisher plan` (`limits`); never fails a post."""
    if not quota.total:
        return
    try:
        limits.remember(rt.config.state_dir, account, quota.total, quota.duration_s, rt.clock())
    except OSError as exc:
        log.warning("the publishing limit of %s could not be kept: %s", account, exc)


def wait(
    rt: Runtime,
    job_id: str,
    exc: QuotaExhausted | RateLimited,
    attempts_before: int,
    progress: Progress,
) -> Job:
    """The quota is used up (seen before the attempt, or media_publish refused for it), or
    Meta throttled the account: the job goes back to retrying, its attempts as they were
    before this one (nothing was wrong with the post); return it. The next try: when the
    window frees up (`decisions.quota_retry_at`), resp. when Meta said access is back
    (`decisions.throttle_retry_at`). A publish it may have sent stays recorded: the next
    attempt reconciles it first."""
    job = rt.job(job_id)
    now = rt.clock()
    if isinstance(exc, RateLimited):
        when = decisions.throttle_retry_at(now, exc.retry_after)
        note = "waiting: Meta throttled the account"
    else:
        published = [
            other.published_at
            for other in rt.store.all()
            if other.account == job.account and other.published_at is not None
        ]
        cached = rt.cached_quota(job.account)
        window = timedelta(seconds=cached.duration_s if cached else 86400)
        when = decisions.quota_retry_at(now, published, window)
        note = "waiting for the publishing quota"
    error = f"{exc.describe()}; next try at {rt.local(when)}"
    progress(error)
    log.info("job %s: %s", job_id, error)
    return rt.transition(
        job_id,
        State.RETRYING,
        note,
        error=error,
        next_attempt_at=when,
        attempts=attempts_before,
    )
