"""One job published exactly once (instagram-api.md §0–§5, RELIABILITY.md §6).

    publish    claim the job, reconcile if a publish may be in flight, check the quota,
               make the containers ready, record `publish_requested_at` (durable), POST
               media_publish, record `media_id` + published (durable), then the permalink
               (best effort), the first comment (`publishing.comments`, exactly once, never
               a failure of the post), then the draft's status block
    reconcile  a job with `publish_requested_at` and no `media_id`: settle it through the
               container (`publishing.reconcile`), then publish if nothing went out
    complete   a published job whose permalink, first comment or status block write-back
               was cut short

The containers are `publishing.containers`' (each id recorded right after it is created),
the decisions `publishing.decisions`' (pure), the quota `publishing.quota`'s. The
write-ahead order is the whole point: a kill -9 anywhere (`publishing.failpoints` names
each step), then a new run, never makes a second post.

Claiming: within one process `Runtime.claim` keeps two workers (the daemon's slot and a
"publish now", ig-harness #18) off the same job; across processes the state_dir lock does.
So a job found in state `publishing` that this process does not claim was left by a dead
process: it is claimed again, and reconciled first if it had asked to publish.

Attempts: `attempts` counts attempts that reached Instagram's container work. A quota wait
does not count (nothing was tried: the job waits for the window, SPEC "it does not fail"),
nor does a wait because Meta throttled the account (a rate-limit answer is not retried on
the spot: the job is `retrying` until the time Meta gave).
"""

from __future__ import annotations

import logging
from typing import Any

from publisher import logs
from publisher.drafts import Draft, writeback
from publisher.errors import (
    Ambiguous,
    ApiError,
    Permanent,
    QuotaExhausted,
    RateLimited,
    RebuildContainer,
    StoreUnwritable,
    Transient,
)
from publisher.instagram import client as graph
from publisher.job import FINAL, QUEUED, Container, Doubt, Job, State
from publisher.publishing import comments, containers, decisions, failpoints, quota
from publisher.publishing import reconcile as reconciliation
from publisher.publishing.progress import Progress, noop
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)


def publish(rt: Runtime, job_id: str, draft: Draft, *, progress: Progress = noop) -> Job:
    """Given a job in state scheduled, retrying or publishing (left by a dead process) and
    its valid draft, publish it at most once; return the job as stored.

    Outcomes: published; retrying (with next_attempt_at and the error sentence); failed;
    blocked (the token); unconfirmed. If the job is not in a claimable state, or another
    worker of this process holds it, nothing happens and the job is returned as it is.
    Raise only for errors that are not Instagram's (a broken store, a bug).
    """
    job = _claim(rt, job_id, draft, progress)
    if job is None:
        return rt.job(job_id)
    try:
        _run(rt, job, draft, progress)
    finally:
        rt.release(job_id)  # writes the API calls not yet recorded
    return rt.job(job_id)


def reconcile(rt: Runtime, job_id: str, draft: Draft | None, *, progress: Progress = noop) -> Job:
    """Given a job that asked Instagram to publish (publish_requested_at) without a recorded
    media_id, find out what happened and finish it: published (the post found), unconfirmed
    (PUBLISHED but the post cannot be identified: never published again), or, when nothing
    went out, publish it now (with `draft`; without one it is failed, since there is no
    draft to publish from). A job that needs no reconciliation is returned as it is."""
    job = rt.job(job_id)
    if job.publish_requested_at is None or job.media_id is not None:
        return job
    claimed = _claim(rt, job_id, draft, progress)
    if claimed is None:
        return rt.job(job_id)
    try:
        _run(rt, claimed, draft, progress)
    finally:
        rt.release(job_id)  # writes the API calls not yet recorded
    return rt.job(job_id)


def _claim(rt: Runtime, job_id: str, draft: Draft | None, progress: Progress) -> Job | None:
    """Take the job for this process: in memory (other workers) and in the store (CAS)."""
    if not rt.claim(job_id):
        return None
    job = rt.job(job_id)
    changes: dict[str, Any] = {"next_attempt_at": None}
    if draft is not None and job.publish_requested_at is None:
        # While a publish may be in flight the job keeps the caption it was sent with:
        # reconciliation recognises the post by it. The first comment is kept from then on
        # too: after the post, it is the job's, whatever becomes of the draft.
        changes.update(
            account=draft.account,
            type=draft.type,
            fingerprint=draft.fingerprint,
            caption_hash=draft.caption_hash,
            first_comment=draft.first_comment,
        )
    note = "claimed again after an interrupted run" if job.state is State.PUBLISHING else ""
    claimed = rt.durably(
        job_id,
        lambda: rt.store.transition(job_id, State.PUBLISHING, note, expect=QUEUED, **changes),
    )
    if claimed is None:
        rt.release(job_id)
        return None
    if draft is not None:
        _write_back(rt, claimed, draft)
    return claimed


def _run(rt: Runtime, job: Job, draft: Draft | None, progress: Progress) -> Job:
    """The claimed job's flow, with every Instagram error turned into the job's state."""
    attempts_before = job.attempts
    try:
        job = _flow(rt, job.id, draft, progress)
    except (QuotaExhausted, RateLimited) as exc:
        job = quota.wait(rt, job.id, exc, attempts_before, progress)
    except ApiError as exc:
        job = _failed_attempt(rt, job.id, exc, progress)
    except StoreUnwritable:
        raise  # nothing can be recorded now; the store logs it (the job is taken over later)
    except Exception as exc:
        # A bug or a broken disk: leave a sentence on the job (the flow is safe to re-run,
        # publish_requested_at is kept) and let the caller see the exception.
        log.exception("job %s: internal error", job.id)
        failed = rt.job(job.id)
        if failed.media_id is not None or failed.state in FINAL:
            # The post is out (say, printing a step after media_publish hit a closed pipe):
            # it stays published; a retrying state would make the next attempt post again.
            raise
        state, when = decisions.after_failure(
            Transient(f"{type(exc).__name__}: {exc}", step="publishing"),
            attempts=failed.attempts,
            max_attempts=rt.config.publishing.attempts,
            backoff=rt.config.publishing.backoff,
            now=rt.clock(),
        )
        error = f"internal error ({type(exc).__name__}: {logs.redact(str(exc))}); see the log"
        job = rt.transition(job.id, state, error, error=error, next_attempt_at=when)
        if draft is not None:
            _write_back(rt, job, draft)
        raise
    # The post is out (or nothing more will happen now): what is left is not the account's
    # publishing, so its next draft may go meanwhile (a busy minute: the slot is for
    # media_publish, the permalink and the first comment can follow).
    with rt.aside(job.id, back=False):
        if job.state is State.PUBLISHED and job.permalink is None:
            job = _finish_published(rt, rt.client(job.account, job.id), job.id, progress)
        job = comments.first(rt, job.id, progress)
        if draft is not None:
            _write_back(rt, job, draft, final=True)
    return job


def _flow(rt: Runtime, job_id: str, draft: Draft | None, progress: Progress) -> Job:
    """Reconcile if needed, then attempt; an ambiguous publish goes back to reconciliation.
    Return the job in its outcome state; raise the ApiError that ended the attempt."""
    ambiguous: Ambiguous | None = None
    while True:
        job = rt.job(job_id)
        if job.publish_requested_at is not None and job.media_id is None:
            doubt = job.publish_doubt
            settled = reconciliation.settle(rt, job, progress)
            if settled is not None:
                return settled
            if ambiguous is None and doubt is not None:  # recorded by an earlier run
                ambiguous = Ambiguous(doubt.reason or "no clear answer", step="publish")
            if ambiguous is not None and job.attempts >= rt.config.publishing.attempts:
                raise ambiguous  # nothing went out, and no attempt is left
        if draft is None:
            return rt.transition(
                job_id,
                State.FAILED,
                "not published: the draft is gone",
                error=f"not published: the draft file {job.draft} is gone",
            )
        try:
            return _attempt(rt, job_id, draft, progress)
        except Ambiguous as exc:
            ambiguous = exc
            progress(f"{exc.describe()}; checking what happened")
            log.warning("job %s: %s", job_id, exc.describe())
        except containers.ContainerPublished as exc:
            # Someone published this container without our write-ahead record (it cannot be
            # us): recognise the post from the container's creation on.
            rt.store.update(job_id, publish_requested_at=exc.container.created_at)


def _attempt(rt: Runtime, job_id: str, draft: Draft, progress: Progress) -> Job:
    """Quota, containers, write-ahead, media_publish, record. Raise what ends the attempt."""
    job = rt.job(job_id)
    client = rt.client(job.account, job_id)
    quota.check(rt, job, client)
    attempts = job.attempts + 1
    job = rt.durably(job_id, lambda: rt.store.update(job_id, attempts=attempts))

    def containers_then_publish() -> Container:
        container = containers.ready(rt, job_id, draft, progress)
        _publish_request(rt, client, job_id, container, progress)
        return container

    containers.with_one_rebuild(rt, job_id, progress, containers_then_publish)
    failpoints.hit("after_media_id")
    return rt.job(job_id)  # the permalink is read by `_run`, off the account's slot


def _publish_request(
    rt: Runtime, client: graph.Client, job_id: str, container: Container, progress: Progress
) -> None:
    """Write-ahead, then media_publish. On success the media id is recorded (published);
    a definite refusal clears the request (nothing went out), except a Permanent or a
    throttling one, which may hide a post that went out anyway (code 4, postiz #1681): a
    later retry checks the container first. Ambiguous propagates with the request still
    recorded."""
    # durable before the call; shared with the other workers' writes of this moment
    rt.durably(job_id, lambda: rt.store.update(job_id, publish_requested_at=rt.clock()))
    failpoints.hit("after_publish_request")
    progress(f"publishing container {container.id}…")
    try:
        media_id = client.publish(container.id)
    except Ambiguous as exc:
        # In doubt: say which kind (durably, before anything else), so that this run and
        # any later one (after a restart) wait as long as that kind needs before checking.
        doubt = Doubt(kind=decisions.doubt_kind(exc), at=rt.clock(), reason=exc.message)
        rt.durably(job_id, lambda: rt.store.update(job_id, publish_doubt=doubt))
        raise
    except (Permanent, RateLimited):
        raise
    except ApiError as exc:
        rt.store.transition(
            job_id,
            State.PUBLISHING,
            f"media_publish refused, nothing published: {exc.describe()}",
            publish_requested_at=None,
            publish_doubt=None,
        )
        if isinstance(exc, RebuildContainer):
            containers.set_status(rt, job_id, container.id, None, dead=True)
        raise
    failpoints.hit("after_publish")

    def published() -> None:  # the media id, the call and the container's status: one write
        rt.store.transition(
            job_id,
            State.PUBLISHED,
            f"media {media_id}",
            media_id=media_id,
            published_at=rt.clock(),
            error=None,
            next_attempt_at=None,
        )
        containers.set_status(rt, job_id, container.id, "PUBLISHED")

    rt.durably(job_id, published)
    rt.count_published(rt.job(job_id).account)
    progress(f"published: media {media_id}")


def _finish_published(rt: Runtime, client: graph.Client, job_id: str, progress: Progress) -> Job:
    """Read the permalink of a published job: best effort, never a failure."""
    job = rt.job(job_id)
    if job.media_id is None or job.permalink is not None:
        return job
    try:
        permalink = client.media(job.media_id).get("permalink")
    except ApiError as exc:
        progress(f"published, but the permalink could not be read: {exc.describe()}")
        log.warning("job %s: permalink not read: %s", job_id, exc.describe())
        return rt.store.update(
            job_id,
            error=f"published as media {job.media_id}; the permalink could not be read "
            f"({exc.describe()}); the post is on the account's profile",
        )
    if not isinstance(permalink, str) or not permalink:
        return job
    progress(f"permalink {permalink}")
    return rt.durably(job_id, lambda: rt.store.update(job_id, permalink=permalink))


def _failed_attempt(rt: Runtime, job_id: str, exc: ApiError, progress: Progress) -> Job:
    job = rt.job(job_id)
    settings = rt.config.publishing
    state, when = decisions.after_failure(
        exc,
        attempts=job.attempts,
        max_attempts=settings.attempts,
        backoff=settings.backoff,
        now=rt.clock(),
    )
    error = exc.describe()
    if state is State.RETRYING and when is not None:
        error += f" (attempt {job.attempts} of {settings.attempts}; next at {rt.local(when)})"
    elif state is State.FAILED and not isinstance(exc, Permanent):
        error += f" (gave up after {job.attempts} attempt(s))"
    progress(error)
    log.warning("job %s %s: %s", job_id, state.value, error)
    return rt.transition(job_id, state, error, error=error, next_attempt_at=when)


def complete(rt: Runtime, job_id: str, draft: Draft | None, *, progress: Progress = noop) -> Job:
    """Given a published job (say, after a crash between recording the media id and the
    write-back), read the permalink if it is missing (best effort), make the first comment
    if it is pending (after looking whether an interrupted request made it), and write the
    status block into the draft; return the job. Other jobs are returned unchanged."""
    job = rt.job(job_id)
    if job.state is not State.PUBLISHED or not rt.claim(job_id):
        return job
    try:
        with rt.aside(job_id, back=False):
            if job.permalink is None:
                job = _finish_published(rt, rt.client(job.account, job_id), job_id, progress)
            job = comments.first(rt, job_id, progress)
            if draft is not None:
                _write_back(rt, job, draft, final=True)
    finally:
        rt.release(job_id)  # writes the API calls not yet recorded
    return rt.job(job_id)


def _write_back(rt: Runtime, job: Job, draft: Draft, *, final: bool = False) -> None:
    """Put the job's status block into the draft. Never fails the publish: a draft that is
    gone or keeps changing is logged (the daemon writes again at the next change)."""
    hook = (lambda: failpoints.hit("mid_write_back")) if final else None
    if not writeback.write(rt.config, job, path=draft.path, before_replace=hook):
        log.warning("%s: the draft is gone; its status stays in the job store", draft.rel)
