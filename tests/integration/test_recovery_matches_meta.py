"""Recovery that matches what Meta really answers (issue 9): captions read back without
their "@", stories that Instagram Login cannot list, throttling that makes the job wait
instead of retrying on the spot, calls spaced out when usage runs high, the real publishing
limit kept for the plan, and prepare-ahead polls that never hold up the slot.

Against the sandbox over loopback (the sandbox answers like Meta in each of these), or the
scriptable fake account of tests/support/fakegraph.py; the clock is fake throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from publisher import drafts
from publisher.commands import plan
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.drafts import Draft
from publisher.instagram import usage
from publisher.job import Job, State
from publisher.publishing import containers, flow, limits
from publisher.sandbox.server import SandboxServer
from tests.support.clock import SleepClock
from tests.support.fakegraph import T0, Env
from tests.support.graphclient import graph_error
from tests.support.site import DRAFTS, load_config, make_site, write_draft

MENTIONS = (
    "type: post\n"
    "caption: |\n  Golden hour with @jane.doe and @joe_smith.\n  #sunrise\n"
    "media: [sunrise.jpg]\n"
)


@pytest.fixture
def fake_time() -> SleepClock:
    return SleepClock()


@pytest.fixture
def sandbox(fake_time: SleepClock) -> Iterator[SandboxServer]:
    # Meta, for an app user without an admin role: captions read back without the "@".
    server = SandboxServer(clock=fake_time, captions_without_at=True)
    server.start()
    yield server
    server.close()


def sandbox_site(root: Path, sandbox: SandboxServer, **account: str) -> Config:
    return load_config(make_site(root, account={"base_url": sandbox.base_url, **account}))


def run(config: Config, path: Path, fake_time: SleepClock) -> tuple[Job, list[str]]:
    lines: list[str] = []
    job = publish_draft(config, path, progress=lines.append, clock=fake_time, sleep=fake_time.sleep)
    return job, lines


# --- captions read back without "@" ---------------------------------------------------------


@pytest.mark.parametrize("lose_with", ["drop", "502"])
def test_a_post_with_mentions_whose_answer_was_lost_ends_published(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock, lose_with: str
) -> None:
    site = sandbox_site(tmp_path, sandbox)
    path = write_draft(site, "post", text=MENTIONS)
    sandbox.faults.lose_publish_responses = 1
    sandbox.faults.lose_publish_with = lose_with

    job, lines = run(site, path, fake_time)

    [post] = sandbox.posts()
    assert job.state is State.PUBLISHED, (job.error, lines)
    assert job.media_id == post["id"]
    assert job.permalink == post["permalink"]
    assert any("found after an interrupted publish" in line for line in lines)
    assert sum(sandbox.publish_calls().values()) == 1
    # what the sandbox reads back is what Meta reads back: no "@"
    with httpx.Client(
        base_url=f"{sandbox.base_url}/v25.0", headers={"Authorization": "Bearer a-reader-token"}
    ) as api:
        read = api.get(f"/{post['id']}", params={"fields": "caption"}).json()
    assert "@" not in read["caption"] and "jane.doe" in read["caption"]


def test_a_story_on_instagram_login_is_never_looked_up_and_says_what_to_check(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    site = sandbox_site(tmp_path, sandbox, api="instagram", access_token="IGAA-story-token-123")
    path = write_draft(site, "story")
    sandbox.faults.lose_publish_responses = 1

    job, _lines = run(site, path, fake_time)

    assert job.state is State.UNCONFIRMED
    assert job.error is not None
    assert "Facebook Login only" in job.error
    assert "story in the Instagram app" in job.error
    assert not any(call.endpoint.endswith("/stories") for call in job.api_calls)
    assert len(sandbox.posts()) == 1  # it went out; it is never published again


def test_a_story_on_facebook_login_is_found_through_stories(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    site = sandbox_site(tmp_path, sandbox, api="facebook", access_token="EAAB-story-token-123")
    path = write_draft(site, "story")
    sandbox.faults.lose_publish_responses = 1

    job, _lines = run(site, path, fake_time)

    assert job.state is State.PUBLISHED, job.error
    assert any(call.endpoint.endswith("/stories") for call in job.api_calls)


# --- the real publishing limit ---------------------------------------------------------------


def test_the_accounts_real_limit_is_kept_for_the_plan(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    site = sandbox_site(tmp_path, sandbox)
    sandbox.faults.quota_total = 50
    job, _lines = run(site, write_draft(site, "post"), fake_time)
    assert job.state is State.PUBLISHED
    assert limits.totals(site.state_dir) == {"main": 50}


def test_the_plan_warns_against_the_kept_limit(tmp_path: Path) -> None:
    site = load_config(make_site(tmp_path))
    for hour in (9, 10, 11):
        text = DRAFTS["post"] + f"publish_at: 2030-06-01 {hour:02d}:00\n"
        write_draft(site, "post", name=f"post-{hour}.yaml", text=text)
    now = datetime(2030, 5, 1, tzinfo=UTC)
    assert "quota" not in plan.text(site, clock=lambda: now)  # unknown: Meta's 100 at most

    limits.remember(site.state_dir, "main", 2, 86400, now)
    warned = plan.text(site, clock=lambda: now)
    assert "account main: up to 3 posts within 24 h" in warned
    assert "publishing quota of 2" in warned


# --- calls spaced out when usage runs high ---------------------------------------------------


def test_calls_are_spaced_out_when_usage_runs_high(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    site = sandbox_site(tmp_path, sandbox)
    sandbox.faults.usage_percent = 95
    job, _lines = run(site, write_draft(site, "post"), fake_time)
    assert job.state is State.PUBLISHED
    gap = timedelta(seconds=usage.spacing(95))  # about 34 s
    # from the first answer on (it said 95 %), no two calls closer than that
    starts = [call.at for call in job.api_calls]
    assert len(starts) == 7
    assert all(later - earlier >= gap for earlier, later in pairwise(starts))
    assert all(call.usage for call in job.api_calls)


# --- throttling: the job waits, nothing is retried on the spot -------------------------------


@pytest.fixture
def env(graph_env: Env) -> Env:
    return graph_env


def new_job(env: Env, kind: str = "post", **fields: object) -> tuple[str, Draft]:
    path = write_draft(env.config, kind)
    draft = drafts.load(path, env.config).draft
    assert draft is not None
    job = env.rt.store.add(
        Job(draft=draft.rel, account=draft.account, type=draft.type, scheduled_for=T0, **fields)
    )
    return job.id, draft


def throttled(code: int = 4, minutes: int = 10) -> httpx.Response:
    answer = graph_error(400, code, None, "Application request limit reached")
    entry = {"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": minutes}
    usage_header = {"1784": [entry]}
    answer.headers["X-Business-Use-Case-Usage"] = json.dumps(usage_header)
    return answer


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
def test_a_throttled_create_makes_the_job_wait_without_retrying_inline(env: Env, code: int) -> None:
    env.fake.create_answers = [throttled(code)]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.RETRYING
    assert job.next_attempt_at == env.time.now + timedelta(minutes=10)
    assert job.attempts == 0  # the post did nothing wrong
    assert env.fake.calls("create") == 1
    assert env.time.slept == []
    assert job.error is not None and f"code {code}" in job.error and "next try at" in job.error


def test_a_throttled_quota_read_waits_too(env: Env) -> None:
    job_id, draft = new_job(env)
    quota_route = env.router.routes[0]  # content_publishing_limit, installed first
    quota_route.side_effect = [throttled(minutes=3)]
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.RETRYING
    assert job.next_attempt_at == env.time.now + timedelta(minutes=3)
    assert env.fake.calls("create") == 0


def test_while_held_back_no_call_reaches_meta(env: Env) -> None:
    job_id, draft = new_job(env)
    other_id, _ = new_job(env)
    env.fake.create_answers = [throttled(minutes=30)]
    flow.publish(env.rt, job_id, draft)
    calls = len(env.router.calls)
    second = flow.publish(env.rt, other_id, draft)
    assert second.state is State.RETRYING
    assert len(env.router.calls) == calls  # calls made while throttled extend the block
    assert second.next_attempt_at is not None
    assert second.next_attempt_at >= env.time.now + timedelta(minutes=29)


def test_a_throttled_media_publish_is_reconciled_before_anything_else(env: Env) -> None:
    env.fake.publish_effects = [throttled()]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.RETRYING
    assert job.publish_requested_at is not None  # code 4 may hide a post (postiz #1681)

    env.time.now = job.next_attempt_at or env.time.now
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert env.fake.calls("publish") == 2
    assert len(env.fake.posts) == 1
    assert any("FINISHED, not published" in event.note for event in job.history)


# --- prepare-ahead polls never hold up the slot ------------------------------------------------


def test_prepare_ahead_stops_polling_at_the_slot(env: Env) -> None:
    env.fake.scripts = [["IN_PROGRESS"] * 20 + ["FINISHED"]]
    slot = T0 + timedelta(minutes=5)
    job_id, draft = new_job(env)
    env.rt.store.update(job_id, scheduled_for=slot)

    prepared = containers.prepare(env.rt, job_id, draft)

    assert prepared.state is State.SCHEDULED
    assert env.time.now == slot  # the last check at the slot, not a minute after it
    waits = env.time.slept
    assert max(waits) <= 60
    assert all(wait == 60 for wait in waits[8:-1])  # after the first minute, once a minute
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert env.fake.calls("create") == 1  # the same container, polled on
