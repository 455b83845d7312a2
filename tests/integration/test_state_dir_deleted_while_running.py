"""state_dir deleted while the daemon runs: the daemon makes it again from what it holds in
memory (jobs.json, its lock), says so in the log, and goes on; `publisher status` (a reader
of jobs.json) sees the jobs again. In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from datetime import timedelta

import pytest

from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from publisher.store.jobstore import read_jobs
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, settle


def _locked_by_someone(path: os.PathLike[str]) -> bool:
    """Whether another open file holds the flock on `path` (flock conflicts between two
    opens of the same file, even in one process)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_deleted_state_dir_is_made_again_from_memory(
    daemon: Daemon,
    config: Config,
    clock: ManualClock,
    posts: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every write failed ("the change was not recorded"), the daemon never made state_dir
    again, and `status` said "no jobs yet"."""
    slot = START + timedelta(hours=1)
    daemon.on_paths({draft(config, "one.yaml", publish_at=at(slot))})
    settle(daemon)
    [job] = read_jobs(config.state_dir)

    shutil.rmtree(config.state_dir)
    with caplog.at_level(logging.WARNING, logger="publisher"):
        clock.advance(timedelta(seconds=1))
        daemon.step()  # idle: no write is needed to notice

    assert [found.id for found in read_jobs(config.state_dir)] == [job.id]
    assert _locked_by_someone(config.state_dir / "lock")
    assert (config.state_dir / "lock").read_text().strip() == str(os.getpid())
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"state_dir {config.state_dir} was deleted while publisher ran" in warning.message
    assert "took its lock again" in warning.message

    # It goes on: a new draft is recorded, and the first one publishes at its slot.
    daemon.on_paths({draft(config, "two.yaml", publish_at=at(slot + timedelta(hours=1)))})
    clock.advance(slot - clock())
    settle(daemon)
    jobs = {found.draft: found for found in read_jobs(config.state_dir)}
    assert jobs["one.yaml"].state is State.PUBLISHED
    assert jobs["two.yaml"].state is State.SCHEDULED
    assert len(posts.posts()) == 1


def test_a_write_into_a_deleted_state_dir_makes_it_again(
    daemon: Daemon, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """A change that comes before the periodic check: its own write makes state_dir again."""
    daemon.on_paths({draft(config, "one.yaml", publish_at=at(START + timedelta(hours=1)))})
    settle(daemon)
    shutil.rmtree(config.state_dir)
    with caplog.at_level(logging.WARNING, logger="publisher"):
        daemon.drafts_to_jobs.on_paths(
            {draft(config, "two.yaml", publish_at=at(START + timedelta(hours=2)))}, {}, set()
        )
    assert sorted(found.draft for found in read_jobs(config.state_dir)) == ["one.yaml", "two.yaml"]
    assert _locked_by_someone(config.state_dir / "lock")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_deleted_jobs_json_is_written_again(
    daemon: Daemon, config: Config, clock: ManualClock
) -> None:
    daemon.on_paths({draft(config, "one.yaml", publish_at=at(START + timedelta(hours=1)))})
    settle(daemon)
    (config.state_dir / "jobs.json").unlink()
    clock.advance(timedelta(seconds=1))
    daemon.step()
    assert [found.draft for found in read_jobs(config.state_dir)] == ["one.yaml"]
