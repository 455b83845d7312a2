"""`publisher cancel` then `publisher retry` of a queue draft (no publish_at) puts it back in
its slot of the queue: it is not published at once, and `publisher plan` does not warn that
it "was due" (issue 8, fault 6). In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.commands import plan, retry_cancel
from publisher.config import Config
from publisher.daemon import inbox
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import draft, jobs_by_draft, open_daemon, settle, site_config
from tests.support.site import load_config
from tests.support.wait import wait_for

SLOT = START.replace(hour=9)  # START is 08:00 UTC; the queue has one slot a day at 09:00


@pytest.fixture
def queue_config(tmp_path: Path, posts: SandboxServer) -> Config:
    config = site_config(tmp_path, posts.base_url)
    document = json.loads(config.config_path.read_text())
    document["schedule"] = {"slots": [{"days": "daily", "times": ["09:00"]}]}
    config.config_path.write_text(json.dumps(document))
    return load_config(config.config_path)


@pytest.fixture
def running(queue_config: Config, clock: ManualClock) -> Iterator[Daemon]:
    daemon = open_daemon(queue_config, clock)
    yield daemon
    daemon.shutdown()


def through_daemon(daemon: Daemon, config: Config, action: str, path: Path) -> str:
    """`publisher <action> DRAFT` while the daemon runs: its answer."""
    answer: list[str] = []
    thread = threading.Thread(
        target=lambda: answer.append(retry_cancel.submit(config, action, path))  # type: ignore[arg-type]
    )
    thread.start()
    wait_for(lambda: bool(inbox.pending(config.state_dir)))
    settle(daemon)
    thread.join(5)
    assert answer, "no answer from the daemon"
    return answer[0]


def plan_text(config: Config, clock: ManualClock) -> str:
    return plan.text(config, clock=clock)


def test_cancel_then_retry_goes_back_to_its_slot(
    running: Daemon, queue_config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    path = draft(queue_config, "queued.yaml")
    running.on_paths({path})
    settle(running)
    assert jobs_by_draft(queue_config)["queued.yaml"].scheduled_for == SLOT

    assert "cancelled" in through_daemon(running, queue_config, "cancel", path)
    clock.advance(timedelta(minutes=5))
    said = through_daemon(running, queue_config, "retry", path)
    settle(running)

    job = jobs_by_draft(queue_config)["queued.yaml"]
    assert "its place in the queue" in said, said
    assert (job.state, job.scheduled_for) == (State.SCHEDULED, SLOT)
    assert posts.posts() == []
    assert "was due" not in plan_text(queue_config, clock)
    clock.advance(SLOT - clock() + timedelta(seconds=30))
    settle(running)
    assert jobs_by_draft(queue_config)["queued.yaml"].state is State.PUBLISHED
    assert len(posts.posts()) == 1


def test_a_queue_draft_retried_after_its_slot_passed_takes_the_next_slot(
    running: Daemon, queue_config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    path = draft(queue_config, "queued.yaml")
    running.on_paths({path})
    settle(running)
    through_daemon(running, queue_config, "cancel", path)
    clock.advance(timedelta(hours=4))  # 12:00: today's 09:00 went by while it was cancelled
    settle(running)

    said = through_daemon(running, queue_config, "retry", path)
    settle(running)

    job = jobs_by_draft(queue_config)["queued.yaml"]
    assert "its place in the queue" in said, said
    assert (job.state, job.scheduled_for) == (State.SCHEDULED, SLOT + timedelta(days=1))
    assert posts.posts() == []
    assert "was due" not in plan_text(queue_config, clock)


def test_a_queue_draft_cancelled_before_the_daemon_saw_it_goes_to_a_slot_on_retry(
    queue_config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    path = draft(queue_config, "queued.yaml")
    retry_cancel.submit(queue_config, "cancel", path, clock=clock)  # no daemon: applied here
    said = retry_cancel.submit(queue_config, "retry", path, clock=clock)
    assert "its place in the queue" in said, said
    assert "was due" not in plan_text(queue_config, clock)

    daemon = open_daemon(queue_config, clock)
    try:
        settle(daemon)
        job = jobs_by_draft(queue_config)["queued.yaml"]
        assert (job.state, job.scheduled_for) == (State.SCHEDULED, SLOT)
        assert posts.posts() == []
    finally:
        daemon.shutdown()


def test_a_failed_queue_draft_still_goes_out_as_soon_as_possible(
    running: Daemon, queue_config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    """The other side of the rule: `retry` of a failed or missed draft means "now"."""
    path = draft(queue_config, "queued.yaml")
    running.on_paths({path})
    settle(running)
    clock.advance(timedelta(days=1, hours=4))  # its 09:00 slot passed with the daemon stuck
    settle(running)
    assert jobs_by_draft(queue_config)["queued.yaml"].state is State.MISSED

    said = through_daemon(running, queue_config, "retry", path)
    settle(running)
    assert "as soon as possible" in said
    assert jobs_by_draft(queue_config)["queued.yaml"].state is State.PUBLISHED
    assert len(posts.posts()) == 1
