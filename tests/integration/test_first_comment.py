"""`first_comment` end to end against the sandbox over loopback (SPEC §8, issue 9): exactly
one comment, even when the first answer is lost after the comment was made; its id in the
job and the status block; a comment that fails for good leaves the post published and says
why. The clock is fake: the settle wait before looking takes no time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.drafts import statusblock
from publisher.job import Job, State
from publisher.publishing import flow
from publisher.publishing.runtime import Runtime
from publisher.sandbox.server import SandboxServer
from publisher.store import jobstore
from tests.support.clock import SleepClock
from tests.support.site import DRAFTS, write_draft

COMMENT = "Credits: @jane.doe — link in bio #sunrise"


def commented_draft(site: Config, kind: str = "post") -> Path:
    text = DRAFTS[kind] + f'first_comment: "{COMMENT}"\n'
    return write_draft(site, kind, text=text)


def run(site: Config, path: Path, fake_time: SleepClock) -> tuple[Job, list[str]]:
    lines: list[str] = []
    job = publish_draft(site, path, progress=lines.append, clock=fake_time, sleep=fake_time.sleep)
    return job, lines


def comments_on(sandbox: SandboxServer, media_id: str) -> list[dict[str, str]]:
    with httpx.Client(
        base_url=f"{sandbox.base_url}/v25.0", headers={"Authorization": "Bearer a-reader"}
    ) as api:
        answer = api.get(f"/{media_id}/comments", params={"fields": "id,text,username"})
    data: list[dict[str, str]] = answer.json()["data"]
    return data


@pytest.mark.parametrize("kind", ["post", "carousel", "reel"])
def test_the_first_comment_is_made_once_and_its_id_shown(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock, kind: str
) -> None:
    path = commented_draft(site, kind)
    job, lines = run(site, path, fake_time)

    assert job.state is State.PUBLISHED, job.error
    [comment] = comments_on(sandbox, str(job.media_id))
    assert comment["text"] == COMMENT
    assert job.comment_id == comment["id"]
    assert job.error is None and job.comment_error is None
    status = statusblock.read(path.read_bytes())
    assert status is not None and status["comment_id"] == comment["id"]
    assert any(f"first comment {comment['id']}" in line for line in lines)
    [call] = [call for call in job.api_calls if call.step == "comment"]
    assert call.method == "POST" and call.endpoint.endswith(f"/{job.media_id}/comments")


@pytest.mark.parametrize("lose_with", ["drop", "502"])
def test_a_lost_comment_answer_gives_exactly_one_comment(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock, lose_with: str
) -> None:
    sandbox.faults.lose_comment_responses = 1
    sandbox.faults.lose_publish_with = lose_with
    path = commented_draft(site)
    job, lines = run(site, path, fake_time)

    assert job.state is State.PUBLISHED
    [comment] = comments_on(sandbox, str(job.media_id))
    assert job.comment_id == comment["id"]
    assert any("found after an interrupted request" in line for line in lines)
    posts = [call for call in job.api_calls if call.step == "comment"]
    assert len(posts) == 1  # the listing settled it: no second POST
    listed = [call for call in job.api_calls if call.step == "comments"]
    assert listed and listed[0].at >= posts[0].at + timedelta(seconds=60)  # after settling
    status = statusblock.read(path.read_bytes())
    assert status is not None and status["comment_id"] == comment["id"]


def test_a_refused_comment_leaves_the_post_published_and_says_why(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    sandbox.faults.refuse_comments = True
    path = commented_draft(site)
    job, _lines = run(site, path, fake_time)

    assert job.state is State.PUBLISHED
    assert job.media_id is not None and len(sandbox.posts()) == 1
    assert job.comment_id is None
    assert job.comment_error is not None and "code 10" in job.comment_error
    assert "instagram_business_manage_comments" in job.comment_error
    status = statusblock.read(path.read_bytes())
    assert status is not None
    assert (status["state"], status["comment_id"]) == ("published", None)
    assert f"published as media {job.media_id}, but the first comment failed" in status["error"]
    assert [call.step for call in job.api_calls].count("comment") == 1  # not retried

    # a later run never posts it again, nor the post
    again = flow_complete(site, job, fake_time)
    assert again.comment_error == job.comment_error
    assert sum(sandbox.publish_calls().values()) == 1


def test_a_draft_without_first_comment_makes_no_comment_call(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    path = write_draft(site, "post")
    job, _lines = run(site, path, fake_time)
    assert job.state is State.PUBLISHED
    assert job.comment_id is None and job.first_comment is None
    assert not [call for call in job.api_calls if "comment" in call.step]
    assert statusblock.read(path.read_bytes())["comment_id"] is None  # type: ignore[index]


def flow_complete(site: Config, job: Job, fake_time: SleepClock) -> Job:
    with Runtime.open(site, clock=fake_time, sleep=fake_time.sleep) as rt:
        return flow.complete(rt, job.id, None)


def crashed_with_a_comment_asked_for(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock, *, made: bool
) -> Job:
    """What a kill -9 leaves between recording the request and recording the comment's
    id: a published job with comment_requested_at, and the comment made (or not)."""
    sandbox.faults.refuse_comments = True  # the first run gets no comment through
    job, _lines = run(site, commented_draft(site), fake_time)
    sandbox.faults.refuse_comments = False
    assert job.comment_requested_at is not None
    with Runtime.open(site, clock=fake_time, sleep=fake_time.sleep) as rt:
        rt.store.update(job.id, comment_error=None, error=None)
        if made:
            rt.client(job.account).comment(str(job.media_id), COMMENT)
    [stored] = jobstore.read_jobs(site.state_dir)
    assert stored.unfinished
    return stored


@pytest.mark.parametrize("made", [True, False])
def test_after_a_crash_the_comment_is_looked_for_before_any_post(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock, made: bool
) -> None:
    job = crashed_with_a_comment_asked_for(site, sandbox, fake_time, made=made)
    fake_time.now += timedelta(minutes=5)

    done = flow_complete(site, job, fake_time)

    [comment] = comments_on(sandbox, str(job.media_id))
    assert done.comment_id == comment["id"]
    new_calls = [call for call in done.api_calls if call.at > job.api_calls[-1].at]
    steps = [call.step for call in new_calls]
    assert steps.index("comments") < (steps.index("comment") if "comment" in steps else 99)
    assert steps.count("comment") == (0 if made else 1)
