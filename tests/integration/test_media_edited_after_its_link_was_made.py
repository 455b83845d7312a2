"""A photo edited after its signed link was made but before Instagram fetched it (issue 8):
the media server answers that link 404, Instagram says the media could not be fetched, and
the job's next attempt links and sends the photo as it is now. The publish flow runs
against the sandbox over real loopback HTTP, with the real ServeHost; the edit is made by
the MediaHost in between, just after the first link is made (where a user's save could
land)."""

from __future__ import annotations

import io
from collections.abc import Collection
from pathlib import Path

import httpx
from PIL import Image

from publisher import drafts
from publisher.config import Config
from publisher.hosting.mediahost import MediaHost
from publisher.job import Job, State
from publisher.publishing import flow
from publisher.publishing.runtime import Runtime
from publisher.sandbox.server import SandboxServer
from tests.support.clock import SleepClock
from tests.support.site import write_draft


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1080, 1080), colour).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class EditedOnceLinked:
    """The real media host; the first link it makes is followed by a save of the photo."""

    def __init__(self, real: MediaHost, photo: Path, edited: bytes) -> None:
        self.real, self.photo, self.edited = real, photo, edited
        self.urls: list[str] = []

    def url_for(self, path: Path, *, job_id: str | None = None) -> str:
        url = self.real.url_for(path, job_id=job_id)
        if not self.urls:
            temp = self.photo.with_name(".edited.jpg")  # an editor's save: temp + rename
            temp.write_bytes(self.edited)
            temp.replace(self.photo)
        self.urls.append(url)
        return url

    def release(self, job_id: str) -> None:
        self.real.release(job_id)

    def sweep(self, active_job_ids: Collection[str]) -> None:
        self.real.sweep(active_job_ids)

    def start(self) -> None:
        self.real.start()

    def stop(self) -> None:
        self.real.stop()


def test_a_photo_edited_after_its_link_was_made_goes_out_as_edited(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    photo = site.content_dir / "sunrise.jpg"
    photo.write_bytes(jpeg((200, 80, 20)))
    edited = jpeg((20, 80, 200))
    path = write_draft(site, "post", text="type: post\nmedia: [sunrise.jpg]\n")
    loaded = drafts.load(path, site)
    assert loaded.draft is not None, loaded.problems
    draft = loaded.draft
    with Runtime.open(site, clock=fake_time, sleep=fake_time.sleep) as rt:
        links = EditedOnceLinked(rt.media, photo, edited)
        rt.media = links
        job = rt.store.add(
            Job(draft=draft.rel, account=draft.account, type=draft.type, scheduled_for=fake_time())
        )
        first = flow.publish(rt, job.id, draft)
        assert first.state is State.RETRYING, first.error
        assert first.error is not None and "could not be fetched" in first.error
        assert sandbox.posts() == []
        assert first.next_attempt_at is not None
        fake_time.sleep((first.next_attempt_at - fake_time()).total_seconds())
        second = flow.publish(rt, job.id, draft)
        assert second.state is State.PUBLISHED, second.error
        assert len(links.urls) == 2 and links.urls[0] != links.urls[1]
        assert len(sandbox.posts()) == 1
        with httpx.Client(timeout=5, trust_env=False) as http:
            assert http.get(links.urls[0]).status_code == 404  # the photo as first linked
            assert http.get(links.urls[1]).content == edited  # what the post was made from


def test_a_video_gone_when_its_link_is_made_is_retried_with_a_sentence(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    path = write_draft(site, "reel")
    loaded = drafts.load(path, site)
    assert loaded.draft is not None, loaded.problems
    draft = loaded.draft
    (site.content_dir / "clip.mp4").unlink()  # after validation, before its link
    with Runtime.open(site, clock=fake_time, sleep=fake_time.sleep) as rt:
        job = rt.store.add(
            Job(draft=draft.rel, account=draft.account, type=draft.type, scheduled_for=fake_time())
        )
        after = flow.publish(rt, job.id, draft)
    assert after.state is State.RETRYING
    assert after.error is not None
    assert "'clip.mp4' cannot be read: No such file or directory" in after.error
    assert "internal error" not in after.error
    assert sandbox.posts() == []
