"""Every file of state_dir is TinyDB's own format: plain TinyDB (its default JSONStorage,
read-only) reads jobs.json and the archive, with integer document ids and the job's id as a
field, and the ids are TinyDB's numbering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tinydb import TinyDB, where

from publisher.job import Job, State
from publisher.store.jobstore import JobStore
from tests.support.store import FakeClock


def test_plain_tinydb_reads_jobs_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with JobStore(tmp_path / "state", clock=FakeClock()) as store:
        first = store.add(Job(draft="posts/a.yaml", account="main"))
        store.add(Job(draft="posts/café.yaml"))
        store.transition(first.id, State.PUBLISHING, "slot reached", attempts=1)
        jobs = store.all()
    monkeypatch.chdir(tmp_path)

    documents = TinyDB("state/jobs.json", access_mode="r").table("jobs").all()

    assert [document.doc_id for document in documents] == [1, 2]
    assert [Job.from_document(dict(document)) for document in documents] == jobs
    assert documents[0]["id"] == first.id and documents[0]["state"] == "publishing"
    with TinyDB("state/jobs.json", access_mode="r") as db:
        found = db.table("jobs").search(where("draft") == "posts/café.yaml")
        assert [document["id"] for document in found] == [jobs[1].id]


def test_plain_tinydb_reads_an_archive_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(datetime(2026, 9, 5, tzinfo=UTC))
    with JobStore(tmp_path / "state", clock=clock) as store:
        published = [
            store.transition(store.add(Job(draft=f"{n}.yaml")).id, State.PUBLISHED)
            for n in range(3)
        ]
        clock.advance(timedelta(days=40))
        assert store.archive(clock.now, timedelta(days=30)) == 3
    monkeypatch.chdir(tmp_path)

    documents = TinyDB("state/archive/2026-09.json", access_mode="r").table("jobs").all()

    assert [document.doc_id for document in documents] == [1, 2, 3]
    assert [Job.from_document(dict(document)) for document in documents] == published
    index = TinyDB("state/archive/index.json", access_mode="r").table("jobs").all()
    assert sorted((entry["id"], entry["draft"], entry["month"]) for entry in index) == sorted(
        (job.id, job.draft, "2026-09") for job in published if job is not None
    )


def test_document_ids_are_tinydb_numbering_and_stay_with_their_job(tmp_path: Path) -> None:
    clock = FakeClock()
    with JobStore(tmp_path, clock=clock) as store:
        a, b, c = (store.add(Job(draft=f"{name}.yaml")) for name in "abc")
        store.update(b.id, attempts=3)  # a change keeps the job's document id
        store.remove(c.id)
        d = store.add(Job(draft="d.yaml"))
    with JobStore(tmp_path, clock=clock) as store:
        e = store.add(Job(draft="e.yaml"))  # after a restart: one more than the highest
    ids = {
        document["id"]: document.doc_id
        for document in TinyDB(tmp_path / "jobs.json", access_mode="r").table("jobs").all()
    }
    assert ids == {a.id: 1, b.id: 2, d.id: 4, e.id: 5}
