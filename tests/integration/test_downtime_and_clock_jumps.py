"""Time: a draft whose time passed while the daemon was down, or while the clock jumped, goes
out late within misfire_grace (saying how late) or becomes `missed`; never missed for time it
did not lose. In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.commands import retry_cancel
from publisher.config import Config
from publisher.daemon import inbox
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from publisher.store.jobstore import JobStore
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, jobs_by_draft, open_daemon, settle, site_config, status
from tests.support.wait import wait_for


def test_a_clock_jump_strands_nothing(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    # misfire_grace is 1h. The wall clock jumps 2h at once (a suspend, an NTP step).
    paths = {
        "missed.yaml": START + timedelta(minutes=30),  # 1h30 late after the jump: missed
        "late.yaml": START + timedelta(minutes=90),  # 30 min late: published, saying so
        "future.yaml": START + timedelta(hours=3),  # not due yet
    }
    daemon.on_paths({draft(config, name, publish_at=at(when)) for name, when in paths.items()})
    settle(daemon)
    clock.advance(timedelta(hours=2))
    settle(daemon)

    jobs = jobs_by_draft(config)
    assert jobs["missed.yaml"].state is State.MISSED
    assert "publisher retry missed.yaml" in (jobs["missed.yaml"].error or "")
    assert jobs["late.yaml"].state is State.PUBLISHED
    assert (jobs["late.yaml"].error or "").startswith("published 30 min late")
    assert jobs["future.yaml"].state is State.SCHEDULED
    assert status(config.content_dir / "missed.yaml")["state"] == "missed"
    assert len(posts.posts()) == 1


def test_catch_up_after_downtime(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="publisher")
    config = site_config(tmp_path, posts.base_url)
    first = open_daemon(config, clock)
    for name, minutes in (("early.yaml", 10), ("recent.yaml", 120)):
        path = draft(config, name, publish_at=at(START + timedelta(minutes=minutes)))
        first.on_paths({path})
    settle(first)
    first.shutdown()

    clock.advance(timedelta(minutes=150))  # down from 08:00 to 10:30
    second = open_daemon(config, clock)
    try:
        settle(second)
        jobs = jobs_by_draft(config)
        assert jobs["early.yaml"].state is State.MISSED
        assert "the daemon was not running then" in (jobs["early.yaml"].error or "")
        said = [record.getMessage() for record in caplog.records]
        assert any("early.yaml" in line and "missed: it was due" in line for line in said)
        assert not any("missed: missed:" in line for line in said)  # said once, not twice
        assert jobs["recent.yaml"].state is State.PUBLISHED
        assert jobs["recent.yaml"].error == (
            "published 30 min late: the daemon was not running at 10:00"
        )

        # `publisher retry` while the daemon runs: the request goes through state_dir.
        answer: list[str] = []
        thread = threading.Thread(
            target=lambda: answer.append(
                retry_cancel.submit(config, "retry", config.content_dir / "early.yaml")
            )
        )
        thread.start()
        wait_for(lambda: bool(inbox.pending(config.state_dir)))
        settle(second)
        thread.join(5)
        assert answer and "as soon as possible" in answer[0]
        assert jobs_by_draft(config)["early.yaml"].state is State.PUBLISHED
    finally:
        second.shutdown()


def test_a_job_waiting_for_the_quota_killed_mid_attempt_is_not_missed_after_restart(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer
) -> None:
    """A job that waited hours for the publishing quota (retrying, "not a failure"), killed
    in the attempt at its next_attempt_at, came back as `scheduled` for its original slot,
    hours ago: missed at once, though the daemon was down for a minute."""
    config = site_config(tmp_path, posts.base_url)
    posts.faults.quota_used_extra = posts.faults.quota_total
    first = open_daemon(config, clock)
    first.on_paths({draft(config, "waits.yaml", publish_at=at(START + timedelta(minutes=10)))})
    settle(first)
    for _ in range(2):  # two windows of waiting: the slot is now two hours ago
        job = jobs_by_draft(config)["waits.yaml"]
        clock.advance((job.next_attempt_at or job.scheduled_for or START) - clock())
        settle(first)
    job = jobs_by_draft(config)["waits.yaml"]
    assert job.state is State.RETRYING and job.next_attempt_at is not None
    first.shutdown()

    # Its next attempt: claimed (as publishing.publish does), then kill -9.
    clock.advance(job.next_attempt_at - clock())
    with JobStore(config.state_dir, clock=clock, lock=True) as store:
        store.transition(
            job.id, State.PUBLISHING, "", expect=[State.RETRYING], next_attempt_at=None
        )
    clock.advance(timedelta(minutes=1))
    posts.faults.quota_used_extra = 0
    second = open_daemon(config, clock)
    try:
        settle(second)
        job = jobs_by_draft(config)["waits.yaml"]
        assert job.state is State.PUBLISHED, job.error
        assert len(posts.posts()) == 1
    finally:
        second.shutdown()
