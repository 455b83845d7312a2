"""The container flow, exactly once: prepare, publish, reconcile (instagram-api.md §0–§5,
RELIABILITY.md §6).

    prepare    containers exist and are FINISHED (carousel children first, then the parent);
               each container id is in the job store right after it is created
    publish    claim the job, reconcile if a publish may be in flight, check the quota,
               prepare, record `publish_requested_at` (durable), POST media_publish, record
               `media_id` + published (durable), then the permalink (best effort), then the
               draft's status block
    reconcile  a job with `publish_requested_at` and no `media_id`: ask the container.
               PUBLISHED → find the post (caption hash + time) or leave it `unconfirmed`;
               FINISHED → nothing went out, publish again; ERROR/EXPIRED → rebuild
    complete   a published job whose permalink or status block write-back was cut short
    publish_draft  `publisher publish DRAFT`: all of the above in the foreground

Decisions are pure functions (`poll_delays`, `live_containers`, `matching_media`,
`after_failure`, ...); the functions that act call them and the store. The write-ahead
order is the whole point: a kill -9 anywhere, then a new run, never makes a second post.

Claiming: within one process `Runtime.claim` keeps two workers (the daemon's slot and a
"publish now", ig-harness #18) off the same job; across processes the state_dir lock does.
So a job found in state `publishing` that this process does not claim was left by a dead
process: it is claimed again, and reconciled first if it had asked to publish.

Attempts: `attempts` counts attempts that reached Instagram's container work. A quota wait
does not count (nothing was tried: the job waits for the window, SPEC "it does not fail").

Failpoints (tests only): `PUBLISHER_FAILPOINT=<name>` makes the process SIGKILL itself at
that step; see FAILPOINTS. Read in `_failpoint` only.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from publisher import durations, logs
from publisher.clock import Clock, Sleep, system_clock, system_sleep
from publisher.config.settings import Config
from publisher.drafts import parse as drafts
from publisher.drafts import writeback
from publisher.drafts.parse import Draft
from publisher.errors import (
    Ambiguous,
    ApiError,
    AuthFailed,
    ContentLocked,
    DraftError,
    Permanent,
    Problem,
    QuotaExhausted,
    RateLimited,
    RebuildContainer,
    StateLocked,
    Transient,
    UserError,
)
from publisher.instagram import client as graph
from publisher.instagram import errors as graph_errors
from publisher.instagram import payloads, session
from publisher.job import FINAL, QUEUED, WAITING, Container, Job, State, is_final
from publisher.publishing.runtime import Runtime
from publisher.store import jobstore

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def noop(_line: str) -> None:
    """The default progress callback: say nothing."""


FAILPOINT_ENV = "PUBLISHER_FAILPOINT"
# Every step at which a crash must leave the flow recoverable (RELIABILITY.md §10 C1–C7).
FAILPOINTS = (
    "before_create",  # before POST /media
    "after_create",  # the container exists at Meta, not yet in the store
    "after_record",  # the container id is in the store
    "after_publish_request",  # publish_requested_at is durable, media_publish not sent
    "after_publish",  # media_publish answered, media_id not yet recorded
    "after_media_id",  # published + media_id durable, permalink not read
    "mid_write_back",  # the published status block half way to the draft file
)

# Container statuses after which a container can never be published.
DEAD = frozenset({"ERROR", "EXPIRED", "PUBLISHED"})
# Containers expire 24 h after creation; one older than this is not worth reusing.
CONTAINER_REUSE_AGE = timedelta(hours=23)
MAX_POLL_DELAY = 30.0
# Reconciliation: look at posts from a minute before the request; accept a post timestamp
# this much before our clock said we asked (our clock and Meta's disagree a little).
LISTING_MARGIN = timedelta(minutes=1)
CLOCK_SKEW = timedelta(minutes=1)
# Waiting for a quota window: look again at least this often, but not more than this often.
QUOTA_RECHECK_MAX = timedelta(hours=1)
QUOTA_RECHECK_MIN = timedelta(minutes=5)
# `publisher publish` waits in the foreground for retries up to this long; a longer wait
# (a quota window, a long throttle) is left to the daemon.
FOREGROUND_MAX_WAIT = timedelta(minutes=10)
AGAIN = "publishing the same content again needs a new draft file"


def _failpoint(name: str) -> None:
    """Tests only: SIGKILL this process when PUBLISHER_FAILPOINT names this step."""
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class _ContainerPublished(Exception):
    """A container we were about to reuse says PUBLISHED: reconcile, never publish."""

    def __init__(self, container: Container) -> None:
        super().__init__(container.id)
        self.container = container


# --- pure decisions ------------------------------------------------------------------------


def poll_delays(poll_interval: float) -> Iterator[float]:
    """Given the configured poll interval (seconds), yield the waits before each status
    check: about a second first (images are usually ready by then), then the interval,
    growing by half each time up to 30 s (Meta asks for gentle polling; videos take
    minutes)."""
    cap = min(max(poll_interval, 0.0), MAX_POLL_DELAY)
    yield min(1.0, cap)
    delay = cap
    while True:
        yield delay
        delay = min(delay * 1.5, MAX_POLL_DELAY) if delay > 0 else 0.0


def live_containers(
    job: Job, fingerprint: str, now: datetime
) -> dict[tuple[str, int | None], Container]:
    """Given a job, the draft's fingerprint and now, return the containers still worth
    using, by (role, item): made from this version of the draft, not dead, not near expiry.
    Children made before the newest dead parent belong to it and are not reused."""
    dead_top = -1
    for index, container in enumerate(job.containers):
        if container.role in {"single", "parent"} and container.status_code in DEAD:
            dead_top = index
    live: dict[tuple[str, int | None], Container] = {}
    for index, container in enumerate(job.containers):
        if (
            container.fingerprint != fingerprint
            or container.status_code in DEAD
            or now - container.created_at > CONTAINER_REUSE_AGE
            or (container.role == "child" and index < dead_top)
        ):
            continue
        key = (container.role, container.item if container.role == "child" else None)
        live[key] = container  # later wins: the newest of a kind
    return live


def retry_delay(backoff: timedelta, attempts: int, retry_after: float | None) -> timedelta:
    """The wait before the next attempt: `backoff` doubled for each attempt made so far
    (after the first: backoff, 2×backoff, 4×...), at least what Meta asked for."""
    wait: timedelta = backoff * 2 ** max(attempts - 1, 0)
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=retry_after))
    return wait


def quota_retry_at(now: datetime, published: Sequence[datetime], duration: timedelta) -> datetime:
    """When to look at a used-up quota again: when our oldest post in the window leaves it,
    but within the hour (other apps' posts count too, and they are invisible to us) and
    not sooner than five minutes."""
    in_window = [moment for moment in published if now - duration < moment <= now]
    candidate = min(in_window) + duration if in_window else now + QUOTA_RECHECK_MAX
    return min(max(candidate, now + QUOTA_RECHECK_MIN), now + QUOTA_RECHECK_MAX)


def after_failure(
    exc: ApiError, *, attempts: int, max_attempts: int, backoff: timedelta, now: datetime
) -> tuple[State, datetime | None]:
    """Given an error that ended an attempt (not Ambiguous, not quota), the attempts made and
    the config, return the job's next state and when to try again."""
    if isinstance(exc, AuthFailed):
        return State.BLOCKED, None
    if isinstance(exc, Permanent) or attempts >= max_attempts:
        return State.FAILED, None
    return State.RETRYING, now + retry_delay(backoff, attempts, exc.retry_after)


def matching_media(
    items: Sequence[Mapping[str, Any]], caption_hash: str | None, requested_at: datetime
) -> list[Mapping[str, Any]]:
    """Given the account's recent media, the job's caption hash and when publishing was
    requested, return the posts that could be ours: same caption (NFC, stripped) and a
    timestamp no earlier than the request (less the clock skew allowance)."""
    earliest = requested_at - CLOCK_SKEW
    found = []
    for item in items:
        taken = graph.parse_timestamp(item.get("timestamp"))
        if taken is None or taken < earliest:
            continue
        caption = item.get("caption")
        text = caption if isinstance(caption, str) else ""
        if caption_hash is not None and drafts.caption_hash(text) != caption_hash:
            continue
        found.append(item)
    return found


def settle_time(rt: Runtime) -> timedelta:
    """How long after a media_publish request its outcome can still change: twice the read
    timeout (a request sent just before a crash may still be processed)."""
    read: float | None = rt.http.timeout.read
    if read is None:
        read = session.timeouts().read
    return timedelta(seconds=2 * (read if read is not None else 30.0))


def _label(item: drafts.MediaItem) -> str:
    return item.path.name if item.path is not None else item.source


# --- prepare ---------------------------------------------------------------------------------


def prepare(rt: Runtime, job_id: str, draft: Draft, *, progress: Progress = noop) -> Job:
    """Given a job and its valid draft, make sure its containers exist and are FINISHED,
    reusing the ones already made for this version of the draft; return the job.

    This is the daemon's prepare-ahead: it does not change the job's state and never raises
    an ApiError (the publish at the slot meets the same problem and records it). A job that
    is not waiting (scheduled/retrying), that may have been published (publish_requested_at),
    or that another worker of this process holds is returned unchanged.
    """
    job = _job(rt, job_id)
    if job.state not in WAITING or job.publish_requested_at:
        return job
    if not rt.claim(job_id):
        return job
    try:
        _with_one_rebuild(rt, job_id, progress, lambda: _prepare(rt, job_id, draft, progress))
    except ApiError as exc:
        log.warning("%s: preparing failed, publishing will try again: %s", draft.rel, exc)
        progress(f"preparing failed: {exc.describe()}")
    except _ContainerPublished as exc:
        log.warning("%s: container %s is already PUBLISHED", draft.rel, exc.container.id)
    finally:
        rt.release(job_id)
    return _job(rt, job_id)


def _with_one_rebuild(
    rt: Runtime, job_id: str, progress: Progress, step: Callable[[], Container]
) -> Container:
    """Run `step`; on RebuildContainer mark the dead container and run it once more."""
    try:
        return step()
    except RebuildContainer as exc:
        if exc.container_id:
            _set_status(rt, job_id, exc.container_id, None, dead=True)
        progress(f"{exc.describe()}; making a new container")
        log.info("job %s: rebuilding after: %s", job_id, exc.describe())
        return step()


def _prepare(rt: Runtime, job_id: str, draft: Draft, progress: Progress) -> Container:
    """Create/poll what is missing; return the FINISHED container to publish."""
    job = _job(rt, job_id)
    client = rt.client(draft.account, job_id)
    live = live_containers(job, draft.fingerprint, rt.clock())
    top_role = "parent" if draft.type == "carousel" else "single"
    top = live.get((top_role, None))
    if top is not None:
        _wait_finished(rt, client, job_id, [top], progress)
        return top

    urls = [_url(rt, item) for item in draft.media]
    cover_url = _url(rt, draft.cover) if draft.cover is not None else None
    items, parent = payloads.container_requests(draft, urls, cover_url)
    if parent is None:
        single = _create(
            rt, client, job_id, draft, items[0], role="single", item=0, progress=progress
        )
        _wait_finished(rt, client, job_id, [single], progress)
        return single

    children = [
        live.get(("child", index))
        or _create(rt, client, job_id, draft, params, role="child", item=index, progress=progress)
        for index, params in enumerate(items)
    ]
    _wait_finished(rt, client, job_id, children, progress)
    params = payloads.with_children(parent, [child.id for child in children])
    top = _create(rt, client, job_id, draft, params, role="parent", item=None, progress=progress)
    _wait_finished(rt, client, job_id, [top], progress)
    return top


def _url(rt: Runtime, item: drafts.MediaItem) -> str:
    if item.url is not None:
        return item.url
    assert item.path is not None  # MediaItem: exactly one of path and url
    url: str = rt.media.url_for(item.path)
    return url


def _create(
    rt: Runtime,
    client: graph.Client,
    job_id: str,
    draft: Draft,
    params: Mapping[str, str],
    *,
    role: str,
    item: int | None,
    progress: Progress,
) -> Container:
    label = "the carousel" if role == "parent" else _label(draft.media[item or 0])
    _failpoint("before_create")
    progress(f"creating container for {label}…")
    container_id = client.create_container(params)
    _failpoint("after_create")
    container = Container(
        id=container_id,
        role=role,
        item=item,
        created_at=rt.clock(),
        attempt=_job(rt, job_id).attempts,
        fingerprint=draft.fingerprint,
    )
    rt.store.add_container(job_id, container)
    _failpoint("after_record")
    progress(f"container {container_id} created")
    return container


def _wait_finished(
    rt: Runtime,
    client: graph.Client,
    job_id: str,
    containers: Sequence[Container],
    progress: Progress,
) -> None:
    """Return once every container is FINISHED; they are polled together (carousel children
    process in parallel at Meta). Raise what ERROR/EXPIRED means (Meta's status text kept),
    _ContainerPublished for PUBLISHED, Transient for anything else."""
    # FINISHED stays FINISHED until it expires or is published: no need to ask again.
    pending = [container for container in containers if container.status_code != "FINISHED"]
    if not pending:
        return
    statuses = _poll(rt, client, job_id, pending, progress)
    for container in pending:
        status = statuses.get(container.id)
        code = status.status_code if status is not None else "IN_PROGRESS"
        if code in {"ERROR", "EXPIRED"}:
            assert status is not None
            raise graph_errors.container_failed(code, status.status, container_id=container.id)
        if code == "PUBLISHED":
            raise _ContainerPublished(container)
    for container in pending:
        code = statuses[container.id].status_code
        if code != "FINISHED":
            raise Transient(
                f"container has the unexpected status {code!r}",
                step="poll",
                container_id=container.id,
                hint="publisher checks it again at the next attempt.",
            )


def _poll(
    rt: Runtime,
    client: graph.Client,
    job_id: str,
    containers: Sequence[Container],
    progress: Progress,
) -> dict[str, graph.ContainerStatus]:
    """Check the containers' statuses (waits from `poll_delays`, all of them each round)
    until none is IN_PROGRESS, or one is ERROR/EXPIRED/PUBLISHED (that ends it at once);
    return the last status of each container no longer IN_PROGRESS, recorded on the job.
    Raise Transient at poll_timeout: the containers stay valid, so the next attempt polls
    them again instead of rebuilding."""
    settings = rt.config.publishing
    deadline = rt.clock() + settings.poll_timeout
    last = {container.id: container.status_code for container in containers}
    done: dict[str, graph.ContainerStatus] = {}
    for delay in poll_delays(settings.poll_interval.total_seconds()):
        remaining = (deadline - rt.clock()).total_seconds()
        rt.sleep(max(min(delay, remaining), 0.0))
        for container_id in [cid for cid in last if cid not in done]:
            status = client.container_status(container_id)
            if status.status_code != last[container_id]:
                last[container_id] = status.status_code
                _set_status(rt, job_id, container_id, status.status_code)
            if status.status_code != "IN_PROGRESS":
                done[container_id] = status
                if status.status_code != "FINISHED":
                    return done
        waiting = [cid for cid in last if cid not in done]
        if not waiting:
            return done
        which = "" if len(last) == 1 else f" {len(waiting)} of {len(last)} containers"
        progress(f"processing…{which} (IN_PROGRESS)")
        if rt.clock() >= deadline:
            raise Transient(
                f"container still IN_PROGRESS after {durations.format(settings.poll_timeout)}",
                step="poll",
                container_id=waiting[0],
                hint="Instagram is still processing the media; publisher checks the same "
                "container again at the next attempt (raise publishing.poll_timeout for "
                "long videos).",
            )
    raise AssertionError("poll_delays never ends")  # pragma: no cover


def _set_status(
    rt: Runtime, job_id: str, container_id: str, code: str | None, *, dead: bool = False
) -> None:
    """Record a container's last seen status_code (dead=True: mark it unusable)."""
    job = _job(rt, job_id)
    changed = []
    for container in job.containers:
        if container.id != container_id:
            changed.append(container)
            continue
        new = code or container.status_code
        if dead and new not in DEAD:
            new = "ERROR"  # not Meta's word for it, but never reused again
        changed.append(container.model_copy(update={"status_code": new}))
    rt.store.update(job_id, containers=tuple(changed))


# --- publish ---------------------------------------------------------------------------------


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
        return _job(rt, job_id)
    try:
        return _run(rt, job, draft, progress)
    finally:
        rt.release(job_id)


def reconcile(rt: Runtime, job_id: str, draft: Draft | None, *, progress: Progress = noop) -> Job:
    """Given a job that asked Instagram to publish (publish_requested_at) without a recorded
    media_id, find out what happened and finish it: published (the post found), unconfirmed
    (PUBLISHED but the post cannot be identified: never published again), or, when nothing
    went out, publish it now (with `draft`; without one it is failed, since there is no
    draft to publish from). A job that needs no reconciliation is returned as it is."""
    job = _job(rt, job_id)
    if job.publish_requested_at is None or job.media_id is not None:
        return job
    claimed = _claim(rt, job_id, draft, progress)
    if claimed is None:
        return _job(rt, job_id)
    try:
        return _run(rt, claimed, draft, progress)
    finally:
        rt.release(job_id)


def _claim(rt: Runtime, job_id: str, draft: Draft | None, progress: Progress) -> Job | None:
    """Take the job for this process: in memory (other workers) and in the store (CAS)."""
    if not rt.claim(job_id):
        return None
    job = _job(rt, job_id)
    changes: dict[str, Any] = {"next_attempt_at": None}
    if draft is not None and job.publish_requested_at is None:
        # While a publish may be in flight the job keeps the caption it was sent with:
        # reconciliation recognises the post by it.
        changes.update(
            account=draft.account,
            type=draft.type,
            fingerprint=draft.fingerprint,
            caption_hash=draft.caption_hash,
        )
    note = "claimed again after an interrupted run" if job.state is State.PUBLISHING else ""
    claimed = rt.store.transition(job_id, State.PUBLISHING, note, expect=QUEUED, **changes)
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
    except QuotaExhausted as exc:
        job = _quota_wait(rt, job.id, exc, attempts_before, progress)
    except ApiError as exc:
        job = _failed_attempt(rt, job.id, exc, progress)
    except Exception as exc:
        # A bug or a broken disk: leave a sentence on the job (the flow is safe to re-run,
        # publish_requested_at is kept) and let the caller see the exception.
        log.exception("job %s: internal error", job.id)
        failed = _job(rt, job.id)
        if failed.media_id is not None or failed.state in FINAL:
            # The post is out (say, printing a step after media_publish hit a closed pipe):
            # it stays published; a retrying state would make the next attempt post again.
            raise
        state, when = after_failure(
            Transient(f"{type(exc).__name__}: {exc}", step="publishing"),
            attempts=failed.attempts,
            max_attempts=rt.config.publishing.attempts,
            backoff=rt.config.publishing.backoff,
            now=rt.clock(),
        )
        error = f"internal error ({type(exc).__name__}: {logs.redact(str(exc))}); see the log"
        job = _transition(rt, job.id, state, error, error=error, next_attempt_at=when)
        if draft is not None:
            _write_back(rt, job, draft)
        raise
    if draft is not None:
        _write_back(rt, job, draft, final=True)
    return job


def _flow(rt: Runtime, job_id: str, draft: Draft | None, progress: Progress) -> Job:
    """Reconcile if needed, then attempt; an ambiguous publish goes back to reconciliation.
    Return the job in its outcome state; raise the ApiError that ended the attempt."""
    ambiguous: Ambiguous | None = None
    while True:
        job = _job(rt, job_id)
        if job.publish_requested_at is not None and job.media_id is None:
            settled = _reconcile(rt, job, draft, progress)
            if settled is not None:
                return settled
            if ambiguous is not None and job.attempts >= rt.config.publishing.attempts:
                raise ambiguous  # nothing went out, and no attempt is left
        if draft is None:
            return _transition(
                rt,
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
        except _ContainerPublished as exc:
            # Someone published this container without our write-ahead record (it cannot be
            # us): recognise the post from the container's creation on.
            rt.store.update(job_id, publish_requested_at=exc.container.created_at)


def _attempt(rt: Runtime, job_id: str, draft: Draft, progress: Progress) -> Job:
    """Quota, containers, write-ahead, media_publish, record. Raise what ends the attempt."""
    job = _job(rt, job_id)
    client = rt.client(job.account, job_id)
    _check_quota(rt, job, client)
    job = rt.store.update(job_id, attempts=job.attempts + 1)

    def containers_then_publish() -> Container:
        container = _prepare(rt, job_id, draft, progress)
        _publish_request(rt, client, job_id, container, progress)
        return container

    _with_one_rebuild(rt, job_id, progress, containers_then_publish)
    _failpoint("after_media_id")
    return _finish_published(rt, client, job_id, progress)


def _publish_request(
    rt: Runtime, client: graph.Client, job_id: str, container: Container, progress: Progress
) -> None:
    """Write-ahead, then media_publish. On success the media id is recorded (published);
    a definite refusal clears the request (nothing went out), except a Permanent or a
    throttling one, which may hide a post that went out anyway (code 4, postiz #1681): a
    later retry checks the container first. Ambiguous propagates with the request still
    recorded."""
    rt.store.update(job_id, publish_requested_at=rt.clock())
    _failpoint("after_publish_request")
    progress(f"publishing container {container.id}…")
    try:
        media_id = client.publish(container.id)
    except (Ambiguous, Permanent, RateLimited):
        raise
    except ApiError as exc:
        rt.store.transition(
            job_id,
            State.PUBLISHING,
            f"media_publish refused, nothing published: {exc.describe()}",
            publish_requested_at=None,
        )
        if isinstance(exc, RebuildContainer):
            _set_status(rt, job_id, container.id, None, dead=True)
        raise
    _failpoint("after_publish")
    _transition(
        rt,
        job_id,
        State.PUBLISHED,
        f"media {media_id}",
        media_id=media_id,
        published_at=rt.clock(),
        error=None,
        next_attempt_at=None,
    )
    _set_status(rt, job_id, container.id, "PUBLISHED")
    rt.count_published(_job(rt, job_id).account)
    progress(f"published: media {media_id}")


def _finish_published(rt: Runtime, client: graph.Client, job_id: str, progress: Progress) -> Job:
    """Read the permalink of a published job: best effort, never a failure."""
    job = _job(rt, job_id)
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
    return rt.store.update(job_id, permalink=permalink)


def _check_quota(rt: Runtime, job: Job, client: graph.Client) -> None:
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


def _quota_wait(
    rt: Runtime, job_id: str, exc: QuotaExhausted, attempts_before: int, progress: Progress
) -> Job:
    job = _job(rt, job_id)
    now = rt.clock()
    published = [
        other.published_at
        for other in rt.store.all()
        if other.account == job.account and other.published_at is not None
    ]
    quota = rt.cached_quota(job.account)
    window = timedelta(seconds=quota.duration_s if quota else 86400)
    when = quota_retry_at(now, published, window)
    error = f"{exc.describe()}; next try at {_local(rt, when)}"
    progress(error)
    log.info("job %s: %s", job_id, error)
    return _transition(
        rt,
        job_id,
        State.RETRYING,
        "waiting for the publishing quota",
        error=error,
        next_attempt_at=when,
        attempts=attempts_before,
    )


def _failed_attempt(rt: Runtime, job_id: str, exc: ApiError, progress: Progress) -> Job:
    job = _job(rt, job_id)
    settings = rt.config.publishing
    state, when = after_failure(
        exc,
        attempts=job.attempts,
        max_attempts=settings.attempts,
        backoff=settings.backoff,
        now=rt.clock(),
    )
    error = exc.describe()
    if state is State.RETRYING and when is not None:
        error += f" (attempt {job.attempts} of {settings.attempts}; next at {_local(rt, when)})"
    elif state is State.FAILED and not isinstance(exc, Permanent):
        error += f" (gave up after {job.attempts} attempt(s))"
    progress(error)
    log.warning("job %s %s: %s", job_id, state.value, error)
    return _transition(rt, job_id, state, error, error=error, next_attempt_at=when)


# --- reconcile -------------------------------------------------------------------------------


def _reconcile(rt: Runtime, job: Job, draft: Draft | None, progress: Progress) -> Job | None:
    """The claimed job asked to publish and has no media_id. Return the job when that is
    settled (published, unconfirmed, or waiting to check again); None when nothing went
    out and the request is cleared (the caller publishes)."""
    assert job.publish_requested_at is not None
    requested = job.publish_requested_at
    ready = requested + settle_time(rt)
    wait = (ready - rt.clock()).total_seconds()
    if wait > 0:
        progress(f"a publish was requested at {_local(rt, requested)}; waiting {wait:.0f} s")
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
            _set_status(rt, job.id, container.id, status.status_code)
        if status.status_code == "IN_PROGRESS":
            status = _poll(rt, client, job.id, [container], progress)[container.id]
    except AuthFailed:
        raise  # blocked; the request stays recorded, so the next run checks again
    except ApiError as exc:
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
    return _unconfirmed(
        rt, job, f"container {container.id} has the unknown status {code!r}", progress
    )


def _check_later(rt: Runtime, job: Job, exc: ApiError, progress: Progress) -> Job:
    """The container could not be read: try again later (never publish blind), and after
    the configured attempts leave it unconfirmed for a human."""
    attempts = _job(rt, job.id).attempts + 1
    settings = rt.config.publishing
    if isinstance(exc, Permanent) or attempts >= settings.attempts:
        return _unconfirmed(rt, job, f"it could not be checked ({exc.describe()})", progress)
    when = rt.clock() + retry_delay(settings.backoff, attempts, exc.retry_after)
    error = (
        f"could not check whether the post went out: {exc.describe()}; publisher checks "
        f"again at {_local(rt, when)} and does not publish before it knows"
    )
    progress(error)
    return _transition(
        rt, job.id, State.RETRYING, error, error=error, next_attempt_at=when, attempts=attempts
    )


def _find_post(
    rt: Runtime, client: graph.Client, job: Job, container: Container, progress: Progress
) -> Job:
    """The container is PUBLISHED: find exactly one post with the job's caption since the
    request, or leave the job unconfirmed. Never a guess, never a second publish."""
    assert job.publish_requested_at is not None
    since = job.publish_requested_at - LISTING_MARGIN
    try:
        items = client.recent_media(since, stories=job.type == "story")
    except ApiError as exc:
        return _unconfirmed(
            rt, job, f"its post could not be looked up ({exc.describe()})", progress
        )
    # A post another job recorded is that job's: never a candidate (stories have no caption,
    # so a story published a moment before matches too).
    held = {other.media_id for other in rt.store.all() if other.id != job.id and other.media_id}
    found = [
        item
        for item in matching_media(items, job.caption_hash, job.publish_requested_at)
        if str(item.get("id")) not in held
    ]
    if len(found) != 1:
        how_many = "no post" if not found else f"{len(found)} posts"
        return _unconfirmed(
            rt, job, f"{how_many} with this caption since {_local(rt, since)}", progress
        )
    item = found[0]
    media_id = str(item.get("id"))
    permalink = item.get("permalink")
    published_at = graph.parse_timestamp(item.get("timestamp")) or rt.clock()
    progress(f"published: media {media_id} (found after an interrupted publish)")
    if isinstance(permalink, str) and permalink:
        progress(f"permalink {permalink}")
    rt.count_published(job.account)
    return _transition(
        rt,
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
    error = (
        f"Instagram may have published this draft ({which}), but {why}. Look at the "
        "account's profile: if the post is there, nothing needs doing; if it is not, copy "
        "the draft to a new file to publish it. publisher will not publish this one again."
    )
    progress(error)
    log.warning("job %s unconfirmed: %s", job.id, error)
    return _transition(rt, job.id, State.UNCONFIRMED, why, error=error, next_attempt_at=None)


def _clear_request(rt: Runtime, job_id: str, why: str) -> None:
    log.info("job %s reconciled: %s", job_id, why)
    rt.store.transition(
        job_id, State.PUBLISHING, f"reconciled: {why}; safe to publish", publish_requested_at=None
    )


# --- finishing a published job ---------------------------------------------------------------


def complete(rt: Runtime, job_id: str, draft: Draft | None, *, progress: Progress = noop) -> Job:
    """Given a published job (say, after a crash between recording the media id and the
    write-back), read the permalink if it is missing (best effort) and write the status
    block into the draft; return the job. Other jobs are returned unchanged."""
    job = _job(rt, job_id)
    if job.state is not State.PUBLISHED or not rt.claim(job_id):
        return job
    try:
        if job.permalink is None:
            job = _finish_published(rt, rt.client(job.account, job_id), job_id, progress)
        if draft is not None:
            _write_back(rt, job, draft, final=True)
        return job
    finally:
        rt.release(job_id)


# --- small actions ---------------------------------------------------------------------------


def _job(rt: Runtime, job_id: str) -> Job:
    job = rt.store.get(job_id)
    if job is None:
        raise KeyError(f"no job {job_id}")
    return job


def _transition(rt: Runtime, job_id: str, state: State, note: str, **changes: Any) -> Job:
    job = rt.store.transition(job_id, state, note, **changes)
    assert job is not None  # no `expect`: always applied
    return job


def _write_back(rt: Runtime, job: Job, draft: Draft, *, final: bool = False) -> None:
    """Put the job's status block into the draft. Never fails the publish: a draft that is
    gone or keeps changing is logged (the daemon writes again at the next change)."""
    hook = (lambda: _failpoint("mid_write_back")) if final else None
    if not writeback.write(rt.config, job, path=draft.path, before_replace=hook):
        log.warning("%s: the draft is gone; its status stays in the job store", draft.rel)


def _local(rt: Runtime, moment: datetime) -> str:
    return moment.astimezone(rt.config.tz).isoformat(timespec="seconds")


# --- `publisher publish DRAFT` ---------------------------------------------------------------


def publish_draft(
    config: Config,
    path: Path,
    *,
    progress: Progress,
    clock: Clock = system_clock,
    sleep: Sleep = system_sleep,
) -> Job:
    """Publish one draft now, in the foreground, showing each step through `progress`;
    return the job. Retries wait in the foreground with the configured backoff (a wait
    longer than FOREGROUND_MAX_WAIT is left to the daemon: the job stays retrying).

    Raise DraftError with its problems if the draft is invalid; UserError if it is already
    published or unconfirmed, paused, or not for instagram; StateLocked (with a sentence) if
    the daemon owns state_dir. Killable at any moment: running it again never posts twice.
    """
    loaded = drafts.load(path, config)
    if loaded.errors or loaded.draft is None:
        raise DraftError(list(loaded.errors))
    draft = loaded.draft
    if draft.paused:
        raise UserError([_problem(loaded, "paused", "is true; set it to false to publish")])
    if "instagram" not in {name.lower() for name in draft.platforms}:
        raise UserError([_problem(loaded, "platforms", "does not list instagram")])
    try:
        rt = Runtime.open(config, clock=clock, sleep=sleep)
    except ContentLocked:
        raise
    except StateLocked as exc:
        raise StateLocked(_locked_sentence(config)) from exc
    with rt:
        job = _job_for(rt, loaded, draft, progress)
        if job.state is State.PUBLISHED:
            return job
        settings = config.publishing
        while True:
            job = publish(rt, job.id, draft, progress=progress)
            if job.state is not State.RETRYING or job.next_attempt_at is None:
                return job
            wait = job.next_attempt_at - clock()
            if wait > FOREGROUND_MAX_WAIT:
                progress(
                    f"not waiting {durations.format(wait)} here: the job stays retrying, and "
                    "`publisher run` (or this command, run again later) goes on from there"
                )
                return job
            seconds = max(wait.total_seconds(), 0.0)
            progress(
                f"trying again in {seconds:.0f} s (attempt {job.attempts + 1} of "
                f"{settings.attempts})"
            )
            sleep(seconds)


def _renamed_job(rt: Runtime, draft: Draft, progress: Progress) -> Job | None:
    """The job of a draft file that went away with this draft's content (a rename, perhaps
    in the middle of a publish): it moves to the new name, so the draft keeps its one job
    and is never posted twice. None when there is no such job."""
    for job in rt.store.all():
        if (
            job.fingerprint == draft.fingerprint
            and job.draft != draft.rel
            and not (rt.config.content_dir / job.draft).exists()
        ):
            progress(f"{job.draft} was renamed to {draft.rel}: same job")
            return rt.store.update(job.id, draft=draft.rel)
    return None


def _job_for(rt: Runtime, loaded: drafts.Loaded, draft: Draft, progress: Progress) -> Job:
    """The draft's job, created if new, made publishable if it can be. Refuse (UserError) a
    draft that is already out: published (once the status block says so) or unconfirmed."""
    job = rt.store.by_draft(draft.rel) or _renamed_job(rt, draft, progress)
    shown = (loaded.status or {}).get("state")
    if job is None:
        if is_final(shown):
            raise UserError([_problem(loaded, "status", f"says {shown}; {AGAIN}")])
        now = rt.clock()
        return rt.store.add(
            Job(
                draft=draft.rel,
                fingerprint=draft.fingerprint,
                account=draft.account,
                type=draft.type,
                state=State.SCHEDULED,
                scheduled_for=now,
                caption_hash=draft.caption_hash,
            )
        )
    if job.state is State.PUBLISHED and shown != job.state.value:
        # An earlier run was stopped after the post went out and before it said so: finish
        # its bookkeeping (permalink, status block); that is what this run was asked for.
        progress(f"already published by an earlier run: media {job.media_id}")
        job = complete(rt, job.id, draft, progress=progress)
        if job.permalink:
            progress(f"permalink {job.permalink}")
        return job
    if job.state is State.PUBLISHED and job.permalink is None:
        job = complete(rt, job.id, draft, progress=progress)  # one more try, then refuse
    if job.state in FINAL:
        what = (
            f"was published on {_local(rt, job.published_at)} as media {job.media_id}"
            + (f" ({job.permalink})" if job.permalink else "")
            if job.state is State.PUBLISHED and job.published_at is not None
            else f"is {job.state.value}: {job.error or ''}"
        )
        raise UserError([_problem(loaded, "", f"{what}; {AGAIN}")])
    if job.state not in QUEUED:
        # failed, missed, cancelled, blocked...: the user asks for it now, with fresh attempts.
        reset = rt.store.transition(
            job.id,
            State.SCHEDULED,
            "publish now (publisher publish)",
            expect={job.state},
            attempts=0,
            next_attempt_at=None,
            scheduled_for=rt.clock(),
            error=None,
        )
        job = reset or _job(rt, job.id)
    return job


def _problem(loaded: drafts.Loaded, field: str, message: str) -> Problem:
    return Problem(str(loaded.path), field, message)


def _locked_sentence(config: Config) -> str:
    lock = config.state_dir / jobstore.LOCK_FILE
    try:
        pid = lock.read_text(encoding="ascii").strip() or "?"
    except OSError:
        pid = "?"
    return (
        f"the daemon (pid {pid}) owns {config.state_dir}; set `publish_at: now` in the draft "
        "instead, or stop the daemon"
    )
