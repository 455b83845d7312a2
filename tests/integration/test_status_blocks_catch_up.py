"""A full content_dir while drafts go out: nothing is lost or published twice, and the status
blocks the daemon could not write are written once there is room again, without any new
change to the drafts (issue 8: `make reliability` found them still `scheduled` after the
disk had room). In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import errno
from datetime import timedelta
from typing import Any

import pytest

from publisher.config import Config
from publisher.daemon import loop
from publisher.daemon.loop import Daemon
from publisher.drafts import writeback
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from publisher.store.jobstore import read_jobs
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, settle, status


def _run_for(daemon: Daemon, clock: ManualClock, seconds: int) -> None:
    for _second in range(seconds):
        clock.advance(timedelta(seconds=1))
        daemon.step()
        daemon.workers.wait(5.0)


def test_blocks_left_behind_by_a_full_disk_are_written_once_there_is_room(
    daemon: Daemon,
    config: Config,
    clock: ManualClock,
    posts: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slot = START + timedelta(minutes=30)
    first = draft(config, "first.yaml", publish_at=at(slot))
    second = draft(config, "second.yaml", "story", publish_at=at(slot))
    daemon.on_paths({first, second})
    settle(daemon)
    user_bytes = {path: path.read_bytes().split(b"\nstatus:")[0] for path in (first, second)}
    tried: list[str] = []
    real = writeback._replace

    def no_space(*_args: Any, **_kwargs: Any) -> None:
        tried.append("write-back")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writeback, "_replace", no_space)
    clock.advance(slot - clock())
    _run_for(daemon, clock, 40)
    settle(daemon)

    jobs = {job.draft: job for job in read_jobs(config.state_dir)}
    assert {jobs[name].state for name in ("first.yaml", "second.yaml")} == {State.PUBLISHED}
    assert len(posts.posts()) == 2
    assert tried  # the daemon kept trying, the disk kept refusing
    assert status(first)["state"] != "published"
    assert writeback.behind(config.content_dir) == {"first.yaml", "second.yaml"}

    monkeypatch.setattr(writeback, "_replace", real)  # room again
    _run_for(daemon, clock, int(loop.CATCH_UP_EVERY) + 1)
    settle(daemon)

    for path in (first, second):
        assert status(path)["state"] == "published"
        assert path.read_bytes().split(b"\nstatus:")[0] == user_bytes[path]
    assert writeback.behind(config.content_dir) == set()
    assert len(posts.posts()) == 2
