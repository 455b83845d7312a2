"""The account's publishing quota (content_publishing_limit, instagram-api.md §4): checked
before an attempt makes anything, and the wait for the window when it is used up. A quota
wait is not a failure (SPEC: "it does not fail"): the job retries when the window frees up.
The figure is cached on the Runtime for a minute (`Runtime.cached_quota`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from publisher.errors import QuotaExhausted, RateLimited, Transient
from publisher.instagram import client as graph
from publisher.job import Job, State
from publisher.publishing import decisions
from publisher.publishing.progress import Progress
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)


def check(rt: Runtime, job: Job, client: graph.Client) -> None:
    """Raise QuotaExhausted when the account's 24 h publishing quota is used up. A quota
    that cannot be read does not stop the post (media_publish enforces the limit anyway)."""
    quota = rt.cached_quota(job.account)
    if quota is None:
        try:
            quota = client.publishing_limit()
        except (Transient, RateLimited) as exc:
            log.warning("job %s: quota not read, publishing anyway: %s", job.id, exc.describe())
            return
        rt.remember_quota(job.account, quota)
    if quota.total and quota.used >= quota.total:
        hours = quota.duration_s / 3600
        raise QuotaExhausted(
            f"{quota.used} of {quota.total} posts already published in the last {hours:g} h",
            step="quota check",
            hint="the post waits for the window to free up; see `publisher accounts`",
        )


def wait(
    rt: Runtime, job_id: str, exc: QuotaExhausted, attempts_before: int, progress: Progress
) -> Job:
    """The quota is used up (seen before the attempt, or media_publish refused for it):
    the job goes back to retrying until `decisions.quota_retry_at`, its attempts as they
    were before this one (nothing was tried); return it."""
    job = rt.job(job_id)
    now = rt.clock()
    published = [
        other.published_at
        for other in rt.store.all()
        if other.account == job.account and other.published_at is not None
    ]
    cached = rt.cached_quota(job.account)
    window = timedelta(seconds=cached.duration_s if cached else 86400)
    when = decisions.quota_retry_at(now, published, window)
    error = f"{exc.describe()}; next try at {rt.local(when)}"
    progress(error)
    log.info("job %s: %s", job_id, error)
    return rt.transition(
        job_id,
        State.RETRYING,
        "waiting for the publishing quota",
        error=error,
        next_attempt_at=when,
        attempts=attempts_before,
    )
