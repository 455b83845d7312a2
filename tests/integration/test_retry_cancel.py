"""`publisher retry` / `publisher cancel`: applied directly when no daemon runs, handed to the
daemon through state_dir/requests/ when one holds the lock. Real job stores in tmp_path."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher import drafts
from publisher.commands import retry_cancel
from publisher.config import Config
from publisher.daemon import inbox
from publisher.drafts import statusblock
from publisher.errors import StoreError, UserError
from publisher.job import Job, State
from publisher.planning import reconciler
from publisher.store import jobstore
from publisher.store.jobstore import JobStore
from tests.support.site import DRAFTS, load_config, make_site
from tests.support.wait import wait_for

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = load_config(make_site(tmp_path))
    (config.content_dir / "x.yaml").write_text(DRAFTS["post"])
    return config


def with_job(config: Config, state: State, **fields: object) -> Job:
    with JobStore(config.state_dir, clock=lambda: NOW) as store:
        return store.add(Job(draft="x.yaml", state=state, account="main", **fields))  # type: ignore[arg-type]


def stored(config: Config) -> Job:
    [job] = jobstore.read_jobs(config.state_dir)
    return job


def submit(config: Config, action: str) -> str:
    return retry_cancel.submit(
        config,
        action,  # type: ignore[arg-type]
        config.content_dir / "x.yaml",
        clock=lambda: NOW,
    )


@pytest.mark.parametrize(
    ("state", "scheduled_for", "note", "time_after"),
    [
        (State.FAILED, NOW - timedelta(hours=1), reconciler.RETRY_NOW, NOW),
        (State.MISSED, NOW - timedelta(days=2), reconciler.RETRY_NOW, NOW),
        (State.CANCELLED, NOW + timedelta(days=1), reconciler.RETRY, NOW + timedelta(days=1)),
        # x.yaml is a queue draft: cancelled over its slot, it waits for the next free one
        # (the planner's), never "now" (issue 8, fault 6)
        (State.CANCELLED, NOW - timedelta(days=1), reconciler.RETRY, None),
        (State.BLOCKED, NOW + timedelta(hours=3), reconciler.RETRY, NOW + timedelta(hours=3)),
    ],
)
def test_retry_requeues_with_fresh_attempts(
    config: Config, state: State, scheduled_for: datetime, note: str, time_after: datetime | None
) -> None:
    with_job(config, state, attempts=3, error="it broke", scheduled_for=scheduled_for)
    message = submit(config, "retry")

    job = stored(config)
    assert (job.state, job.attempts, job.error) == (State.SCHEDULED, 0, None)
    assert job.history[-1].note == note
    assert job.scheduled_for == time_after
    assert "re-queued" in message and "x.yaml" in message
    block = statusblock.read((config.content_dir / "x.yaml").read_bytes())
    assert block is not None and block["state"] == "scheduled"


@pytest.mark.parametrize(
    "state",
    [State.SCHEDULED, State.RETRYING, State.PAUSED, State.BLOCKED, State.INVALID, State.LOCKED],
)
def test_cancel_stops_a_waiting_draft(config: Config, state: State) -> None:
    with_job(config, state)
    message = submit(config, "cancel")
    job = stored(config)
    assert job.state is State.CANCELLED
    assert job.history[-1].note == reconciler.CANCELLED_BY_USER
    assert job.error != reconciler.DELETED  # a user's cancel is not undone by an edit
    assert "publisher retry x.yaml" in message


@pytest.mark.parametrize(
    ("action", "state", "words"),
    [
        ("retry", State.PUBLISHED, "copy it to a new file"),
        ("retry", State.UNCONFIRMED, "copy it to a new file"),
        ("retry", State.SCHEDULED, "already scheduled"),
        ("retry", State.PUBLISHING, "being published"),
        ("retry", State.INVALID, "fix the problems"),
        ("cancel", State.PUBLISHED, "does not remove a post"),
        ("cancel", State.PUBLISHING, "cannot be stopped"),
        ("cancel", State.FAILED, "nothing left to cancel"),
    ],
)
def test_requests_that_do_not_fit_say_why(
    config: Config, action: str, state: State, words: str
) -> None:
    with_job(config, state)
    with pytest.raises(UserError) as caught:
        submit(config, action)
    assert words in str(caught.value)
    assert "x.yaml" in str(caught.value)
    assert stored(config).state is state


def test_a_draft_without_a_job_or_outside_content_dir_is_a_user_error(
    config: Config, tmp_path: Path
) -> None:
    with pytest.raises(UserError, match="no job for this draft yet"):
        submit(config, "retry")
    with pytest.raises(UserError, match="not inside content_dir"):
        retry_cancel.submit(config, "cancel", tmp_path / "elsewhere.yaml")


def test_cancel_before_the_daemon_saw_the_draft_keeps_it_from_ever_going_out(
    config: Config,
) -> None:
    said = submit(config, "cancel")
    assert "cancelled" in said
    job = stored(config)
    assert (job.draft, job.state, job.account, job.type) == (
        "x.yaml",
        State.CANCELLED,
        "main",
        "post",
    )
    assert job.fingerprint == statusblock.fingerprint((config.content_dir / "x.yaml").read_bytes())
    status = statusblock.read((config.content_dir / "x.yaml").read_bytes())
    assert status is not None and status["state"] == "cancelled"
    # What the daemon will make of it: a job cancelled by the user stays cancelled.
    loaded = drafts.load(config.content_dir / "x.yaml", config)
    assert reconciler.target(loaded, job, {}) is None
    assert "re-queued" in submit(config, "retry")


@pytest.fixture
def daemon_store(config: Config) -> Iterator[JobStore]:
    """A store held the way the daemon holds it: submit() then goes through requests/."""
    with JobStore(config.state_dir, clock=lambda: NOW) as store:
        yield store


def test_with_the_daemon_running_the_request_is_handed_over(
    config: Config, daemon_store: JobStore
) -> None:
    daemon_store.add(Job(draft="x.yaml", state=State.MISSED, account="main"))
    answers: list[str] = []
    client = threading.Thread(target=lambda: answers.append(submit(config, "retry")))
    client.start()
    served = wait_for(
        lambda: inbox.serve(daemon_store, config, now=NOW, busy=lambda _job_id: False),
        timeout=5,
        every=0.01,
        what="the request to be served",
    )
    client.join(5)

    assert served == ["x.yaml"]
    assert answers and "as soon as possible" in answers[0]
    assert daemon_store.by_draft("x.yaml").state is State.SCHEDULED  # type: ignore[union-attr]
    assert list((config.state_dir / inbox.FOLDER).iterdir()) == []


def test_a_refusal_through_the_daemon_is_a_user_error(
    config: Config, daemon_store: JobStore
) -> None:
    daemon_store.add(Job(draft="x.yaml", state=State.PUBLISHED, account="main"))
    errors: list[BaseException] = []

    def client() -> None:
        try:
            submit(config, "retry")
        except UserError as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()

    def answered() -> bool:
        inbox.serve(daemon_store, config, now=NOW, busy=lambda _job_id: False)
        return not thread.is_alive()

    wait_for(answered, timeout=5, every=0.01, what="the refusal to be answered")
    thread.join(5)
    assert errors and "copy it to a new file" in str(errors[0])


def test_a_daemon_that_does_not_answer_leaves_the_request_queued(
    config: Config, daemon_store: JobStore
) -> None:
    daemon_store.add(Job(draft="x.yaml", state=State.FAILED, account="main"))
    with pytest.raises(StoreError, match="did not answer"):
        retry_cancel.submit(config, "retry", config.content_dir / "x.yaml", wait=0.2)
    [waiting] = inbox.pending(config.state_dir)
    assert (waiting.action, waiting.draft, waiting.error) == ("retry", "x.yaml", None)


def test_a_broken_request_file_is_answered_not_fatal(
    config: Config, daemon_store: JobStore
) -> None:
    folder = config.state_dir / inbox.FOLDER
    folder.mkdir()
    (folder / "bad.json").write_text("{not json")
    assert inbox.serve(daemon_store, config, now=NOW, busy=lambda _job_id: False) == []
    assert not (folder / "bad.json").exists()
    assert "unreadable request" in (folder / "bad.done").read_text()
