"""A media_publish in doubt (issue 8, fault 11): how long the flow waits before it asks the
container depends on whether Meta answered (a 5xx: a few seconds) or not (a timeout: twice
the read timeout); the kind of doubt is on the job, so a restart waits the same; a container
that cannot be read is looked at again later, never `unconfirmed` (the SPEC keeps that for a
PUBLISHED container whose post cannot be identified). The Graph API is respx's, the clock
moves only when the flow sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from publisher import drafts
from publisher.drafts import Draft
from publisher.job import Doubt, Job, State
from publisher.publishing import containers, flow
from tests.support.fakegraph import T0, Env, open_env
from tests.support.site import write_draft


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from open_env(tmp_path)


def new_job(env: Env) -> tuple[str, Draft]:
    path = write_draft(env.config, "post")
    loaded = drafts.load(path, env.config)
    assert loaded.draft is not None, loaded.problems
    draft = loaded.draft
    job = env.rt.store.add(
        Job(draft=draft.rel, account=draft.account, type=draft.type, scheduled_for=T0)
    )
    return job.id, draft


def transient_500() -> httpx.Response:
    """Meta's temporary error (code 2, is_transient): nothing was published."""
    error = {"message": "An unexpected error has occurred", "code": 2, "is_transient": True}
    return httpx.Response(500, json={"error": error})


def status_reads(env: Env, answer: httpx.Response | None) -> None:
    """Answer every container status read (and permalink read) with `answer`; None: the
    fake Graph API's own answers again."""

    def answered(_request: httpx.Request) -> httpx.Response:
        assert answer is not None
        return answer

    [route] = [
        route
        for route in env.router.routes
        if route.side_effect == env.fake.node or getattr(route.side_effect, "swapped", False)
    ]
    answered.swapped = True  # type: ignore[attr-defined]
    route.side_effect = env.fake.node if answer is None else answered


def test_after_an_answer_the_container_is_checked_within_seconds(env: Env) -> None:
    env.fake.publish_effects = [transient_500()]  # answered; nothing went out
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert len(env.fake.posts) == 1
    assert env.fake.calls("publish") == 2  # checked FINISHED, then published once
    assert 5.0 in env.time.slept
    assert max(env.time.slept) < 10  # not the 60 s of a request left without an answer
    assert job.publish_doubt is None  # settled
    assert any("Meta answered" not in e.note and "FINISHED" in e.note for e in job.history)


def test_after_a_timeout_the_container_is_checked_after_twice_the_read_timeout(
    env: Env,
) -> None:
    env.fake.publish_effects = ["lost"]  # published, then the answer timed out
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.PUBLISHED
    assert (len(env.fake.posts), env.fake.calls("publish")) == (1, 1)
    assert max(env.time.slept) == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("doubt", "waited"),
    [
        (Doubt(kind="answered", at=T0, reason="HTTP 500"), 5.0),
        (Doubt(kind="no_answer", at=T0, reason="ReadTimeout"), 60.0),
        (None, 60.0),  # killed while waiting for the answer: nothing known, the long wait
    ],
)
def test_a_restart_waits_as_long_as_the_recorded_doubt_says(
    env: Env, doubt: Doubt | None, waited: float
) -> None:
    job_id, draft = new_job(env)
    containers.prepare(env.rt, job_id, draft)
    env.time.now = T0
    # what a process killed during the settle wait leaves behind (nothing went out)
    env.rt.store.transition(
        job_id, State.PUBLISHING, publish_requested_at=T0, publish_doubt=doubt, attempts=1
    )
    env.time.slept.clear()

    job = flow.publish(env.rt, job_id, draft)
    assert env.time.slept[0] == pytest.approx(waited)
    assert job.state is State.PUBLISHED
    assert (len(env.fake.posts), env.fake.calls("publish")) == (1, 1)


def test_the_kind_of_doubt_is_recorded_before_the_check(env: Env) -> None:
    env.fake.publish_effects = [transient_500()]
    job_id, draft = new_job(env)
    # from the publish on, the check cannot be made: the job waits for it
    env.fake.before_publish = lambda: status_reads(env, transient_500())
    job = flow.publish(env.rt, job_id, draft)

    assert job.state is State.RETRYING
    assert job.publish_doubt is not None
    assert job.publish_doubt.kind == "answered"
    assert job.publish_doubt.checks == 1
    assert job.publish_requested_at is not None  # never published blind


def test_a_container_that_cannot_be_read_is_checked_later_never_unconfirmed(env: Env) -> None:
    env.fake.publish_effects = ["lost"]
    job_id, draft = new_job(env)
    env.fake.before_publish = lambda: status_reads(env, transient_500())
    attempts = env.config.publishing.attempts
    for round_number in range(1, attempts + 3):  # more rounds than attempts
        job = flow.publish(env.rt, job_id, draft)
        assert job.state is State.RETRYING, job.error
        assert job.error is not None and "could not check whether the post went out" in job.error
        assert job.next_attempt_at is not None and job.next_attempt_at > env.time()
        assert job.publish_doubt is not None and job.publish_doubt.checks == round_number
        env.time.now = job.next_attempt_at
    assert env.fake.calls("publish") == 1

    status_reads(env, None)  # readable again: PUBLISHED, and the post is found
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.PUBLISHED
    assert job.media_id == env.fake.posts[0]["id"]
    assert (len(env.fake.posts), env.fake.calls("publish")) == (1, 1)


def test_an_unknown_container_status_is_checked_later(env: Env) -> None:
    env.fake.publish_effects = ["unsent"]
    job_id, draft = new_job(env)
    unknown = httpx.Response(200, json={"id": "1", "status_code": "SOMETHING_NEW"})
    env.fake.before_publish = lambda: status_reads(env, unknown)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.RETRYING
    assert job.error is not None and "SOMETHING_NEW" in job.error
    assert env.fake.calls("publish") == 1


def test_in_doubt_after_the_last_attempt_fails_once_nothing_went_out(env: Env) -> None:
    attempts = env.config.publishing.attempts
    env.fake.publish_effects = [transient_500() for _ in range(attempts)]
    job_id, draft = new_job(env)
    job = flow.publish(env.rt, job_id, draft)
    assert job.state is State.FAILED
    assert job.error is not None and f"gave up after {attempts} attempt(s)" in job.error
    assert (len(env.fake.posts), env.fake.calls("publish")) == (0, attempts)
