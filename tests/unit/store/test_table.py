"""The TinyDB pieces of the store: the jobs table holds each job once and refuses TinyDB's
whole-table writes, TinyDB's reads and queries still work on it, and the atomic storage
refuses to write when read-only and reads a file in the previous layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tinydb import TinyDB, where

from publisher.errors import StoreCorrupt, StoreError
from publisher.job import Job, State
from publisher.store import storage
from publisher.store.batching import Batching
from publisher.store.storage import AtomicStorage
from publisher.store.table import JobsDatabase, JobTable, StoredJob, decode


def open_table(path: Path, *, writable: bool = True) -> JobTable:
    db = JobsDatabase(path, writable=writable, decode=decode, storage=AtomicStorage)
    table = db.table("jobs")
    assert isinstance(table, JobTable)
    return table


def test_each_job_is_held_once_and_tinydb_reads_work_on_the_table(tmp_path: Path) -> None:
    table = open_table(tmp_path / "jobs.json")
    first = Job(draft="a.yaml", account="main")
    second = Job(draft="b.yaml", state=State.PAUSED)
    table.put(first)
    table.put(second)

    [stored_first, stored_second] = table.storage.read()["jobs"].values()  # type: ignore[index]
    assert isinstance(stored_first, StoredJob)
    assert stored_first.job is first and table.job(first.id) is first
    assert table.jobs()[1] is second is stored_second.job
    assert table.jobs_of_draft("b.yaml") == [second]
    # TinyDB's own reads see each job as its document.
    assert [document.doc_id for document in table.all()] == [1, 2]
    [found] = table.search(where("state") == "paused")
    assert found == second.to_document() and found.doc_id == 2
    got = table.get(doc_id=1)
    assert got is not None and got == first.to_document()
    assert len(table) == 2


def test_a_job_changed_keeps_its_document_id_and_drop_removes_it(tmp_path: Path) -> None:
    table = open_table(tmp_path / "jobs.json")
    job = Job(draft="a.yaml")
    other = Job(draft="b.yaml")
    table.put(job)
    table.put(other)
    moved = job.model_copy(update={"draft": "renamed.yaml", "attempts": 2})
    table.put(moved)
    assert table.jobs() == [moved, other]  # in its place, not appended
    assert table.jobs_of_draft("a.yaml") == [] and table.jobs_of_draft("renamed.yaml") == [moved]
    table.drop([job.id, "no-such-job", job.id])
    assert table.jobs() == [other] and not table.has(job.id)
    reopened = open_table(tmp_path / "jobs.json", writable=False)
    assert reopened.jobs() == [other]
    assert [document.doc_id for document in reopened.all()] == [2]


def test_a_batch_changes_its_own_copy_and_the_storage_only_at_commit(tmp_path: Path) -> None:
    batching = Batching(AtomicStorage)
    db = JobsDatabase(tmp_path / "jobs.json", decode=decode, storage=batching)
    table = db.table("jobs")
    assert isinstance(table, JobTable)
    first, second, third = (Job(draft=f"{name}.yaml") for name in "abc")
    table.put(first)
    written = batching.storage.read()["jobs"]
    kept = dict(written)

    batching.begin()
    table.put(second)
    table.put(third)
    table.drop([first.id])
    assert table.jobs() == [second, third]
    assert written == kept and batching.storage.read()["jobs"] is written  # untouched
    batching.rollback()
    table.reindex()
    assert table.jobs() == [first]

    batching.begin()
    table.put(second)
    table.put(third)
    batching.commit()
    assert written == kept  # the storage took the batch's copy; its old table is as it was
    assert open_table(tmp_path / "jobs.json", writable=False).jobs() == [first, second, third]


@pytest.mark.parametrize(
    "write",
    [
        lambda table: table.insert({"id": "x", "draft": "x.yaml"}),
        lambda table: table.insert_multiple([{"id": "x", "draft": "x.yaml"}]),
        lambda table: table.update({"attempts": 3}),
        lambda table: table.upsert({"attempts": 3}, where("draft") == "a.yaml"),
        lambda table: table.remove(where("draft") == "a.yaml"),
        lambda table: table.truncate(),
    ],
)
def test_tinydb_writes_are_refused_on_the_jobs_table(tmp_path: Path, write: object) -> None:
    table = open_table(tmp_path / "jobs.json")
    job = Job(draft="a.yaml")
    table.put(job)
    before = (tmp_path / "jobs.json").read_bytes()
    with pytest.raises(StoreError, match="through JobStore"):
        write(table)  # type: ignore[operator]
    assert table.jobs() == [job]
    assert (tmp_path / "jobs.json").read_bytes() == before


def test_a_read_only_storage_refuses_to_write(tmp_path: Path) -> None:
    table = open_table(tmp_path / "jobs.json", writable=False)
    with pytest.raises(StoreError, match="read-only"):
        table.put(Job(draft="a.yaml"))
    assert table.jobs() == [] and not (tmp_path / "jobs.json").exists()


def test_the_file_is_tinydb_json_with_one_document_per_line() -> None:
    tables = {"jobs": {"1": {"id": "a", "draft": "é.yaml"}, "7": {"id": "b"}}}
    data = storage.encode(tables)
    assert data.decode("utf-8").splitlines() == [
        '{"jobs":{',
        '"1":{"id":"a","draft":"é.yaml"},',
        '"7":{"id":"b"}',
        "}}",
    ]
    assert json.loads(data) == tables
    assert storage.encode({"jobs": {}}) == b'{"jobs":{}}\n'


def test_the_previous_layout_is_read_numbered_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "2026-09.json"
    path.write_bytes(b'{"jobs":{\n"f00":{"id":"f00","draft":"x"},\n"a11":{"id":"a11"}\n}}\n')
    read = AtomicStorage(path, writable=False)
    assert read.previous_layout
    assert read.read() == {"jobs": {"1": {"id": "f00", "draft": "x"}, "2": {"id": "a11"}}}
    with TinyDB(path, writable=False, storage=AtomicStorage) as db:
        assert [document["id"] for document in db.table("jobs")] == ["f00", "a11"]


def test_a_key_that_is_neither_a_document_id_nor_a_job_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_bytes(b'{"jobs":{"a":{"id":"a"},"b":{"id":"c"}}}')
    with pytest.raises(StoreCorrupt, match='the key "b" is neither'):
        AtomicStorage(path)
    path.write_bytes(b'{"jobs":{"a":{"id":"a"},"1":{"id":"c"}}}')
    with pytest.raises(StoreCorrupt, match="mix TinyDB document ids"):
        AtomicStorage(path)
