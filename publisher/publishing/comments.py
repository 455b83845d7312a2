"""The first comment of a published post (SPEC §8 `first_comment`), made exactly once.

    first    post the job's first comment: write-ahead, POST /{media-id}/comments, record
             the id; a doubtful answer is settled by listing the post's comments before
             any other POST: never two comments

The records, in order, like the publish's: `comment_requested_at` (the first time the
comment was asked for) is durable before any POST (failpoint `after_comment_request`);
`comment_id` right after Meta answers (`after_comment` is a crash between the two). A job
with `comment_requested_at` and no `comment_id` lists the post's comments
(`GET /{media-id}/comments?fields=id,text,username,timestamp`) and looks for the account's
own comment with that text before it POSTs again, here or after a restart.

A comment that fails for good (refused, a missing permission, the attempts used up, or its
fate unknown) leaves the post published: `comment_error`, and the status's `error`, say that
the post is out and the comment failed, and why. Nothing here raises an ApiError.
"""

from __future__ import annotations

import logging

from publisher.errors import Ambiguous, ApiError, AuthFailed, Permanent, RateLimited
from publisher.instagram import client as graph
from publisher.instagram import session
from publisher.job import Job, State
from publisher.publishing import decisions, failpoints
from publisher.publishing.progress import Progress
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)

_PERMISSION = (
    "the token needs the comments permission (instagram_business_manage_comments with "
    "Instagram Login, instagram_manage_comments with Facebook Login)"
)


def first(rt: Runtime, job_id: str, progress: Progress) -> Job:
    """Given a published job, make its first comment if it has one pending (see the module
    docstring); return the job. The post stays published whatever happens here."""
    job = rt.job(job_id)
    if job.state is not State.PUBLISHED or not job.comment_pending or job.media_id is None:
        return job
    client = rt.client(job.account, job_id)
    attempts, backoff = rt.config.publishing.attempts, rt.config.publishing.backoff
    posted = 0
    last: ApiError | None = None
    while True:
        job = rt.job(job_id)
        if job.comment_requested_at is not None:
            try:
                found = _look(rt, client, job, progress)
            except ApiError as exc:
                why = (
                    f"it may have been made, but the post's comments could not be read "
                    f"({exc.describe()}); look at the post and add it by hand if it is not there"
                )
                return _failed(rt, job_id, why, progress)
            if found is not None:
                return _made(rt, job_id, found, progress, "found after an interrupted request")
        if posted >= attempts:
            assert last is not None
            return _failed(rt, job_id, f"{last.describe()} (gave up after {posted})", progress)
        if job.comment_requested_at is None:
            rt.store.update(job_id, comment_requested_at=rt.clock())
        failpoints.hit("after_comment_request")
        posted += 1
        progress("posting the first comment…")
        try:
            comment_id = client.comment(str(job.media_id), str(job.first_comment))
        except AuthFailed as exc:
            return _failed(rt, job_id, f"{exc.describe()}; {_PERMISSION}", progress)
        except Permanent as exc:
            return _failed(rt, job_id, exc.describe(), progress)
        except RateLimited as exc:
            if (exc.retry_after or 0.0) > session.MAX_INLINE_WAIT:
                return _failed(rt, job_id, f"{exc.describe()}; add it by hand", progress)
            last = exc
            rt.sleep(exc.retry_after or 0.0)
        except Ambiguous as exc:
            last = exc
            progress(f"{exc.describe()}; checking the post's comments")
            log.warning("job %s: %s", job_id, exc.describe())
        except ApiError as exc:  # never sent (a connection that could not be made)
            last = exc
            rt.sleep(decisions.retry_delay(backoff, posted, None).total_seconds())
        else:
            failpoints.hit("after_comment")
            return _made(rt, job_id, comment_id, progress, "")


def _look(rt: Runtime, client: graph.Client, job: Job, progress: Progress) -> str | None:
    """The comment was asked for and may have been made: once its answer can no longer
    change (`decisions.settle_time`), list the post's comments and return the id of the
    account's own comment with that text since then, or None. Raise ApiError if they
    cannot be read."""
    assert job.comment_requested_at is not None and job.media_id is not None
    ready = job.comment_requested_at + decisions.settle_time(rt.http.timeout.read)
    wait = (ready - rt.clock()).total_seconds()
    if wait > 0:
        progress(f"a first comment was asked for; waiting {wait:.0f} s before looking")
        rt.sleep(wait)
    username = client.me().get("username")
    items = client.comments(job.media_id)
    found = decisions.own_comment(items, username, str(job.first_comment), job.comment_requested_at)
    return str(found["id"]) if found is not None else None


def _made(rt: Runtime, job_id: str, comment_id: str, progress: Progress, how: str) -> Job:
    progress(f"first comment {comment_id}" + (f" ({how})" if how else ""))
    log.info("job %s: first comment %s %s", job_id, comment_id, how)
    return rt.store.update(job_id, comment_id=comment_id)


def _failed(rt: Runtime, job_id: str, why: str, progress: Progress) -> Job:
    job = rt.job(job_id)
    sentence = f"published as media {job.media_id}, but the first comment failed: {why}"
    progress(sentence)
    log.warning("job %s: %s", job_id, sentence)
    error = f"{job.error}; {sentence}" if job.error else sentence
    return rt.store.update(job_id, comment_error=why, error=error)
