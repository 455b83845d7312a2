"""Reconciliation of a doubtful publish (RELIABILITY.md §6): a job that recorded
`publish_requested_at` and no `media_id` may have been published, so it is never published
again blindly. Its container says what happened:

    PUBLISHED          find the post (the caption and the time) and record it, or leave the
                       job `unconfirmed` for a human: never a guess, never a second post
    FINISHED, ERROR,   nothing went out: the request is cleared and the flow may publish
    EXPIRED
    unreadable         check again later (`retrying`, backing off up to an hour): never
                       `unconfirmed` (the SPEC keeps that for a PUBLISHED container whose
                       post cannot be identified), never published blind

It waits first until the request cannot change any more (`decisions.settle_at`): a few
seconds when Meta answered (a 5xx: the request is over), twice the read timeout when it did
not (a timeout, a dropped connection, a crash). The kind of doubt is on the job
(`publish_doubt`), so a restart waits the same. The wait is `rt.aside`: the daemon lets
the account's other drafts go meanwhile (they have their own containers), and a stop cuts
it short (the job is then reconciled at the next start).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from publisher.errors import ApiError, AuthFailed, RateLimited, Transient
from publisher.instagram import client as graph
from publisher.job import Container, Doubt, Job, State
from publisher.publishing import containers, decisions
from publisher.publishing.progress import Progress
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)

# Look at the posts from a minute before the request on.
LISTING_MARGIN = timedelta(minutes=1)


def settle(rt: Runtime, job: Job, progress: Progress) -> Job | None:
    """Given a claimed job that asked to publish and has no media_id, find out what became of
    the request. Return the job when that is settled (published, unconfirmed, or retrying to
    check again later); None when nothing went out and the request is cleared (the caller
    may publish). Raise AuthFailed with the request still recorded."""
    assert job.publish_requested_at is not None
    requested = job.publish_requested_at
    doubt = job.publish_doubt
    ready = decisions.settle_at(requested, doubt, rt.http.timeout.read)
    wait = (ready - rt.clock()).total_seconds()
    if wait > 0:
        answered = doubt is not None and doubt.kind == decisions.ANSWERED
        why = "Meta answered" if answered else "no answer came back"
        progress(
            f"a publish was requested at {rt.local(requested)} ({why}); waiting {wait:.0f} s "
            "before checking what happened"
        )
        with rt.aside(job.id):
            rt.sleep(wait)
    container = job.parent_container()
    if container is None:  # never sent: media_publish needs a recorded container
        _clear_request(rt, job.id, "no container recorded, so nothing was published")
        return None
    client = rt.client(job.account, job.id)
    progress(f"checking container {container.id}…")
    try:
        status = client.container_status(container.id)
        if status.status_code != container.status_code:
            containers.set_status(rt, job.id, container.id, status.status_code)
        if status.status_code == "IN_PROGRESS":
            status = containers.poll(rt, client, job.id, [container], progress)[container.id]
    except AuthFailed:
        raise  # blocked; the request stays recorded, so the next run checks again
    except ApiError as exc:  # Permanent too: a read that fails says nothing of the post
        return _check_later(rt, job, exc, progress)
    code = status.status_code
    if code == "PUBLISHED":
        return _find_post(rt, client, job, container, progress)
    if code == "FINISHED":
        _clear_request(rt, job.id, f"container {container.id} is FINISHED, not published")
        return None
    if code in {"ERROR", "EXPIRED"}:
        _clear_request(rt, job.id, f"container {container.id} is {code}, not published")
        return None
    unknown = Transient(
        f"the container has the status {code!r}, which says neither published nor not",
        step="reconcile",
        container_id=container.id,
    )
    return _check_later(rt, job, unknown, progress)


def _check_later(rt: Runtime, job: Job, exc: ApiError, progress: Progress) -> Job:
    """The container could not be read (or its post not told apart from another job's):
    try again later, backing off (Meta throttling the account: at the time Meta gave), and
    never publish blind. It costs no attempt and never ends in `unconfirmed`: nothing is
    known yet."""
    settings = rt.config.publishing
    doubt = rt.job(job.id).publish_doubt or Doubt(kind=decisions.NO_ANSWER, at=rt.clock())
    if isinstance(exc, RateLimited):
        when = decisions.throttle_retry_at(rt.clock(), exc.retry_after)
    else:
        doubt = doubt.model_copy(update={"checks": doubt.checks + 1})
        when = decisions.check_again_at(rt.clock(), settings.backoff, doubt.checks, exc.retry_after)
    error = (
        f"could not check whether the post went out: {exc.describe()}; publisher checks "
        f"again at {rt.local(when)} and does not publish before it knows (if the post is on "
        "the account's profile, nothing needs doing)"
    )
    progress(error)
    return rt.transition(
        job.id, State.RETRYING, error, error=error, next_attempt_at=when, publish_doubt=doubt
    )


def _find_post(
    rt: Runtime, client: graph.Client, job: Job, container: Container, progress: Progress
) -> Job:
    """The container is PUBLISHED: find exactly one post with the job's caption since the
    request, or leave the job unconfirmed. Never a guess, never a second publish."""
    assert job.publish_requested_at is not None
    since = job.publish_requested_at - LISTING_MARGIN
    stories = job.type == "story"
    if stories and not client.lists_stories:
        return _unconfirmed(
            rt,
            job,
            "its story cannot be looked up: with Instagram Login Meta offers no way to list "
            "an account's stories (GET /stories is documented for Facebook Login only)",
            progress,
        )
    try:
        items = client.recent_media(since, stories=stories)
    except ApiError as exc:
        return _unconfirmed(
            rt, job, f"its post could not be looked up ({exc.describe()})", progress
        )
    # A post another job recorded is that job's: never a candidate (stories have no caption,
    # so a story published a moment before matches too).
    others = [other for other in rt.store.all() if other.id != job.id]
    held = {other.media_id for other in others if other.media_id}
    found = [
        item
        for item in decisions.matching_media(items, job.caption_hash, job.publish_requested_at)
        if str(item.get("id")) not in held
    ]
    # Another job of the account with the same caption may be publishing too (the account's
    # drafts are not held up by this one's doubt): a post found now could be its post. Look
    # again once it has recorded its media id (or settled its own doubt).
    twins = [
        other
        for other in others
        if other.account == job.account
        and other.caption_hash == job.caption_hash
        and other.publish_requested_at is not None
        and other.media_id is None
    ]
    if found and twins:
        return _check_later(
            rt,
            job,
            Transient(
                f"another draft with the same caption ({twins[0].draft}) is being published "
                "at the same time, so its post and this one's cannot be told apart yet",
                step="reconcile",
                container_id=container.id,
            ),
            progress,
        )
    if len(found) != 1:
        how_many = "no post" if not found else f"{len(found)} posts"
        return _unconfirmed(
            rt, job, f"{how_many} with this caption since {rt.local(since)}", progress
        )
    item = found[0]
    media_id = str(item.get("id"))
    permalink = item.get("permalink")
    published_at = graph.parse_timestamp(item.get("timestamp")) or rt.clock()
    progress(f"published: media {media_id} (found after an interrupted publish)")
    if isinstance(permalink, str) and permalink:
        progress(f"permalink {permalink}")
    rt.count_published(job.account)
    return rt.transition(
        job.id,
        State.PUBLISHED,
        f"reconciled: container {container.id} PUBLISHED as media {media_id}",
        media_id=media_id,
        permalink=permalink if isinstance(permalink, str) and permalink else None,
        published_at=published_at,
        error=None,
        next_attempt_at=None,
    )


def _unconfirmed(rt: Runtime, job: Job, why: str, progress: Progress) -> Job:
    container = job.parent_container()
    which = f"container {container.id}" if container else "the container"
    if job.type == "story":
        look = (
            "Look at the account's story in the Instagram app (a story shows for 24 hours "
            "after it went out): if it is there, nothing needs doing"
        )
    else:
        look = "Look at the account's profile: if the post is there, nothing needs doing"
    error = (
        f"Instagram may have published this draft ({which}), but {why}. {look}; if it is "
        "not, copy the draft to a new file to publish it. publisher will not publish this "
        "one again."
    )
    progress(error)
    log.warning("job %s unconfirmed: %s", job.id, error)
    return rt.transition(job.id, State.UNCONFIRMED, why, error=error, next_attempt_at=None)


def _clear_request(rt: Runtime, job_id: str, why: str) -> None:
    log.info("job %s reconciled: %s", job_id, why)
    rt.store.transition(
        job_id,
        State.PUBLISHING,
        f"reconciled: {why}; safe to publish",
        publish_requested_at=None,
        publish_doubt=None,
    )
