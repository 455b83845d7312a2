"""The daemon's scan of every draft records all their jobs in one store batch, then writes the
status blocks; a failed store write records nothing and writes no status block."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.daemon.drafts_to_jobs import DraftsToJobs
from publisher.drafts import statusblock
from publisher.job import State
from publisher.store import health
from publisher.store.jobstore import JobStore, read_jobs
from tests.support.clock import ManualClock
from tests.support.site import DRAFTS, load_config, make_site

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
COUNT = 25


@pytest.fixture
def config(tmp_path: Path) -> Config:
    media = {"host": "base_url", "public_url": "http://127.0.0.1:9"}
    config = load_config(make_site(tmp_path, media=media))
    for number in range(COUNT):
        text = DRAFTS["post"] + f"publish_at: 2026-12-{number % 28 + 2:02}T10:{number:02}:00Z\n"
        (config.content_dir / f"{number:02}.yaml").write_text(text, encoding="utf-8")
    return config


@pytest.fixture
def store(config: Config) -> Iterator[JobStore]:
    opened = JobStore(config.state_dir, clock=lambda: NOW)
    yield opened
    opened.close()


def statuses(config: Config) -> list[str]:
    blocks = [statusblock.read(path.read_bytes()) for path in config.content_dir.glob("*.yaml")]
    return sorted(str(block["state"]) if block else "none" for block in blocks)


def test_a_scan_records_every_draft_then_writes_their_status(
    config: Config, store: JobStore
) -> None:
    changed = DraftsToJobs(config, store, lambda: NOW).scan_all({}, set())
    assert len(changed) == COUNT
    stored = read_jobs(config.state_dir)
    assert sorted(job.draft for job in stored) == sorted(job.draft for job in changed)
    assert {job.state for job in stored} == {State.SCHEDULED}
    assert statuses(config) == ["scheduled"] * COUNT


def test_a_failed_store_write_records_nothing_and_writes_no_status(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(NOW)
    with JobStore(config.state_dir, clock=clock) as store:
        in_the_way = config.state_dir / "jobs.json" / "in-the-way"
        in_the_way.mkdir(parents=True)  # os.replace onto a folder fails
        drafts_to_jobs = DraftsToJobs(config, store, clock)
        with caplog.at_level(logging.ERROR, logger="publisher"):
            changed = drafts_to_jobs.scan_all({}, set())
        assert changed == []
        assert store.all() == []
        assert statuses(config) == ["none"] * COUNT
        assert "jobs.json: Is a directory; publishing waits" in caplog.text  # the store says it
        assert len(drafts_to_jobs.unrecorded) == COUNT  # to be read again
        # Once the store can be written again (after its backoff), they are all recorded.
        in_the_way.rmdir()
        in_the_way.parent.rmdir()
        clock.advance(health.FIRST_BACKOFF)
        assert len(drafts_to_jobs.retry({}, set())) == COUNT
    assert statuses(config) == ["scheduled"] * COUNT
