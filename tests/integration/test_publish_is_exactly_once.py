"""One post per draft, whatever breaks around `media_publish`: an error after the post went
out, a lost or throttled answer, a draft renamed in between (README "Exactly once"). The
publish flow runs against the sandbox over real loopback HTTP with a clock that moves only
when the flow sleeps, or against a scriptable Graph API behind respx (`graph_env`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from publisher import drafts
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.drafts import Draft
from publisher.job import Job, State
from publisher.publishing import flow as publishing
from publisher.publishing.progress import Progress
from publisher.sandbox.server import SandboxServer
from publisher.store import jobstore
from tests.support.clock import SleepClock
from tests.support.fakegraph import T0, Env
from tests.support.graphclient import graph_error
from tests.support.site import write_draft


def publish_now(config: Config, path: Path, fake_time: SleepClock, progress: Progress) -> Job:
    return publish_draft(config, path, progress=progress, clock=fake_time, sleep=fake_time.sleep)


def only_job(config: Config) -> Job:
    [job] = jobstore.read_jobs(config.state_dir)
    return job


def add_job(env: Env, name: str, text: str) -> tuple[str, Draft]:
    loaded = drafts.load(write_draft(env.config, "post", name, text), env.config)
    assert loaded.draft is not None, loaded.problems
    draft = loaded.draft
    job = Job(draft=draft.rel, account=draft.account, type=draft.type, scheduled_for=T0)
    return env.rt.store.add(job).id, draft


# --- a failure that is not Instagram's, after the post went out ----------------------------------


@pytest.mark.parametrize("line", ["published: media", "permalink "])
def test_an_error_after_the_post_went_out_never_publishes_it_again(
    line: str, site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    # `publisher publish DRAFT | head -3`: printing a step after media_publish answered
    # raises BrokenPipeError. The post is out; the job must stay published, or the next
    # attempt (the daemon's, or this command again) makes a second post.
    def progress(text: str) -> None:
        if text.startswith(line):
            raise BrokenPipeError(32, "Broken pipe")

    path = write_draft(site, "post")
    with pytest.raises(BrokenPipeError):
        publish_now(site, path, fake_time, progress)

    job = only_job(site)
    assert job.state is State.PUBLISHED
    [post] = sandbox.posts()
    assert job.media_id == post["id"]

    again = publish_now(site, path, fake_time, lambda _text: None)
    assert again.state is State.PUBLISHED
    assert len(sandbox.posts()) == 1
    assert sum(sandbox.publish_calls().values()) == 1


# --- a draft renamed after an interrupted run ----------------------------------------------------


def test_a_draft_renamed_after_an_interrupted_run_keeps_its_job(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    # The run is interrupted after the post went out, before the status block says so; the
    # user renames the file and publishes it again: it is the same draft, not a new one.
    def progress(text: str) -> None:
        if text.startswith("published: media"):
            raise BrokenPipeError(32, "Broken pipe")

    path = write_draft(site, "post")
    with pytest.raises(BrokenPipeError):
        publish_now(site, path, fake_time, progress)
    renamed = path.rename(path.with_name("renamed.yaml"))

    job = publish_now(site, renamed, fake_time, lambda _text: None)

    assert job.state is State.PUBLISHED
    assert job.draft == "renamed.yaml"
    assert len(sandbox.posts()) == 1
    assert [j.draft for j in jobstore.read_jobs(site.state_dir)] == ["renamed.yaml"]


# --- a throttling answer to media_publish --------------------------------------------------------


def test_a_throttled_publish_is_checked_before_it_is_sent_again(graph_env: Env) -> None:
    # Meta answers media_publish with code 4 after the post went out (postiz #1681 saw that
    # with a subcode; LESSONS: "answered with an error after the post went live"). The next
    # attempt must ask the container first, not re-POST a container it last saw FINISHED.
    env = graph_env
    throttled = graph_error(400, 4, None, "Application request limit reached")
    [route] = [r for r in env.router.routes if "media_publish" in repr(r.pattern)]

    def commit_then_throttle(request: httpx.Request) -> httpx.Response:
        answer = env.fake.publish(request)
        return throttled if env.fake.calls("publish") == 1 else answer

    route.side_effect = commit_then_throttle
    job_id, draft = add_job(env, "post.yaml", "type: post\ncaption: Hi\nmedia: [sunrise.jpg]\n")

    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.RETRYING
    assert job.next_attempt_at is not None
    env.time.now = job.next_attempt_at
    job = publishing.publish(env.rt, job_id, draft)

    [post] = env.fake.posts
    assert job.state is State.PUBLISHED, job.error
    assert job.media_id == post["id"]
    assert env.fake.calls("publish") == 1


# --- a lost media_publish answer: the post is found, and only ours -------------------------------


def test_a_story_with_a_caption_is_found_after_a_lost_publish_answer(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    # drafts warns that a story's caption is not sent; the story on Instagram has none, so
    # reconciliation must look for "no caption", or a story it can see stays unconfirmed.
    text = "type: story\ncaption: behind the scenes\nmedia: [story.jpg]\n"
    path = write_draft(site, "story", text=text)
    sandbox.faults.lose_publish_responses = 1

    job = publish_now(site, path, fake_time, lambda _text: None)

    [story] = sandbox.posts()
    assert job.state is State.PUBLISHED, job.error
    assert job.media_id == story["id"]
    assert sum(sandbox.publish_calls().values()) == 1


def test_a_story_after_another_story_is_found_after_a_lost_publish_answer(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    # Stories have no caption, so every story in the window matches by caption. The one
    # published a moment earlier is another job's post (its media id is in the store): it
    # is not a candidate, and the lost story is identified instead of left unconfirmed.
    first = publish_now(site, write_draft(site, "story", "one.yaml"), fake_time, print)
    assert first.state is State.PUBLISHED
    sandbox.faults.lose_publish_responses = 1

    second = publish_now(site, write_draft(site, "story", "two.yaml"), fake_time, print)

    posts = {post["container_id"]: post["id"] for post in sandbox.posts()}
    assert len(posts) == 2
    assert second.state is State.PUBLISHED, second.error
    assert second.media_id == posts[second.containers[-1].id] != first.media_id
    assert sum(sandbox.publish_calls().values()) == 2


def test_reconciliation_never_binds_a_post_another_job_holds(graph_env: Env) -> None:
    # Two drafts with the same caption. The second one's media_publish answer is lost, and
    # the listing does not show its post yet (Meta's listing lags): the only post with that
    # caption is the first job's. Taking it would be a guess, and a wrong one.
    env = graph_env
    text = "type: post\ncaption: Same words\nmedia: [sunrise.jpg]\n"
    first_id, first_draft = add_job(env, "one.yaml", text)
    second_id, second_draft = add_job(env, "two.yaml", text)
    first = publishing.publish(env.rt, first_id, first_draft)
    assert first.state is State.PUBLISHED
    env.fake.publish_effects = ["lost"]
    env.fake.listing_answer = httpx.Response(200, json={"data": [env.fake.posts[0]]})

    second = publishing.publish(env.rt, second_id, second_draft)

    assert second.state is State.UNCONFIRMED
    assert second.media_id is None
    assert env.fake.calls("publish") == 2
