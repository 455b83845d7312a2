"""`JobStore.batch()`: many changes, one write of jobs.json when the block ends; durable then,
all-or-nothing on a failed write, old-or-new file under kill -9, compare-and-set inside it."""

from __future__ import annotations

import copy
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.errors import StoreError
from publisher.job import Container, Job, State
from publisher.store import atomicfile, health
from publisher.store.jobstore import JobStore, read_jobs
from tests.support.store import CHILD_ENV, T0, FakeClock, LineReader, call


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[JobStore]:
    opened = JobStore(tmp_path, clock=clock)
    yield opened
    opened.close()


def on_disk(state_dir: Path) -> dict[str, Job]:
    return {job.id: job for job in read_jobs(state_dir)}


def file_key(state_dir: Path) -> tuple[int, int]:
    """Every write of jobs.json is a new file (temp + rename): a new inode and mtime."""
    stat = os.stat(state_dir / "jobs.json")
    return stat.st_ino, stat.st_mtime_ns


# Each change a batch may hold, made on the job `first` of a store that also has `second`.
CHANGES: dict[str, Callable[[JobStore, Job, Job], object]] = {
    "add": lambda store, first, second: store.add(Job(draft="new.yaml")),
    "update": lambda store, first, second: store.update(first.id, attempts=3),
    "transition": lambda store, first, second: store.transition(
        first.id, State.PUBLISHING, "slot", expect={State.SCHEDULED}
    ),
    "add_container": lambda store, first, second: store.add_container(
        first.id, Container(id="1789", role="single", created_at=T0)
    ),
    "record_call": lambda store, first, second: store.record_call(first.id, call(T0)),
    "remove": lambda store, first, second: store.remove(first.id),
}


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_a_batch_writes_once_when_it_ends(store: JobStore, tmp_path: Path, kind: str) -> None:
    first = store.add(Job(draft="a.yaml"))
    second = store.add(Job(draft="b.yaml"))
    before_key, before = file_key(tmp_path), on_disk(tmp_path)
    with store.batch():
        CHANGES[kind](store, first, second)
        store.update(second.id, error="seen in the batch")
        inside = {job.id: job for job in store.all()}
        assert inside[second.id].error == "seen in the batch"  # reads see the changes
        assert file_key(tmp_path) == before_key  # ... before jobs.json has them
        assert on_disk(tmp_path) == before
    assert file_key(tmp_path) != before_key
    assert on_disk(tmp_path) == inside == {job.id: job for job in store.all()}


def test_many_adds_in_a_batch_are_one_file_with_every_job(store: JobStore, tmp_path: Path) -> None:
    with store.batch():
        added = [store.add(Job(draft=f"{number}.yaml")) for number in range(300)]
    assert list(on_disk(tmp_path).values()) == added == store.all()
    assert store.by_draft("299.yaml") == added[-1]


def test_an_empty_batch_writes_nothing_and_nested_batches_write_once(
    store: JobStore, tmp_path: Path
) -> None:
    job = store.add(Job(draft="a.yaml"))
    before_key = file_key(tmp_path)
    with store.batch():
        pass
    assert file_key(tmp_path) == before_key
    with store.batch():
        with store.batch():
            store.update(job.id, attempts=1)
        assert file_key(tmp_path) == before_key  # the inner block is part of the outer one
        store.update(job.id, attempts=2)
    assert on_disk(tmp_path)[job.id].attempts == 2


def test_a_batch_that_raises_still_writes_its_changes(store: JobStore, tmp_path: Path) -> None:
    job = store.add(Job(draft="a.yaml"))
    with pytest.raises(RuntimeError, match="boom"), store.batch():
        store.update(job.id, attempts=7)
        raise RuntimeError("boom")
    assert on_disk(tmp_path)[job.id].attempts == 7 == store.get(job.id).attempts  # type: ignore[union-attr]


def test_a_failed_batch_write_keeps_nothing_of_the_batch(
    store: JobStore, tmp_path: Path, clock: FakeClock
) -> None:
    job = store.add(Job(draft="a.yaml"))
    path = tmp_path / "jobs.json"
    saved = path.read_bytes()
    with pytest.raises(StoreError, match="not recorded"), store.batch():
        store.update(job.id, attempts=5)
        store.add(Job(draft="b.yaml"))
        path.unlink()
        (path / "in-the-way").mkdir(parents=True)  # os.replace onto a folder fails
    # Memory is back to what was last written.
    assert store.all() == [job]
    assert store.by_draft("b.yaml") is None
    (path / "in-the-way").rmdir()
    path.rmdir()
    path.write_bytes(saved)
    clock.advance(health.FIRST_BACKOFF)  # the store tries again only after its backoff
    assert store.update(job.id, attempts=6).attempts == 6
    assert on_disk(tmp_path) == {job.id: store.get(job.id)}


def test_a_read_only_or_closed_store_refuses_a_batch(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path, clock=clock)
    reader = JobStore(tmp_path, clock=clock, lock=False)
    with pytest.raises(StoreError, match="read-only"), reader.batch():
        pass
    store.close()
    with pytest.raises(StoreError, match="closed"), store.batch():
        pass


def test_compare_and_set_inside_a_batch_and_against_another_thread(store: JobStore) -> None:
    job = store.add(Job(draft="a.yaml"))
    other: list[Job | None] = []
    asking = threading.Event()

    def claim() -> None:
        asking.set()
        other.append(store.transition(job.id, State.PUBLISHING, expect={State.SCHEDULED}))

    thread = threading.Thread(target=claim)
    with store.batch():
        won = store.transition(job.id, State.PUBLISHING, "slot", expect={State.SCHEDULED})
        assert won is not None
        # The batch's own pending state is what a second claim compares with.
        assert store.transition(job.id, State.PUBLISHING, expect={State.SCHEDULED}) is None
        thread.start()
        assert asking.wait(5)
        thread.join(0.2)
        assert thread.is_alive()  # the other claimer waits for the batch to end ...
    thread.join(5)
    assert other == [None]  # ... and then loses
    current = store.get(job.id)
    assert current is not None
    assert [event.state for event in current.history].count("publishing") == 1


def test_archived_jobs_leave_the_archive_after_the_batch_is_written(
    tmp_path: Path, clock: FakeClock
) -> None:
    with JobStore(tmp_path, clock=clock) as store:
        job = store.add(Job(draft="a.yaml"))
        failed = store.transition(job.id, State.FAILED)
        assert failed is not None
        clock.advance(timedelta(days=40))
        assert store.archive(clock.now, timedelta(days=30)) == 1
        index = tmp_path / "archive" / "index.json"
        with store.batch():
            retried = store.transition(job.id, State.SCHEDULED, "retry", expect={State.FAILED})
            assert retried is not None and store.all() == [retried]
            # jobs.json does not have it yet, so the archive keeps it for now.
            assert job.id in index.read_text()
            assert on_disk(tmp_path) == {}
        assert on_disk(tmp_path) == {job.id: retried}
        assert job.id not in index.read_text()
    with JobStore(tmp_path, clock=clock) as store:
        assert store.get(job.id) == retried


def test_stored_jobs_share_a_read_only_field_name_set_and_still_copy(store: JobStore) -> None:
    """Stored jobs share pydantic's field-name sets (memory); copies must work as usual, and
    nothing may change a shared set in place."""
    job = store.add(Job(draft="a.yaml"))
    other = store.add(Job(draft="b.yaml", account="main"))
    assert job.model_fields_set is other.model_fields_set
    with pytest.raises(AttributeError):
        job.model_fields_set.add("error")  # type: ignore[attr-defined]
    changed = job.model_copy(update={"error": "x"})
    assert (changed.error, store.get(job.id)) == ("x", job)
    assert type(changed.model_fields_set) is set
    assert copy.deepcopy(other) == other
    assert type(copy.deepcopy(other).model_fields_set) is set


# A child that runs batches as fast as it can: each sets every job's `attempts` to the round
# number (with an `error` that makes the file grow and shrink), and says so once it ended.
BATCH_DRIVER = r"""
import os, sys
from datetime import UTC, datetime
from pathlib import Path
from publisher.store.jobstore import JobStore

state_dir = Path(sys.argv[1])
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            store = JobStore(state_dir, clock=lambda: datetime.now(UTC))
            jobs = [job.id for job in store.all()]
            number = max(job.attempts for job in store.all())
            os.write(1, b"started\n")
            while True:
                number += 1
                with store.batch():
                    for job_id in jobs:
                        store.update(job_id, attempts=number, error="x" * (number % 3) * 900)
                os.write(1, f"ack {number}\n".encode())
        finally:
            os._exit(1)
    os.write(1, f"pid {pid}\n".encode())
    os.waitpid(pid, 0)
    os.write(1, b"reaped\n")
"""


@pytest.mark.slow
def test_kill_9_during_batches_leaves_the_old_or_the_new_file(
    tmp_path: Path, clock: FakeClock
) -> None:
    """SIGKILL a process running batches at random moments: jobs.json always parses and holds
    one whole batch (every job at the same round), never older than the last acknowledged."""
    with JobStore(tmp_path, clock=clock) as store, store.batch():
        for number in range(60):
            store.add(Job(draft=f"{number}.yaml", caption_hash="x" * 64))
    acked = 0
    rng = random.Random(4321)
    driver = subprocess.Popen(
        [sys.executable, "-c", BATCH_DRIVER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=CHILD_ENV,
        bufsize=0,
    )
    assert driver.stdin is not None and driver.stdout is not None
    reader = LineReader(driver.stdout.fileno())

    def note(line: str) -> None:
        nonlocal acked
        if line.startswith("ack "):
            acked = max(acked, int(line.split()[1]))

    kills = 0
    deadline = time.monotonic() + 60
    try:
        while kills < 40:
            assert time.monotonic() < deadline, "the kill loop took too long"
            driver.stdin.write(b"go\n")
            seen = {line.split()[0]: line for line in reader.until({"pid", "started"}, note)}
            pid = int(seen["pid"].split()[1])
            if kills % 2:
                # every other kill comes after at least one acknowledged write, so the child
                # makes progress however loaded the machine is; the rest at any moment
                reader.until({"ack"}, note)
            stop_at = time.monotonic() + rng.uniform(0.0, 0.03)
            while time.monotonic() < stop_at:
                for line in reader.lines(timeout=0.001):
                    note(line)
            os.kill(pid, signal.SIGKILL)
            reader.until({"reaped"}, note)
            kills += 1
            rounds = {job.attempts for job in read_jobs(tmp_path)}  # parses, or raises
            assert len(rounds) == 1, f"a mix of batches: {sorted(rounds)}"
            [stored] = rounds
            assert acked <= stored <= acked + 1, (acked, stored)
            acked = stored
    finally:
        driver.stdin.close()
        driver.wait(timeout=10)
    assert acked >= kills // 2  # the child really wrote between kills (see above)
    with JobStore(tmp_path, clock=clock):
        pass
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(atomicfile.TEMP_SUFFIX)]
