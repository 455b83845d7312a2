"""GroupCommit: the changes of threads writing at the same moment go into one jobs.json
write, each caller getting its own result (or its own error) once its change is durable."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.errors import StoreError
from publisher.job import Job, State
from publisher.publishing.groupcommit import GroupCommit
from publisher.store import jobstore
from publisher.store.jobstore import JobStore

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    opened = JobStore(tmp_path, clock=lambda: T0)
    yield opened  # type: ignore[misc]
    opened.close()


def test_changes_arriving_together_share_writes_and_each_gets_its_result(
    store: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [store.add(Job(draft=f"d{index}.yaml")) for index in range(20)]
    commits = GroupCommit(store)
    writes = 0
    first_write = threading.Event()
    release = threading.Event()
    real_write = jobstore.JobStore.batch

    def counted_batch(self: JobStore):  # type: ignore[no-untyped-def]
        nonlocal writes
        writes += 1
        if writes == 1:  # hold the first write while the others queue up
            first_write.set()
            release.wait(5)
        return real_write(self)

    monkeypatch.setattr(jobstore.JobStore, "batch", counted_batch)
    results: dict[str, State | None] = {}

    def claim(job: Job) -> None:
        claimed = commits.run(
            lambda: store.transition(job.id, State.PUBLISHING, expect=[State.SCHEDULED])
        )
        results[job.id] = claimed.state if claimed is not None else None

    first = threading.Thread(target=claim, args=(jobs[0],))
    first.start()
    assert first_write.wait(5)
    others = [threading.Thread(target=claim, args=(job,)) for job in jobs[1:]]
    for thread in others:
        thread.start()
    release.set()
    for thread in [first, *others]:
        thread.join(10)

    assert results == {job.id: State.PUBLISHING for job in jobs}
    assert writes < len(jobs)  # the 19 that waited shared the writes after the first
    assert {job.state for job in jobstore.read_jobs(tmp_path)} == {State.PUBLISHING}


def test_a_failing_change_is_its_callers_alone(store: JobStore, tmp_path: Path) -> None:
    job = store.add(Job(draft="d.yaml"))
    commits = GroupCommit(store)
    with pytest.raises(KeyError):
        commits.run(lambda: store.update("no-such-job", attempts=1))
    assert commits.run(lambda: store.update(job.id, attempts=2)).attempts == 2
    [stored] = jobstore.read_jobs(tmp_path)
    assert stored.attempts == 2


def test_a_write_that_fails_is_every_callers_error(store: JobStore) -> None:
    job = store.add(Job(draft="d.yaml"))
    commits = GroupCommit(store)
    store.close()
    with pytest.raises(StoreError):
        commits.run(lambda: store.update(job.id, attempts=1))
