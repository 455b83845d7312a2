"""JobStore.observe: each durable change is told once, after it is on disk; a batch tells its
changes when it is written and none if it is rolled back."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.errors import StoreError
from publisher.job import Job, State
from publisher.store.jobstore import JobStore
from tests.support.store import FakeClock


def test_changes_are_told_after_they_are_durable(tmp_path: Path) -> None:
    told: list[tuple[State | None, State]] = []
    with JobStore(tmp_path, clock=FakeClock()) as store:

        def observer(before: Job | None, after: Job) -> None:
            # durable: a reader of the file already sees it
            assert store.get(after.id) == after
            told.append((before.state if before else None, after.state))

        store.observe(observer)
        job = store.add(Job(draft="a.yaml", account="main", state=State.SCHEDULED))
        store.transition(job.id, State.PUBLISHING)
        store.update(job.id, media_id="1")
        store.transition(job.id, State.PUBLISHED, expect=[State.SCHEDULED])  # lost the CAS
        store.observe(None)
        store.transition(job.id, State.PUBLISHED)
    assert told == [
        (None, State.SCHEDULED),
        (State.SCHEDULED, State.PUBLISHING),
        (State.PUBLISHING, State.PUBLISHING),
    ]


def test_a_batch_tells_when_written_and_not_when_rolled_back(tmp_path: Path) -> None:
    told: list[str] = []
    with JobStore(tmp_path, clock=FakeClock()) as store:
        store.observe(lambda _before, after: told.append(after.draft))
        with store.batch():
            store.add(Job(draft="a.yaml", account="main", state=State.SCHEDULED))
            store.add(Job(draft="b.yaml", account="main", state=State.SCHEDULED))
            assert told == []
        assert told == ["a.yaml", "b.yaml"]
        # a folder where jobs.json goes: the batch's write fails (as root too)
        (tmp_path / "jobs.json").unlink()
        (tmp_path / "jobs.json").mkdir()
        (tmp_path / "jobs.json" / "x").write_text("")
        with pytest.raises(StoreError), store.batch():
            store.add(Job(draft="c.yaml", account="main", state=State.SCHEDULED))
    assert told == ["a.yaml", "b.yaml"]


def test_an_observer_that_raises_changes_nothing(tmp_path: Path) -> None:
    def broken(_before: Job | None, _after: Job) -> None:
        raise RuntimeError("boom")

    with JobStore(tmp_path, clock=FakeClock()) as store:
        store.observe(broken)
        job = store.add(Job(draft="a.yaml", account="main", state=State.SCHEDULED))
        assert store.get(job.id) == job
