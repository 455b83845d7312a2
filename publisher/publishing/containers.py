"""A job's containers: made, recorded, polled until FINISHED (instagram-api.md §1–§3).

    prepare           the daemon's prepare-ahead: containers ready before the slot
    ready             what an attempt calls: reuse what is live, create what is missing
                      (carousel children first, then the parent), wait for FINISHED
    with_one_rebuild  a dead container (ERROR, EXPIRED) is replaced once per attempt
    (resumable)       a local video's bytes go to Meta's upload host right after its
                      container is recorded (`publishing.resumable`), never before
    poll              status checks with the waits of `decisions.poll_delays`
    set_status        the last status seen, recorded on the job

Each container id is in the job store right after it is created (`after_record`), before
anything else happens: a crash then leaves a container to reuse, never one we forgot.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from publisher import confined, drafts, durations
from publisher.drafts import Draft
from publisher.errors import ApiError, Permanent, RebuildContainer, Transient
from publisher.hosting import convert, mediahost, transcode
from publisher.hosting.ratio import Fit
from publisher.hosting.videospec import Use as VideoUse
from publisher.instagram import client as graph
from publisher.instagram import errors as graph_errors
from publisher.instagram import payloads, upload
from publisher.job import WAITING, Container, Job, State
from publisher.publishing import decisions, failpoints, resumable
from publisher.publishing.progress import Progress, noop
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)


# The use a draft type makes of its videos: which of Meta's video rules they keep.
USES: dict[str, VideoUse] = {"reel": "reel", "story": "story", "carousel": "carousel"}


class ContainerPublished(Exception):
    """A container we were about to reuse says PUBLISHED: reconcile, never publish."""

    def __init__(self, container: Container) -> None:
        super().__init__(container.id)
        self.container = container


def prepare(rt: Runtime, job_id: str, draft: Draft, *, progress: Progress = noop) -> Job:
    """Given a job and its valid draft, make sure its containers exist and are FINISHED,
    reusing the ones already made for this version of the draft; return the job.

    This is the daemon's prepare-ahead: it does not change the job's state and never raises
    an ApiError (the publish at the slot meets the same problem and records it). Its polling
    stops at the job's time (slot or next attempt) if that comes first, so the publish is
    not kept waiting behind a poll a minute apart: it takes over the same containers. A job
    that is not waiting (scheduled/retrying), that may have been published
    (publish_requested_at), or that another worker of this process holds is returned
    unchanged.
    """
    job = rt.job(job_id)
    if job.state not in WAITING or job.publish_requested_at:
        return job
    if not rt.claim(job_id):
        return job
    due = job.next_attempt_at if job.state is State.RETRYING else job.scheduled_for
    until = due if due is not None and due > rt.clock() else None
    try:
        with_one_rebuild(
            rt, job_id, progress, lambda: ready(rt, job_id, draft, progress, until=until)
        )
    except ApiError as exc:
        log.warning("%s: preparing failed, publishing will try again: %s", draft.rel, exc)
        progress(f"preparing failed: {exc.describe()}")
    except ContainerPublished as exc:
        log.warning("%s: container %s is already PUBLISHED", draft.rel, exc.container.id)
    finally:
        rt.release(job_id)
    return rt.job(job_id)


def with_one_rebuild(
    rt: Runtime, job_id: str, progress: Progress, step: Callable[[], Container]
) -> Container:
    """Run `step`; on RebuildContainer mark the dead container and run it once more (a
    second RebuildContainer ends the attempt)."""
    try:
        return step()
    except RebuildContainer as exc:
        if exc.container_id:
            set_status(rt, job_id, exc.container_id, None, dead=True)
        progress(f"{exc.describe()}; making a new container")
        log.info("job %s: rebuilding after: %s", job_id, exc.describe())
        return step()


def version(draft: Draft, uploaded: frozenset[int] = frozenset()) -> str:
    """Given a draft and which of its media go by resumable upload
    (`resumable.sent_resumable`), return what a container is recorded as made from: the
    draft's bytes, the identity of each local media file it names (device, inode, size,
    mtime) and how the videos reach Meta. A photo replaced after its container was made ahead
    (prepare_ahead) then gets a new container, as Meta's copy is of the old photo; so does a
    video whose container was made for a URL when `media.video_upload` became resumable (or
    back): such a container takes no upload (or waits for one)."""
    parts = [draft.fingerprint]
    if uploaded:
        parts.append("resumable:" + ",".join(map(str, sorted(uploaded))))
    for item in [*draft.media, draft.cover]:
        if item is None or item.path is None:
            continue
        try:
            info = os.stat(item.path, follow_symlinks=False)
        except OSError:
            parts.append("-")  # gone: making its container fails and says so
            continue
        parts.append(f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}")
    if len(parts) == 1:
        return draft.fingerprint
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def ready(
    rt: Runtime, job_id: str, draft: Draft, progress: Progress, *, until: datetime | None = None
) -> Container:
    """Given a claimed job and its draft, reuse the live containers of this version of the
    draft, create what is missing and wait until all are FINISHED (polling no later than
    `until`, when given); return the container media_publish takes (single or carousel
    parent). Raise what the API raised, ContainerPublished if a reused one is already
    PUBLISHED, Transient if still processing at poll_timeout or `until`."""
    job = rt.job(job_id)
    client = rt.client(draft.account, job_id)
    # local videos sent to Meta's upload host (media.video_upload: resumable) need no URL
    uploaded = resumable.sent_resumable(rt, draft)
    live = decisions.live_containers(job, version(draft, uploaded), rt.clock())
    top_role = "parent" if draft.type == "carousel" else "single"
    top = live.get((top_role, None))
    feed: convert.Target = "feed" if draft.type in ("post", "carousel") else "story"
    use: VideoUse = USES.get(draft.type, "story")

    def local(index: int) -> Path:  # what an upload sends: the video, or its transcoded copy
        item = draft.media[index]
        return _sendable(rt, item, fit=draft.fit, target=feed, use=use, progress=progress)

    if top is not None:
        if top_role == "single" and 0 in uploaded:  # an upload a crash or failure cut short
            resumable.upload(rt, client, job_id, draft, top, path=local(0), progress=progress)
        _wait_finished(rt, client, job_id, [top], progress, until=until)
        return top

    urls = [
        ""
        if index in uploaded
        else _url(rt, item, job_id, fit=draft.fit, target=feed, use=use, progress=progress)
        for index, item in enumerate(draft.media)
    ]
    cover = draft.cover
    cover_url = (
        _url(rt, cover, job_id, fit=None, target="story", use=use, progress=progress)
        if cover is not None
        else None
    )
    items, parent = payloads.container_requests(draft, urls, cover_url)
    items = [
        upload.resumable_params(params) if index in uploaded else params
        for index, params in enumerate(items)
    ]
    if parent is None:
        single = _create(
            rt, client, job_id, draft, items[0], role="single", item=0, progress=progress
        )
        if 0 in uploaded:
            resumable.upload(
                rt,
                client,
                job_id,
                draft,
                single,
                path=local(0),
                progress=progress,
                fresh=True,
            )
        _wait_finished(rt, client, job_id, [single], progress, until=until)
        return single

    reused = {index: live.get(("child", index)) for index in range(len(items))}
    children = [
        reused[index]
        or _create(rt, client, job_id, draft, params, role="child", item=index, progress=progress)
        for index, params in enumerate(items)
    ]
    for index in sorted(uploaded):  # each child's id is recorded before its bytes go
        resumable.upload(
            rt,
            client,
            job_id,
            draft,
            children[index],
            path=local(index),
            progress=progress,
            fresh=reused[index] is None,
        )
    _wait_finished(rt, client, job_id, children, progress, until=until)
    params = payloads.with_children(parent, [child.id for child in children])
    top = _create(rt, client, job_id, draft, params, role="parent", item=None, progress=progress)
    _wait_finished(rt, client, job_id, [top], progress, until=until)
    return top


def _url(
    rt: Runtime,
    item: drafts.MediaItem,
    job_id: str,
    *,
    fit: Fit | None,
    target: convert.Target,
    use: VideoUse,
    progress: Progress,
) -> str:
    """The URL Instagram fetches `item` from: its own URL, or a link to what `_sendable`
    gives. Raise Permanent when a copy is needed and `media.host: base_url` cannot serve it,
    Transient when the file cannot be read now."""
    if item.url is not None:
        return item.url
    assert item.path is not None  # MediaItem: exactly one of path and url
    path = _sendable(rt, item, fit=fit, target=target, use=use, progress=progress)
    if path != item.path and rt.config.media.host == "base_url":
        raise Permanent(
            f"{item.source!r} must be converted to be sent (a file Instagram takes), and "
            "media.host: base_url can only link to the files in content_dir",
            step="media",
            hint="use media.host: serve or s3 in config.yaml, or publish a file that needs no "
            "change (a JPEG at most 1440 px wide and 8 MB, RGB, no EXIF rotation; an MP4 in "
            "H.264/AAC, 23-60 fps, moov first)",
        )
    # the job id lets a host that uploads (s3) delete the job's objects when it ends
    try:
        url: str = rt.media.url_for(path, job_id=job_id)
    except OSError as exc:  # the link is bound to the file: gone, unreadable, changing
        raise Transient(
            f"{item.source!r} cannot be read: {exc.strerror or exc}",
            step="media",
            hint="publisher tries again at the next attempt.",
        ) from exc
    return url


def _sendable(
    rt: Runtime,
    item: drafts.MediaItem,
    *,
    fit: Fit | None,
    target: convert.Target,
    use: VideoUse,
    progress: Progress,
) -> Path:
    """The file to send for a local `item`: a local image goes through `convert`, a local
    video through `transcode` (SPEC §7): the user's file when it needs no change, else its
    converted copy in state_dir/cache (its mtime set to now: the cache's sweep keeps it).
    Raise Permanent (the job fails, the draft must change) when the file cannot be sent."""
    assert item.path is not None
    path = item.path
    content_dir = rt.config.content_dir

    def opener(source: Path) -> BinaryIO:
        # validated inside content_dir; a link swapped in since then is not followed out
        return confined.open_beneath(content_dir, source)

    try:  # a file gone or unreadable since validation: the next attempt tries again
        opener(path).close()
    except OSError as exc:
        raise Transient(
            f"{item.source!r} cannot be read: {exc.strerror or exc}",
            step="media",
            hint="publisher tries again at the next attempt.",
        ) from exc
    if item.kind == "video" and rt.config.media.transcode == "auto":
        sent = transcode.transcode(
            path,
            mediahost.cache_dir(rt.config),
            use=use,
            opener=opener,
            progress=_transcoding(item, progress),
        )
    elif item.kind == "image":
        sent = convert.convert(
            path, mediahost.cache_dir(rt.config), fit=fit, target=target, opener=opener
        )
    else:
        sent = path
    if isinstance(sent, str):
        raise Permanent(f"{item.source!r} {sent}", step="media")
    if sent != path:  # the copy's mtime is when it was last linked: runtime's sweep
        stamp = rt.clock().timestamp()
        os.utime(sent, (stamp, stamp))
    return sent


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
    failpoints.hit("before_create")
    progress(f"creating container for {label}…")
    container_id = client.create_container(params)
    failpoints.hit("after_create")
    container = Container(
        id=container_id,
        role=role,
        item=item,
        created_at=rt.clock(),
        attempt=rt.job(job_id).attempts,
        fingerprint=version(draft, resumable.sent_resumable(rt, draft)),
    )
    rt.store.add_container(job_id, container)
    failpoints.hit("after_record")
    progress(f"container {container_id} created")
    return container


def _wait_finished(
    rt: Runtime,
    client: graph.Client,
    job_id: str,
    containers: Sequence[Container],
    progress: Progress,
    *,
    until: datetime | None,
) -> None:
    """Return once every container is FINISHED; they are polled together (carousel children
    process in parallel at Meta). Raise what ERROR/EXPIRED means (Meta's status text kept),
    ContainerPublished for PUBLISHED, Transient for anything else."""
    # FINISHED stays FINISHED until it expires or is published: no need to ask again.
    pending = [container for container in containers if container.status_code != "FINISHED"]
    if not pending:
        return
    statuses = poll(rt, client, job_id, pending, progress, until=until)
    for container in pending:
        status = statuses.get(container.id)
        code = status.status_code if status is not None else "IN_PROGRESS"
        if code in {"ERROR", "EXPIRED"}:
            assert status is not None
            raise graph_errors.container_failed(code, status.status, container_id=container.id)
        if code == "PUBLISHED":
            raise ContainerPublished(container)
    for container in pending:
        code = statuses[container.id].status_code
        if code != "FINISHED":
            raise Transient(
                f"container has the unexpected status {code!r}",
                step="poll",
                container_id=container.id,
                hint="publisher checks it again at the next attempt.",
            )


def poll(
    rt: Runtime,
    client: graph.Client,
    job_id: str,
    containers: Sequence[Container],
    progress: Progress,
    *,
    until: datetime | None = None,
) -> dict[str, graph.ContainerStatus]:
    """Check the containers' statuses (waits from `poll_delays`, all of them each round)
    until none is IN_PROGRESS, or one is ERROR/EXPIRED/PUBLISHED (that ends it at once);
    return the last status of each container no longer IN_PROGRESS, recorded on the job.
    Raise Transient at poll_timeout, or at `until` if sooner (the last check is made then):
    the containers stay valid, so the next attempt polls them again instead of
    rebuilding."""
    settings = rt.config.publishing
    deadline = rt.clock() + settings.poll_timeout
    cut_short = False
    if until is not None and until < deadline:
        deadline, cut_short = until, True
    last = {container.id: container.status_code for container in containers}
    done: dict[str, graph.ContainerStatus] = {}
    for delay in decisions.poll_delays(settings.poll_interval.total_seconds()):
        remaining = (deadline - rt.clock()).total_seconds()
        rt.sleep(max(min(delay, remaining), 0.0))
        for container_id in [cid for cid in last if cid not in done]:
            status = client.container_status(container_id)
            if status.status_code != last[container_id]:
                last[container_id] = status.status_code
                set_status(rt, job_id, container_id, status.status_code)
            if status.status_code != "IN_PROGRESS":
                done[container_id] = status
                if status.status_code != "FINISHED":
                    return done
        waiting = [cid for cid in last if cid not in done]
        if not waiting:
            return done
        which = "" if len(last) == 1 else f" {len(waiting)} of {len(last)} containers"
        progress(f"processing…{which} (IN_PROGRESS)")
        if rt.clock() >= deadline and cut_short:
            raise Transient(
                "container still IN_PROGRESS at the time to publish",
                step="poll",
                container_id=waiting[0],
                hint="the publish goes on polling the same container.",
            )
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


def set_status(
    rt: Runtime, job_id: str, container_id: str, code: str | None, *, dead: bool = False
) -> None:
    """Record a container's last seen status_code (dead=True: mark it unusable)."""
    job = rt.job(job_id)
    changed = []
    for container in job.containers:
        if container.id != container_id:
            changed.append(container)
            continue
        new = code or container.status_code
        if dead and new not in decisions.DEAD:
            new = "ERROR"  # not Meta's word for it, but never reused again
        changed.append(container.model_copy(update={"status_code": new}))
    rt.store.update(job_id, containers=tuple(changed))


def _transcoding(item: drafts.MediaItem, progress: Progress) -> transcode.Progress:
    """Tell `progress` how a transcode goes, every 10 %."""
    shown = [-1]

    def report(fraction: float) -> None:
        step = int(fraction * 10)
        if step != shown[0]:
            shown[0] = step
            progress(f"transcoding {_label(item)}… {step * 10}%")

    return report


def _label(item: drafts.MediaItem) -> str:
    return item.path.name if item.path is not None else item.source
