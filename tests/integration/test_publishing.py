"""The publish flow, exactly once, against a scriptable Graph API behind respx (containers
with a status script, posts, quota, lost answers): what each outcome leaves in the job store
and the draft, and which calls it took."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from publisher import drafts
from publisher.drafts import Draft, statusblock
from publisher.job import Job, State
from publisher.publishing import containers, flow
from publisher.store import jobstore
from tests.support.fakegraph import BASE, T0, TOKEN, Env, open_env
from tests.support.graphclient import graph_error
from tests.support.site import DRAFTS, IG_USER_ID, write_draft


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from open_env(tmp_path)


def new_job(env: Env, kind: str = "post", text: str = "") -> tuple[str, Draft]:
    path = write_draft(env.config, kind, text=text)
    loaded = drafts.load(path, env.config)
    assert loaded.draft is not None, loaded.problems
    draft = loaded.draft
    job = env.rt.store.add(
        Job(draft=draft.rel, account=draft.account, type=draft.type, scheduled_for=T0)
    )
    return job.id, draft


# --- the flow --------------------------------------------------------------------------------


def test_a_single_image_takes_five_calls_and_writes_ahead(env: Env) -> None:
    job_id, draft = new_job(env)

    def publish_requested_is_on_disk() -> None:
        [on_disk] = jobstore.read_jobs(env.config.state_dir)
        assert on_disk.publish_requested_at is not None
        assert on_disk.parent_container() is not None

    env.fake.before_publish = publish_requested_is_on_disk
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert [name for _, name in env.fake.log] == [
        "quota",
        "create",
        "status",
        "publish",
        "permalink",
    ]
    assert len(job.api_calls) == 5
    assert all(TOKEN not in call.endpoint for call in job.api_calls)
    assert job.media_id == env.fake.posts[0]["id"]
    assert job.permalink == env.fake.posts[0]["permalink"]
    assert job.attempts == 1
    assert env.time.slept == [1.0]  # the first status check comes after about a second
    status = statusblock.read(draft.path.read_bytes())
    assert status is not None and status["state"] == "published"


def test_the_token_travels_only_in_the_authorization_header(env: Env) -> None:
    job_id, draft = new_job(env)
    flow.publish(env.rt, job_id, draft)
    assert len(env.router.calls) == 5
    for call in env.router.calls:
        assert TOKEN not in str(call.request.url)
        assert TOKEN not in call.request.content.decode()
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_no_publish_before_finished(env: Env) -> None:
    env.fake.scripts = [["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert env.fake.calls("status") == 3
    assert env.fake.calls("publish") == 1
    assert env.time.slept == [1.0, 3.0, 4.5]
    assert job.containers[0].status_code == "PUBLISHED"


def test_a_carousel_makes_children_first_then_the_parent(env: Env) -> None:
    job_id, draft = new_job(env, "carousel")
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert [(c.role, c.item) for c in job.containers] == [
        ("child", 0),
        ("child", 1),
        ("child", 2),
        ("parent", None),
    ]
    names = [name for _, name in env.fake.log]
    # every child polled to FINISHED before the parent is made
    assert names[:8] == ["quota", *["create"] * 3, *["status"] * 3, "create"]
    assert env.fake.captions[job.containers[-1].id].startswith("New collection")


@pytest.fixture
def short_poll_env(tmp_path: Path) -> Iterator[Env]:
    yield from open_env(tmp_path, poll_timeout="20s")


def test_a_container_stuck_in_progress_is_polled_again_next_attempt(short_poll_env: Env) -> None:
    env = short_poll_env
    env.fake.scripts = [["IN_PROGRESS"]]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.RETRYING
    assert job.error is not None and "still IN_PROGRESS after 20s" in job.error
    assert sum(env.time.slept) <= 20 + 1e-9
    env.fake.statuses[job.containers[0].id] = ["FINISHED"]
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert env.fake.calls("create") == 1  # the same container


def test_an_error_container_with_an_unknown_cause_is_rebuilt_once(env: Env) -> None:
    env.fake.scripts = [["ERROR"], ["ERROR"], ["FINISHED"]]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.RETRYING  # two dead containers in one attempt
    assert job.error is not None and "container status ERROR" in job.error
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert [c.status_code for c in job.containers] == ["ERROR", "ERROR", "PUBLISHED"]


def test_error_status_text_is_kept(env: Env) -> None:
    env.fake.scripts = [["ERROR"]]
    env.fake.texts = ["Error: Media upload has failed with error code 2207004"]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.FAILED  # 2207004: the image is too big, a new container won't do
    assert job.error is not None
    assert "Media upload has failed with error code 2207004" in job.error
    assert "8 MiB" in job.error


@pytest.mark.parametrize(
    ("effect", "settle_s"),
    [
        ("lost", 60),  # no answer: 2 x the read timeout after the request
        ("commit_502", 5),  # Meta answered: the request is over, a few seconds
    ],
)
def test_an_ambiguous_publish_that_went_out_is_found_not_repeated(
    env: Env, effect: str, settle_s: int
) -> None:
    env.fake.publish_effects = [effect]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert len(env.fake.posts) == 1
    assert env.fake.calls("publish") == 1
    assert job.media_id == env.fake.posts[0]["id"]
    assert job.permalink == env.fake.posts[0]["permalink"]
    # the first second is the poll before FINISHED; then the settle wait, before trusting
    # anything the container says
    assert env.time.slept[-1] >= settle_s - 1
    assert sum(env.time.slept) < settle_s + 2


def test_an_ambiguous_publish_that_did_not_go_out_is_published_again(env: Env) -> None:
    env.fake.publish_effects = ["unsent"]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert len(env.fake.posts) == 1
    assert env.fake.calls("publish") == 2
    assert any("FINISHED, not published" in event.note for event in job.history)


def test_two_candidate_posts_leave_the_job_unconfirmed_for_good(env: Env) -> None:
    job_id, draft = new_job(env)
    env.fake.publish_effects = ["lost"]
    env.fake.posts.append(
        {
            "id": "17999",
            "caption": draft.caption,
            "timestamp": (T0 + timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "permalink": "https://www.instagram.com/p/other/",
        }
    )
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.UNCONFIRMED
    assert job.media_id is None
    assert job.error is not None
    assert "2 posts with this caption" in job.error
    assert "Look at the account's profile" in job.error
    again = flow.publish(env.rt, job_id, draft)
    assert again.state is State.UNCONFIRMED
    assert env.fake.calls("publish") == 1


def test_a_published_container_without_the_post_is_unconfirmed(env: Env) -> None:
    job_id, draft = new_job(env)
    env.fake.publish_effects = ["lost"]
    env.fake.listing_answer = httpx.Response(200, json={"data": []})  # not visible (yet)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.UNCONFIRMED
    assert job.error is not None and "no post with this caption" in job.error


def test_exhausted_quota_makes_no_container_and_no_publish(env: Env) -> None:
    env.fake.quota_used = 100
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.RETRYING
    assert job.attempts == 0
    assert job.next_attempt_at == T0 + timedelta(hours=1)
    assert [name for _, name in env.fake.log] == ["quota"]
    # the quota is cached for a minute: a retry right away asks nothing
    flow.publish(env.rt, job_id, draft)
    assert [name for _, name in env.fake.log] == ["quota"]


def test_quota_refused_by_media_publish_waits_too(env: Env) -> None:
    env.fake.publish_effects = [graph_error(400, 9, 2207042, "maximum number of posts")]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.RETRYING
    assert job.attempts == 0
    assert job.publish_requested_at is None  # a definite refusal: nothing went out


@pytest.mark.parametrize(
    ("answer", "state", "words"),
    [
        (graph_error(400, 190, 463, "Session has expired"), State.BLOCKED, "publisher accounts"),
        (
            graph_error(400, 36003, 2207009, "aspect ratio"),
            State.FAILED,
            "create failed, code 36003/2207009, fbtrace_id AbCdEfTrace",
        ),
        (graph_error(500, 2, None, "Service temporarily unavailable"), State.RETRYING, "code 2"),
    ],
)
def test_create_errors_become_states_with_a_sentence(
    env: Env, answer: httpx.Response, state: State, words: str
) -> None:
    env.fake.create_answers = [answer] * 10
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is state
    assert job.error is not None and words in job.error
    assert env.fake.calls("publish") == 0
    assert statusblock.read(draft.path.read_bytes())["error"] == job.error  # type: ignore[index]


def test_transient_failures_fail_after_the_configured_attempts(env: Env) -> None:
    env.fake.create_answers = [graph_error(500, 2, None, "temporary")] * 100
    job_id, draft = new_job(env)
    waits = []
    for _ in range(3):
        job = flow.publish(env.rt, job_id, draft)
        if job.next_attempt_at is not None:
            waits.append(job.next_attempt_at - env.time.now)
    assert job.state is State.FAILED
    assert job.attempts == 3
    assert "gave up after 3 attempt(s)" in (job.error or "")
    assert waits == [timedelta(seconds=5), timedelta(seconds=10)]


def test_a_long_rate_limit_is_honoured(env: Env) -> None:
    throttled = graph_error(400, 4, None, "Application request limit reached")
    throttled.headers["Retry-After"] = "900"
    env.fake.create_answers = [throttled]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.RETRYING
    assert job.next_attempt_at == env.time.now + timedelta(seconds=900)


def test_a_failed_permalink_read_never_fails_or_republishes(env: Env) -> None:
    env.fake.permalink_answer = graph_error(500, 1, None, "An unknown error occurred")
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert job.permalink is None
    assert job.media_id is not None
    assert "permalink could not be read" in (job.error or "")
    assert env.fake.calls("publish") == 1


def test_prepare_ahead_then_publish_reuses_the_container(env: Env) -> None:
    job_id, draft = new_job(env, "carousel")
    prepared = containers.prepare(env.rt, job_id, draft)
    assert prepared.state is State.SCHEDULED
    assert [c.status_code for c in prepared.containers] == ["FINISHED"] * 4
    before = len(env.fake.log)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert [name for _, name in env.fake.log[before:]] == ["quota", "publish", "permalink"]


def test_an_edited_draft_gets_new_containers(env: Env) -> None:
    job_id, draft = new_job(env)
    containers.prepare(env.rt, job_id, draft)
    edited = write_draft(env.config, "post", text=DRAFTS["post"].replace("First", "Last"))
    new_draft = drafts.load(edited, env.config).draft
    assert new_draft is not None and new_draft.fingerprint != draft.fingerprint
    job = flow.publish(env.rt, job_id, new_draft)
    assert job.state is State.PUBLISHED
    assert env.fake.calls("create") == 2
    assert env.fake.posts[0]["caption"].startswith("Last light")


def test_prepare_never_raises_for_api_errors(env: Env) -> None:
    env.fake.create_answers = [graph_error(400, 36003, 2207009, "aspect ratio")]
    job_id, draft = new_job(env)
    job = containers.prepare(env.rt, job_id, draft)
    assert job.state is State.SCHEDULED and job.containers == ()


def test_a_job_claimed_in_this_process_is_left_alone(env: Env) -> None:
    job_id, draft = new_job(env)
    assert env.rt.claim(job_id)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.SCHEDULED
    assert env.fake.log == []
    env.rt.release(job_id)


@pytest.mark.parametrize("state", [State.CANCELLED, State.PAUSED, State.PUBLISHED, State.FAILED])
def test_only_waiting_jobs_are_claimed(env: Env, state: State) -> None:
    job_id, draft = new_job(env)
    env.rt.store.transition(job_id, state)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is state
    assert containers.prepare(env.rt, job_id, draft).state is state
    assert env.fake.log == []


def test_an_interrupted_run_is_reconciled_before_anything_else(env: Env) -> None:
    """A job left `publishing` with publish_requested_at by a dead process whose
    media_publish went out: found, never published again."""
    job_id, draft = new_job(env)
    containers.prepare(env.rt, job_id, draft)
    [container] = env.job(job_id).containers
    # what a process killed right after sending media_publish leaves behind:
    env.fake.publish(
        httpx.Request(
            "POST", f"{BASE}/v25.0/{IG_USER_ID}/media_publish", data={"creation_id": container.id}
        )
    )
    env.rt.store.transition(job_id, State.PUBLISHING, publish_requested_at=T0, attempts=1)
    env.fake.log.clear()

    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert job.media_id == env.fake.posts[0]["id"]
    assert [name for _, name in env.fake.log] == ["status", "listing"]
    assert any("claimed again after an interrupted run" in e.note for e in job.history)


def test_reconcile_ignores_jobs_that_need_none(env: Env) -> None:
    job_id, draft = new_job(env)
    assert flow.reconcile(env.rt, job_id, draft).state is State.SCHEDULED
    assert env.fake.log == []


def test_reconcile_without_a_draft_does_not_publish(env: Env) -> None:
    job_id, draft = new_job(env)
    env.fake.publish_effects = ["unsent", "unsent", "unsent", "unsent"]
    env.rt.store.update(job_id, account="main", type="post")
    containers.prepare(env.rt, job_id, draft)
    [container] = env.job(job_id).containers
    env.rt.store.transition(job_id, State.PUBLISHING, publish_requested_at=T0)
    job = flow.reconcile(env.rt, job_id, None)
    assert job.state is State.FAILED
    assert "the draft file post.yaml is gone" in (job.error or "")
    assert env.fake.calls("publish") == 0
    assert container.id in env.fake.statuses


def test_every_error_sentence_names_step_code_and_trace(env: Env) -> None:
    env.fake.publish_effects = [graph_error(400, 4, 2207051, "spam")]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.FAILED
    container = job.parent_container()
    assert container is not None
    assert f"publish failed, container {container.id}, code 4/2207051" in (job.error or "")
    assert "fbtrace_id AbCdEfTrace" in (job.error or "")
    # a Permanent refusal may hide a post that went out: a later retry checks first
    assert job.publish_requested_at is not None


def test_the_api_calls_are_recorded_as_json(env: Env) -> None:
    job_id, draft = new_job(env)
    flow.publish(env.rt, job_id, draft)
    document = json.loads((env.config.state_dir / "jobs.json").read_text())
    [stored] = document["jobs"].values()
    assert [call["step"] for call in stored["api_calls"]] == [
        "quota",
        "create",
        "poll",
        "publish",
        "permalink",
    ]


def test_reload_takes_new_tokens_and_media_settings(env: Env, tmp_path: Path) -> None:
    job_id, draft = new_job(env)
    new_token = "EAAB-rotated-token-9876543210fedcba"
    accounts = dict(env.config.accounts)
    accounts["main"] = accounts["main"].model_copy(update={"access_token": SecretStr(new_token)})
    media = env.config.media.model_copy(update={"public_url": "https://cdn.test"})
    env.rt.reload(env.config.model_copy(update={"accounts": accounts, "media": media}))

    image = draft.media[0].path
    assert image is not None
    assert env.rt.media.url_for(image) == "https://cdn.test/sunrise.jpg"
    flow.publish(env.rt, job_id, draft)
    assert {call.request.headers["Authorization"] for call in env.router.calls} == {
        f"Bearer {new_token}"
    }
