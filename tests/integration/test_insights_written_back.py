"""Insights written back (SPEC §9): a post's metrics land in its status block at ~24 h and
~7 d, through the daemon and the loopback sandbox; a token without the permission is one
warning, never a failure of the post."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock
from tests.support.daemon import draft, jobs_by_draft, open_daemon, settle, site_config, status


@pytest.fixture
def opted_in(tmp_path: Path, posts: SandboxServer) -> Config:
    return site_config(tmp_path, posts.base_url, account={"insights": True})


@pytest.fixture
def running(opted_in: Config, clock: ManualClock) -> Iterator[Daemon]:
    daemon = open_daemon(opted_in, clock)
    yield daemon
    daemon.shutdown()


def _publish(daemon: Daemon, config: Config, name: str) -> Path:
    path = draft(config, name, publish_at="now")
    daemon.on_paths({path})
    settle(daemon)
    assert jobs_by_draft(config)[name].state is State.PUBLISHED
    return path


def _later(daemon: Daemon, clock: ManualClock, delta: timedelta) -> None:
    clock.advance(delta)
    settle(daemon)


def test_metrics_at_a_day_then_at_a_week(
    running: Daemon, opted_in: Config, clock: ManualClock
) -> None:
    path = _publish(running, opted_in, "post.yaml")
    assert "insights" not in status(path)

    _later(running, clock, timedelta(hours=12))
    assert "insights" not in status(path)  # not yet

    _later(running, clock, timedelta(hours=13))
    first = status(path)["insights"]
    assert isinstance(first, dict)
    assert first["after"] == "24h"
    assert {"reach", "views", "likes", "comments", "saves", "shares"} <= set(first)
    assert isinstance(first["reach"], int) and first["reach"] > 0
    assert str(first["read_at"]).startswith(clock().date().isoformat())

    _later(running, clock, timedelta(days=6, hours=1))
    week = status(path)["insights"]
    assert isinstance(week, dict)
    assert week["after"] == "7d"
    assert week["reach"] > first["reach"]
    # the job keeps them too (status --json, plan), and the post is still just published
    job = jobs_by_draft(opted_in)["post.yaml"]
    assert job.state is State.PUBLISHED and job.insights == week


def test_a_story_is_read_before_its_metrics_go(
    running: Daemon, opted_in: Config, clock: ManualClock
) -> None:
    story = draft(opted_in, "story.yaml", "story", publish_at="now")
    running.on_paths({story})
    settle(running)
    _later(running, clock, timedelta(hours=23, minutes=5))
    read = status(story)["insights"]
    assert isinstance(read, dict)
    assert read["after"] == "24h" and "replies" in read and "likes" not in read


def test_no_permission_is_one_warning_and_the_post_stays_published(
    running: Daemon,
    opted_in: Config,
    clock: ManualClock,
    posts: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    posts.faults.refuse_insights = True
    path = _publish(running, opted_in, "post.yaml")
    caplog.set_level(logging.WARNING, logger="publisher")
    _later(running, clock, timedelta(hours=25))
    _later(running, clock, timedelta(minutes=30))
    _later(running, clock, timedelta(days=7))
    warnings = [r for r in caplog.records if "insights permission" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    job = jobs_by_draft(opted_in)["post.yaml"]
    assert job.state is State.PUBLISHED and job.error is None and job.insights is None
    assert status(path)["state"] == "published"
