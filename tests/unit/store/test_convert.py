"""A state_dir written by the previous layout (jobs keyed by job id, before TinyDB came back)
is converted at its first open: nothing lost, the old files kept next to the new ones.

fixtures/previous-layout was written by the job store of commit ffdc610 (the last one before
TinyDB came back): two active jobs in jobs.json, one published job archived in 2026-09 and a
failed one in 2026-10 (its draft named `café.yaml`), and the archive index.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tinydb import TinyDB

from publisher.job import Job, State
from publisher.store.jobstore import JobStore, read_jobs
from tests.support.store import FakeClock

FIXTURE = Path(__file__).parent / "fixtures" / "previous-layout"
FILES = ("jobs.json", "archive/2026-09.json", "archive/2026-10.json", "archive/index.json")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    state_dir = tmp_path / "state"
    shutil.copytree(FIXTURE, state_dir)
    return state_dir


def jobs_in(path: Path) -> list[Job]:
    """The jobs of a previous-layout file, read as the previous version read them."""
    documents = json.loads(path.read_bytes())["jobs"]
    assert all(key == document["id"] for key, document in documents.items())
    return [Job.from_document(document) for document in documents.values()]


def contents(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def plain_tinydb(path: Path) -> list[tuple[int, Job]]:
    with TinyDB(path, access_mode="r") as db:
        documents = db.table("jobs").all()
    return [(document.doc_id, Job.from_document(dict(document))) for document in documents]


def test_the_first_open_converts_every_file_and_loses_nothing(previous: Path) -> None:
    old = {name: (previous / name).read_bytes() for name in FILES}
    active = jobs_in(previous / "jobs.json")
    [september] = jobs_in(previous / "archive/2026-09.json")
    [october] = jobs_in(previous / "archive/2026-10.json")

    with JobStore(previous, clock=FakeClock(NOW)) as store:
        assert store.all() == active
        assert [store.get(job.id) for job in active] == active
        assert store.get(september.id) == september
        assert store.by_draft("2026/09/first light.yaml") == september
        assert store.by_draft("2026/10/café.yaml") == october
        assert store.by_draft("queue/next.yaml") == active[0]

    # Every file is now TinyDB's layout, which plain TinyDB reads ...
    assert plain_tinydb(previous / "jobs.json") == [(1, active[0]), (2, active[1])]
    assert plain_tinydb(previous / "archive/2026-09.json") == [(1, september)]
    assert plain_tinydb(previous / "archive/2026-10.json") == [(1, october)]
    with TinyDB(previous / "archive/index.json", access_mode="r") as db:
        index = {entry["id"]: (entry["draft"], entry["month"]) for entry in db.table("jobs")}
    assert index == {
        september.id: ("2026/09/first light.yaml", "2026-09"),
        october.id: ("2026/10/café.yaml", "2026-10"),
    }
    # ... and each old file is kept next to it, byte for byte.
    for name, data in old.items():
        assert (previous / f"{name}.pre-tinydb").read_bytes() == data
    assert (previous / "jobs.json.bak").read_bytes() == (previous / "jobs.json").read_bytes()


def test_a_converted_state_dir_opens_as_it_is_and_works(previous: Path) -> None:
    clock = FakeClock(NOW)
    with JobStore(previous, clock=clock):
        pass
    converted = {name: (previous / name).read_bytes() for name in FILES}
    with JobStore(previous, clock=clock) as store:
        assert {name: (previous / name).read_bytes() for name in FILES} == converted
        [october] = jobs_in(previous / "archive/2026-10.json.pre-tinydb")
        retried = store.transition(october.id, State.SCHEDULED, "retry", expect={State.FAILED})
        assert retried is not None
        added = store.add(Job(draft="new.yaml"))
    assert [job_id for job_id, _job in plain_tinydb(previous / "jobs.json")] == [1, 2, 3, 4]
    assert [job.id for _doc_id, job in plain_tinydb(previous / "jobs.json")][2:] == [
        october.id,
        added.id,
    ]
    assert plain_tinydb(previous / "archive/2026-10.json") == []
    assert not list(previous.glob("**/*.pre-tinydb.2"))


def test_readers_that_do_not_own_state_dir_read_it_unconverted(previous: Path) -> None:
    before = contents(previous)
    active = jobs_in(previous / "jobs.json")
    [september] = jobs_in(previous / "archive/2026-09.json")

    assert read_jobs(previous) == active
    reader = JobStore(previous, clock=FakeClock(NOW), lock=False)
    assert reader.all() == active
    assert reader.by_draft("2026/09/first light.yaml") == september
    reader.close()

    assert contents(previous) == before


def test_a_conversion_cut_short_is_done_again_at_the_next_open(previous: Path) -> None:
    """Killed after the backup was written and before jobs.json was: the next open converts,
    and the backup it finds (the same bytes) is the one it keeps."""
    old = (previous / "jobs.json").read_bytes()
    (previous / "jobs.json.pre-tinydb").write_bytes(old)
    with JobStore(previous, clock=FakeClock(NOW)) as store:
        assert store.all() == jobs_in(previous / "jobs.json.pre-tinydb")
    assert (previous / "jobs.json.pre-tinydb").read_bytes() == old
    assert not (previous / "jobs.json.pre-tinydb.2").exists()


def test_an_older_backup_is_never_overwritten(previous: Path) -> None:
    (previous / "jobs.json.pre-tinydb").write_bytes(b"an older copy the user kept")
    old = (previous / "jobs.json").read_bytes()
    with JobStore(previous, clock=FakeClock(NOW)):
        pass
    assert (previous / "jobs.json.pre-tinydb").read_bytes() == b"an older copy the user kept"
    assert (previous / "jobs.json.pre-tinydb.2").read_bytes() == old
