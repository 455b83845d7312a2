"""A job store that cannot be written (a full disk, a read-only file system, an I/O error):
the daemon starts no publish it could not record, says why in the due drafts' status blocks
and in one log line a minute, tries writing again with a backoff (never a hot loop), and once
jobs.json can be written again every change it could not record goes in, and the due draft
goes out once. In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from publisher.store import health, storage
from publisher.store.jobstore import read_jobs
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, settle, status


class _Unwritable:
    """jobs.json cannot be replaced while this lasts (a folder is in its way), and every
    attempt to write it is counted."""

    def __init__(self, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = config.state_dir / "jobs.json"
        self.attempts = 0
        real = storage.write_file

        def counted(path: Path, tables: Any) -> None:
            self.attempts += 1
            real(path, tables)

        monkeypatch.setattr(storage, "write_file", counted)

    def __enter__(self) -> _Unwritable:
        self.path.unlink()
        self.path.mkdir()
        (self.path / "in-the-way").write_text("")
        return self

    def __exit__(self, *_exc: object) -> None:
        shutil.rmtree(self.path)


def _run_for(daemon: Daemon, clock: ManualClock, seconds: int) -> None:
    """Let `seconds` of the daemon's clock pass, with many steps a second (as many wake-ups
    as a busy daemon has)."""
    for _second in range(seconds):
        clock.advance(timedelta(seconds=1))
        for _step in range(10):
            daemon.step()
            daemon.workers.wait(5.0)


def test_an_unwritable_store_backs_off_says_why_and_loses_no_change(
    daemon: Daemon,
    config: Config,
    clock: ManualClock,
    posts: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a full state_dir the daemon tried the due publish about 300 times a second, each
    with a traceback; the status blocks kept saying `scheduled`; a draft saved meanwhile was
    dropped ("1 change(s) of drafts were not recorded") until a restart."""
    slot = START + timedelta(minutes=30)
    due = draft(config, "due.yaml", publish_at=at(slot))
    daemon.on_paths({due})
    settle(daemon)
    clock.advance(slot - clock() - timedelta(seconds=1))
    caplog.set_level(logging.INFO, logger="publisher")
    caplog.clear()

    with _Unwritable(config, monkeypatch) as store:
        later = draft(config, "later.yaml", publish_at=at(slot + timedelta(hours=2)))
        daemon.on_paths({later})  # the watcher delivers it once, and only once
        _run_for(daemon, clock, 120)

        assert store.attempts <= 12, store.attempts  # 1 s, 2 s, 4 s ... 30 s apart
        assert posts.posts() == []  # no publish that could not be recorded
        block = status(due)
        assert block["state"] == "scheduled"
        assert "the job store cannot be written" in str(block["error"])
        assert "publishing waits until it can" in str(block["error"])
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        # One line a minute: at the first failure, then a minute later, then ...
        assert len(loud) <= 3, [r.getMessage() for r in loud]
        assert all(r.name == "publisher.store.health" for r in loud), loud
        assert "jobs.json" in loud[0].getMessage()
        assert all(r.exc_info is None for r in caplog.records)  # no traceback at the default level

    caplog.clear()
    _run_for(daemon, clock, 31)
    settle(daemon)

    jobs = {job.draft: job for job in read_jobs(config.state_dir)}
    assert jobs["due.yaml"].state is State.PUBLISHED
    assert jobs["later.yaml"].state is State.SCHEDULED  # the change not recorded, now in
    assert len(posts.posts()) == 1
    assert status(due)["state"] == "published"
    assert status(later)["state"] == "scheduled"
    assert any("can be written again" in r.getMessage() for r in caplog.records)


def test_a_change_not_recorded_is_read_again_once_the_store_can_be_written(
    daemon: Daemon,
    config: Config,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An edit and a deletion delivered while jobs.json could not be written."""
    first = draft(config, "first.yaml", publish_at=at(START + timedelta(hours=2)))
    gone = draft(config, "gone.yaml", publish_at=at(START + timedelta(hours=3)))
    daemon.on_paths({first, gone})
    settle(daemon)
    with _Unwritable(config, monkeypatch):
        first.write_text(first.read_text().replace("First light", "Last light"))
        gone.unlink()
        daemon.on_paths({first, gone})
        assert daemon.drafts_to_jobs.unrecorded == {first, gone}
    clock.advance(health.MAX_BACKOFF)
    settle(daemon)

    jobs = {job.draft: job for job in read_jobs(config.state_dir)}
    assert jobs["gone.yaml"].state is State.CANCELLED
    loaded = daemon.drafts_to_jobs.drafts["first.yaml"].draft
    assert loaded is not None and jobs["first.yaml"].fingerprint == loaded.fingerprint
    assert not daemon.drafts_to_jobs.unrecorded
