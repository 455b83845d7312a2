"""The publish flow's decisions: pure helpers (tables), then the flow against a scriptable
Graph API behind respx (containers with a status script, posts, quota, lost answers)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from publisher.config.settings import Config
from publisher.drafts import parse as drafts
from publisher.drafts import statusblock
from publisher.drafts.parse import Draft
from publisher.errors import (
    Ambiguous,
    ApiError,
    AuthFailed,
    Permanent,
    RateLimited,
    RebuildContainer,
    Transient,
)
from publisher.instagram import session
from publisher.job import Container, Job, State
from publisher.publishing import flow as publishing
from publisher.publishing.runtime import Runtime
from publisher.store import jobstore
from tests.support.site import DRAFTS, IG_USER_ID, FakeTime, load_config, make_site, write_draft

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BASE = "https://graph.test"
TOKEN = "EAAB-flow-token-0123456789abcdef"
FP = "f" * 64

# --- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (3.0, [1.0, 3.0, 4.5, 6.75, 10.125, 15.1875, 22.78125, 30.0, 30.0]),
        (60.0, [1.0, 30.0, 30.0, 30.0]),
        (0.5, [0.5, 0.5, 0.75, 1.125]),
        (0.0, [0.0, 0.0, 0.0]),
    ],
)
def test_poll_delays_start_at_a_second_and_grow_to_30s(
    interval: float, expected: list[float]
) -> None:
    assert list(islice(publishing.poll_delays(interval), len(expected))) == expected


@pytest.mark.parametrize(
    ("attempts", "retry_after", "expected"),
    [(1, None, 5), (2, None, 10), (3, None, 20), (1, 600.0, 600), (3, 7.0, 20)],
)
def test_retry_delay_doubles_and_honours_retry_after(
    attempts: int, retry_after: float | None, expected: int
) -> None:
    wait = publishing.retry_delay(timedelta(seconds=5), attempts, retry_after)
    assert wait == timedelta(seconds=expected)


@pytest.mark.parametrize(
    ("error", "attempts", "state", "wait"),
    [
        (Transient("x"), 1, State.RETRYING, 5),
        (Transient("x"), 2, State.RETRYING, 10),
        (Transient("x"), 3, State.FAILED, None),
        (RebuildContainer("x"), 1, State.RETRYING, 5),
        (RateLimited("x", retry_after=900.0), 1, State.RETRYING, 900),
        (Ambiguous("x"), 3, State.FAILED, None),
        (Permanent("x"), 1, State.FAILED, None),
        (AuthFailed("x"), 1, State.BLOCKED, None),
    ],
)
def test_after_failure(error: ApiError, attempts: int, state: State, wait: int | None) -> None:
    got_state, when = publishing.after_failure(
        error, attempts=attempts, max_attempts=3, backoff=timedelta(seconds=5), now=T0
    )
    assert got_state is state
    assert when == (T0 + timedelta(seconds=wait) if wait is not None else None)


def _item(media_id: str, caption: str | None, at: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {"id": media_id, "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S+0000")}
    if caption is not None:
        item["caption"] = caption
    return item


HASH = drafts.caption_hash("Hello #world")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([_item("1", "Hello #world", T0 + timedelta(seconds=2))], ["1"]),
        ([_item("1", "  Hello #world\n", T0)], ["1"]),  # stripped like the draft's
        ([_item("1", "Hello #world", T0 - timedelta(seconds=30))], ["1"]),  # clock skew
        ([_item("1", "Hello #world", T0 - timedelta(minutes=5))], []),  # older post
        ([_item("1", "Other", T0 + timedelta(seconds=2))], []),
        (
            [
                _item("1", "Hello #world", T0 + timedelta(seconds=2)),
                _item("2", "Hello #world", T0 + timedelta(seconds=9)),
            ],
            ["1", "2"],
        ),
        ([{"id": "1", "caption": "Hello #world"}], []),  # no timestamp: never a guess
    ],
)
def test_matching_media(items: list[dict[str, Any]], expected: list[str]) -> None:
    found = publishing.matching_media(items, HASH, T0)
    assert [item["id"] for item in found] == expected


def test_matching_a_story_without_caption() -> None:
    items = [_item("9", None, T0 + timedelta(seconds=1))]
    assert publishing.matching_media(items, drafts.caption_hash(""), T0) == items


def _container(cid: str, role: str, *, item: int | None = None, **extra: Any) -> Container:
    values: dict[str, Any] = {"created_at": T0, "fingerprint": FP, **extra}
    return Container(id=cid, role=role, item=item, **values)


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([_container("1", "single")], {("single", None): "1"}),
        ([_container("1", "single", status_code="EXPIRED")], {}),
        ([_container("1", "single", status_code="PUBLISHED")], {}),
        ([_container("1", "single", fingerprint="old")], {}),  # the draft was edited
        ([_container("1", "single", created_at=T0 - timedelta(hours=23, minutes=1))], {}),
        (
            [_container("1", "single", status_code="IN_PROGRESS"), _container("2", "single")],
            {("single", None): "2"},
        ),
        (
            [
                _container("1", "child", item=0),
                _container("2", "child", item=1, status_code="ERROR"),
                _container("3", "child", item=1),
            ],
            {("child", 0): "1", ("child", 1): "3"},
        ),
        (  # children of a dead parent are not reused
            [
                _container("1", "child", item=0),
                _container("2", "parent", status_code="EXPIRED"),
                _container("3", "child", item=0),
            ],
            {("child", 0): "3"},
        ),
    ],
)
def test_live_containers(containers: list[Container], expected: dict[Any, str]) -> None:
    job = Job(draft="d.yaml", containers=tuple(containers))
    live = publishing.live_containers(job, FP, T0)
    assert {key: container.id for key, container in live.items()} == expected


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ([], T0 + timedelta(hours=1)),
        ([T0 - timedelta(hours=23, minutes=50)], T0 + timedelta(minutes=10)),
        ([T0 - timedelta(hours=23, minutes=59)], T0 + timedelta(minutes=5)),
        ([T0 - timedelta(hours=2)], T0 + timedelta(hours=1)),
        ([T0 - timedelta(hours=25)], T0 + timedelta(hours=1)),  # out of the window
    ],
)
def test_quota_retry_at(published: list[datetime], expected: datetime) -> None:
    assert publishing.quota_retry_at(T0, published, timedelta(hours=24)) == expected


# --- a scriptable Graph API ------------------------------------------------------------------

Effect = str | httpx.Response


@dataclass
class FakeGraph:
    """Containers follow a status script (the last status sticks); media_publish commits a
    post unless told otherwise; every request is logged as (method, what)."""

    clock: Callable[[], datetime]
    scripts: list[list[str]] = field(default_factory=list)  # for the next containers
    texts: list[str] = field(default_factory=list)  # their `status` text, in order
    statuses: dict[str, list[str]] = field(default_factory=dict)
    status_text: dict[str, str] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)  # container -> media id
    posts: list[dict[str, Any]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    quota_used: int = 0
    # per media_publish call: "ok", "lost" (commit, then time out), "commit_502" (commit,
    # then a bare 502), "unsent" (time out before anything happens) or a Response to answer
    # (nothing committed)
    publish_effects: list[Effect] = field(default_factory=list)
    create_answers: list[httpx.Response] = field(default_factory=list)
    permalink_answer: httpx.Response | None = None
    listing_answer: httpx.Response | None = None
    before_publish: Callable[[], None] | None = None
    last_id: int = 18000000000000000

    def install(self, router: respx.MockRouter) -> None:
        user = rf"{BASE}/v25\.0/{IG_USER_ID}"
        router.get(url__regex=rf"{user}/content_publishing_limit").mock(side_effect=self.quota)
        router.post(url__regex=rf"{user}/media_publish").mock(side_effect=self.publish)
        router.post(url__regex=rf"{user}/media$").mock(side_effect=self.create)
        router.get(url__regex=rf"{user}/media\?").mock(side_effect=self.listing)
        router.get(url__regex=rf"{BASE}/v25\.0/\d+\?").mock(side_effect=self.node)

    def calls(self, what: str) -> int:
        return sum(1 for _, name in self.log if name == what)

    def quota(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("GET", "quota"))
        config = {"quota_total": 100, "quota_duration": 86400}
        return httpx.Response(
            200, json={"data": [{"quota_usage": self.quota_used, "config": config}]}
        )

    def create(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("POST", "create"))
        if self.create_answers:
            return self.create_answers.pop(0)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.last_id += 1
        container_id = str(self.last_id)
        self.statuses[container_id] = self.scripts.pop(0) if self.scripts else ["FINISHED"]
        if self.texts:
            self.status_text[container_id] = self.texts.pop(0)
        self.captions[container_id] = form.get("caption", "")
        return httpx.Response(200, json={"id": container_id})

    def status_of(self, container_id: str) -> str:
        if container_id in self.published:
            return "PUBLISHED"
        return self.statuses[container_id][0]

    def node(self, request: httpx.Request) -> httpx.Response:
        node = request.url.path.rsplit("/", 1)[-1]
        if node in self.statuses:
            self.log.append(("GET", "status"))
            status = self.status_of(node)
            script = self.statuses[node]
            if len(script) > 1:
                script.pop(0)
            body = {"id": node, "status_code": status}
            if node in self.status_text:
                body["status"] = self.status_text[node]
            return httpx.Response(200, json=body)
        self.log.append(("GET", "permalink"))
        if self.permalink_answer is not None:
            return self.permalink_answer
        [post] = [post for post in self.posts if post["id"] == node]
        return httpx.Response(200, json={"id": node, "permalink": post["permalink"]})

    def publish(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("POST", "publish"))
        if self.before_publish is not None:
            self.before_publish()
        container_id = parse_qs(request.content.decode())["creation_id"][0]
        effect = self.publish_effects.pop(0) if self.publish_effects else "ok"
        if effect == "unsent":
            raise httpx.ReadTimeout("timed out", request=request)
        if isinstance(effect, httpx.Response):
            return effect
        if self.status_of(container_id) != "FINISHED":
            return graph_error(400, 9007, 2207027, "Media ID is not available")
        media_id = f"17{len(self.posts) + 1:015d}"
        self.published[container_id] = media_id
        stamp = self.clock().strftime("%Y-%m-%dT%H:%M:%S+0000")
        self.posts.append(
            {
                "id": media_id,
                "caption": self.captions[container_id],
                "timestamp": stamp,
                "permalink": f"https://www.instagram.com/p/{media_id}/",
            }
        )
        if effect == "lost":
            raise httpx.ReadTimeout("timed out", request=request)
        if effect == "commit_502":
            return httpx.Response(502, text="Bad Gateway")
        return httpx.Response(200, json={"id": media_id})

    def listing(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("GET", "listing"))
        if self.listing_answer is not None:
            return self.listing_answer
        return httpx.Response(200, json={"data": list(reversed(self.posts))})


def graph_error(status: int, code: int, subcode: int | None, message: str) -> httpx.Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "AbCdEfTrace"
    return httpx.Response(status, json={"error": error})


@dataclass
class Env:
    config: Config
    rt: Runtime
    fake: FakeGraph
    time: FakeTime
    router: respx.MockRouter

    def job(self, job_id: str) -> Job:
        job = self.rt.store.get(job_id)
        assert job is not None
        return job


def open_env(root: Path, **publishing_settings: Any) -> Iterator[Env]:
    config = load_config(
        make_site(
            root,
            account={"api": "facebook", "base_url": BASE, "access_token": TOKEN},
            media={"host": "base_url", "public_url": "https://media.test"},
            publishing={"poll_interval": "3s", "poll_timeout": "10m", **publishing_settings},
        )
    )
    time = FakeTime(T0)
    fake = FakeGraph(time.clock)
    with respx.mock(assert_all_called=False) as router, session.make_http() as http:
        fake.install(router)
        rt = Runtime.open(config, clock=time.clock, sleep=time.sleep, http=http, retry_wait=0)
        try:
            yield Env(config, rt, fake, time, router)
        finally:
            rt.close()


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
    job = publishing.publish(env.rt, job_id, draft)

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
    publishing.publish(env.rt, job_id, draft)
    assert len(env.router.calls) == 5
    for call in env.router.calls:
        assert TOKEN not in str(call.request.url)
        assert TOKEN not in call.request.content.decode()
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_no_publish_before_finished(env: Env) -> None:
    env.fake.scripts = [["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]]
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert env.fake.calls("status") == 3
    assert env.fake.calls("publish") == 1
    assert env.time.slept == [1.0, 3.0, 4.5]
    assert job.containers[0].status_code == "PUBLISHED"


def test_a_carousel_makes_children_first_then_the_parent(env: Env) -> None:
    job_id, draft = new_job(env, "carousel")
    job = publishing.publish(env.rt, job_id, draft)

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
    job = publishing.publish(env.rt, job_id, draft)

    assert job.state is State.RETRYING
    assert job.error is not None and "still IN_PROGRESS after 20s" in job.error
    assert sum(env.time.slept) <= 20 + 1e-9
    env.fake.statuses[job.containers[0].id] = ["FINISHED"]
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert env.fake.calls("create") == 1  # the same container


def test_an_error_container_with_an_unknown_cause_is_rebuilt_once(env: Env) -> None:
    env.fake.scripts = [["ERROR"], ["ERROR"], ["FINISHED"]]
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)

    assert job.state is State.RETRYING  # two dead containers in one attempt
    assert job.error is not None and "container status ERROR" in job.error
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert [c.status_code for c in job.containers] == ["ERROR", "ERROR", "PUBLISHED"]


def test_error_status_text_is_kept(env: Env) -> None:
    env.fake.scripts = [["ERROR"]]
    env.fake.texts = ["Error: Media upload has failed with error code 2207004"]
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.FAILED  # 2207004: the image is too big, a new container won't do
    assert job.error is not None
    assert "Media upload has failed with error code 2207004" in job.error
    assert "8 MiB" in job.error


@pytest.mark.parametrize("effect", ["lost", "commit_502"])
def test_an_ambiguous_publish_that_went_out_is_found_not_repeated(env: Env, effect: str) -> None:
    env.fake.publish_effects = [effect]
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert len(env.fake.posts) == 1
    assert env.fake.calls("publish") == 1
    assert job.media_id == env.fake.posts[0]["id"]
    assert job.permalink == env.fake.posts[0]["permalink"]
    assert sum(env.time.slept) >= 60  # waited 2 x the read timeout before trusting anything


def test_an_ambiguous_publish_that_did_not_go_out_is_published_again(env: Env) -> None:
    env.fake.publish_effects = ["unsent"]
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)

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
    job = publishing.publish(env.rt, job_id, draft)

    assert job.state is State.UNCONFIRMED
    assert job.media_id is None
    assert job.error is not None
    assert "2 posts with this caption" in job.error
    assert "Look at the account's profile" in job.error
    again = publishing.publish(env.rt, job_id, draft)
    assert again.state is State.UNCONFIRMED
    assert env.fake.calls("publish") == 1


def test_a_published_container_without_the_post_is_unconfirmed(env: Env) -> None:
    job_id, draft = new_job(env)
    env.fake.publish_effects = ["lost"]
    env.fake.listing_answer = httpx.Response(200, json={"data": []})  # not visible (yet)
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.UNCONFIRMED
    assert job.error is not None and "no post with this caption" in job.error


def test_exhausted_quota_makes_no_container_and_no_publish(env: Env) -> None:
    env.fake.quota_used = 100
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)

    assert job.state is State.RETRYING
    assert job.attempts == 0
    assert job.next_attempt_at == T0 + timedelta(hours=1)
    assert [name for _, name in env.fake.log] == ["quota"]
    # the quota is cached for a minute: a retry right away asks nothing
    publishing.publish(env.rt, job_id, draft)
    assert [name for _, name in env.fake.log] == ["quota"]


def test_quota_refused_by_media_publish_waits_too(env: Env) -> None:
    env.fake.publish_effects = [graph_error(400, 9, 2207042, "maximum number of posts")]
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)
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
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is state
    assert job.error is not None and words in job.error
    assert env.fake.calls("publish") == 0
    assert statusblock.read(draft.path.read_bytes())["error"] == job.error  # type: ignore[index]


def test_transient_failures_fail_after_the_configured_attempts(env: Env) -> None:
    env.fake.create_answers = [graph_error(500, 2, None, "temporary")] * 100
    job_id, draft = new_job(env)
    waits = []
    for _ in range(3):
        job = publishing.publish(env.rt, job_id, draft)
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
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.RETRYING
    assert job.next_attempt_at == env.time.now + timedelta(seconds=900)


def test_a_failed_permalink_read_never_fails_or_republishes(env: Env) -> None:
    env.fake.permalink_answer = graph_error(500, 1, None, "An unknown error occurred")
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert job.permalink is None
    assert job.media_id is not None
    assert "permalink could not be read" in (job.error or "")
    assert env.fake.calls("publish") == 1


def test_prepare_ahead_then_publish_reuses_the_container(env: Env) -> None:
    job_id, draft = new_job(env, "carousel")
    prepared = publishing.prepare(env.rt, job_id, draft)
    assert prepared.state is State.SCHEDULED
    assert [c.status_code for c in prepared.containers] == ["FINISHED"] * 4
    before = len(env.fake.log)
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert [name for _, name in env.fake.log[before:]] == ["quota", "publish", "permalink"]


def test_an_edited_draft_gets_new_containers(env: Env) -> None:
    job_id, draft = new_job(env)
    publishing.prepare(env.rt, job_id, draft)
    edited = write_draft(env.config, "post", text=DRAFTS["post"].replace("First", "Last"))
    new_draft = drafts.load(edited, env.config).draft
    assert new_draft is not None and new_draft.fingerprint != draft.fingerprint
    job = publishing.publish(env.rt, job_id, new_draft)
    assert job.state is State.PUBLISHED
    assert env.fake.calls("create") == 2
    assert env.fake.posts[0]["caption"].startswith("Last light")


def test_prepare_never_raises_for_api_errors(env: Env) -> None:
    env.fake.create_answers = [graph_error(400, 36003, 2207009, "aspect ratio")]
    job_id, draft = new_job(env)
    job = publishing.prepare(env.rt, job_id, draft)
    assert job.state is State.SCHEDULED and job.containers == ()


def test_a_job_claimed_in_this_process_is_left_alone(env: Env) -> None:
    job_id, draft = new_job(env)
    assert env.rt.claim(job_id)
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.SCHEDULED
    assert env.fake.log == []
    env.rt.release(job_id)


@pytest.mark.parametrize("state", [State.CANCELLED, State.PAUSED, State.PUBLISHED, State.FAILED])
def test_only_waiting_jobs_are_claimed(env: Env, state: State) -> None:
    job_id, draft = new_job(env)
    env.rt.store.transition(job_id, state)
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is state
    assert publishing.prepare(env.rt, job_id, draft).state is state
    assert env.fake.log == []


def test_an_interrupted_run_is_reconciled_before_anything_else(env: Env) -> None:
    """A job left `publishing` with publish_requested_at by a dead process whose
    media_publish went out: found, never published again."""
    job_id, draft = new_job(env)
    publishing.prepare(env.rt, job_id, draft)
    [container] = env.job(job_id).containers
    # what a process killed right after sending media_publish leaves behind:
    env.fake.publish(
        httpx.Request(
            "POST", f"{BASE}/v25.0/{IG_USER_ID}/media_publish", data={"creation_id": container.id}
        )
    )
    env.rt.store.transition(job_id, State.PUBLISHING, publish_requested_at=T0, attempts=1)
    env.fake.log.clear()

    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert job.media_id == env.fake.posts[0]["id"]
    assert [name for _, name in env.fake.log] == ["status", "listing"]
    assert any("claimed again after an interrupted run" in e.note for e in job.history)


def test_reconcile_ignores_jobs_that_need_none(env: Env) -> None:
    job_id, draft = new_job(env)
    assert publishing.reconcile(env.rt, job_id, draft).state is State.SCHEDULED
    assert env.fake.log == []


def test_reconcile_without_a_draft_does_not_publish(env: Env) -> None:
    job_id, draft = new_job(env)
    env.fake.publish_effects = ["unsent", "unsent", "unsent", "unsent"]
    env.rt.store.update(job_id, account="main", type="post")
    publishing.prepare(env.rt, job_id, draft)
    [container] = env.job(job_id).containers
    env.rt.store.transition(job_id, State.PUBLISHING, publish_requested_at=T0)
    job = publishing.reconcile(env.rt, job_id, None)
    assert job.state is State.FAILED
    assert "the draft file post.yaml is gone" in (job.error or "")
    assert env.fake.calls("publish") == 0
    assert container.id in env.fake.statuses


def test_every_error_sentence_names_step_code_and_trace(env: Env) -> None:
    env.fake.publish_effects = [graph_error(400, 4, 2207051, "spam")]
    job_id, draft = new_job(env)
    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.FAILED
    container = job.parent_container()
    assert container is not None
    assert f"publish failed, container {container.id}, code 4/2207051" in (job.error or "")
    assert "fbtrace_id AbCdEfTrace" in (job.error or "")
    # a Permanent refusal may hide a post that went out: a later retry checks first
    assert job.publish_requested_at is not None


def test_the_api_calls_are_recorded_as_json(env: Env) -> None:
    job_id, draft = new_job(env)
    publishing.publish(env.rt, job_id, draft)
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
    publishing.publish(env.rt, job_id, draft)
    assert {call.request.headers["Authorization"] for call in env.router.calls} == {
        f"Bearer {new_token}"
    }
