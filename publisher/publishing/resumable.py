"""`media.video_upload: resumable`: a job's local videos go to Meta's upload host instead of
being fetched from a URL (SPEC §7; the protocol is `instagram.upload`).

    sent_resumable   which of a draft's media go this way (local videos, when configured)
    upload           the bytes of one, for a container already in the job store

The container is created with `upload_type=resumable` and recorded (containers._create)
before a byte is sent, so a crash mid-upload leaves a container the next attempt reuses:
`upload` asks Meta how many bytes it holds and sends only the rest. Nothing here publishes;
an upload repeated is harmless (the offset says what Meta has).
"""

from __future__ import annotations

import os
from pathlib import Path

from publisher import confined
from publisher.config import tokens
from publisher.drafts import Draft
from publisher.errors import Permanent
from publisher.hosting import mediahost
from publisher.instagram import client as graph
from publisher.instagram import upload as rupload
from publisher.job import ApiCall, Container
from publisher.publishing import apihost, failpoints
from publisher.publishing.progress import Progress
from publisher.publishing.runtime import Runtime


def sent_resumable(rt: Runtime, draft: Draft) -> frozenset[int]:
    """Given a draft, return the indexes of its media sent by resumable upload: its local
    videos, when `media.video_upload` is resumable (the config refuses it for Instagram
    Login accounts, which Meta does not document it for)."""
    if rt.config.media.video_upload != "resumable":
        return frozenset()
    return frozenset(
        index
        for index, item in enumerate(draft.media)
        if item.kind == "video" and item.path is not None
    )


def upload_host(rt: Runtime, account: str) -> str:
    """Where `account`'s videos go: its upload_url, else the sandbox it talks to (which is
    its own upload host), else Meta's rupload.facebook.com."""
    spec = rt.config.accounts[account]
    if spec.upload_url is not None:
        return spec.upload_url
    if spec.api == "sandbox":
        return apihost.base_url(rt.config, account, rt.sandbox_url)
    return rupload.DEFAULT_HOST


def upload(
    rt: Runtime,
    client: graph.Client,
    job_id: str,
    draft: Draft,
    container: Container,
    *,
    path: Path,
    progress: Progress,
    fresh: bool = False,
) -> None:
    """Make Meta hold every byte of `path` (a local video, or its transcoded copy in the
    cache: `containers._sendable`) for `container` (recorded in the
    job store), resuming from what it already holds (`fresh`: the container was just
    made, so it holds nothing and Meta is not asked). The file is opened beneath
    content_dir (a link swapped in since validation is not followed out) and streamed.
    Raise what the upload raises (Transient: the next attempt resumes), Permanent if the
    file cannot be opened."""
    if container.status_code == "FINISHED":
        return  # every byte was in before: Meta processed it
    # the user's video (beneath content_dir) or its transcoded copy (beneath the cache)
    cache = mediahost.cache_dir(rt.config)
    folder = cache if path.is_relative_to(cache) else rt.config.content_dir
    try:
        source = confined.open_beneath(folder, path)
    except OSError as exc:
        raise Permanent(
            f"{path.name!r} cannot be opened to upload it: {exc.strerror or exc}",
            step=rupload.STEP,
            container_id=container.id,
            hint="put the video back, or fix its permissions, then retry the draft",
        ) from exc
    spec = rt.config.accounts[draft.account]
    store = rt.store

    def on_call(call: ApiCall) -> None:
        store.record_call(job_id, call)

    uploader = rupload.Uploader(
        http=rt.http,
        host=upload_host(rt, draft.account),
        api_version=spec.api_version,
        token=tokens.token(rt.config, draft.account),
        received=client.upload_progress,
        on_call=on_call,
        sleep=rt.sleep,
        clock=rt.clock,
        retry_wait=rt.retry_wait,
    )
    name = path.name
    said = [-1]  # the last tenth said: a line per 10 %, not per MB

    def told(sent: int, size: int) -> None:
        if 0 < sent < size:
            failpoints.hit("mid_upload")
        tenth = 10 * sent // size if size else 10
        if tenth != said[0] or sent == size:
            said[0] = tenth
            progress(f"uploading {name}: {sent} of {size} bytes")

    with source:
        size = os.fstat(source.fileno()).st_size
        uploader.send(container.id, source, size, offset=0 if fresh else None, progress=told)
