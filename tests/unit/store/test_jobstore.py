"""The job store contract on real files: durability, compare-and-set, the state_dir lock,
fail-closed on a corrupt file, the archive, threads and kill -9 (RELIABILITY §3, C22/C23/C28)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.errors import StateLocked, StoreCorrupt, StoreError
from publisher.job import Container, Job, State
from publisher.store import atomicfile, health, jobstore
from publisher.store.jobstore import JobStore, read_jobs
from tests.support.store import CHILD_ENV, T0, FakeClock, LineReader, call


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "state", clock=clock)
    yield opened
    opened.close()


def on_disk(store_dir: Path) -> dict[str, Job]:
    """What a fresh process would read: the proof a change is durable."""
    return {job.id: job for job in read_jobs(store_dir)}


# --- the contract --------------------------------------------------------------------------


def test_add_sets_times_and_history_and_is_durable(store: JobStore, tmp_path: Path) -> None:
    job = store.add(Job(draft="posts/a.yaml", account="main", scheduled_for=T0))
    assert job.created_at == job.updated_at == T0
    assert [(e.state, e.note) for e in job.history] == [("scheduled", "created")]
    assert on_disk(tmp_path / "state") == {job.id: job}
    assert store.get(job.id) == job
    assert store.by_draft("posts/a.yaml") == job
    assert store.by_draft("posts/other.yaml") is None
    with pytest.raises(StoreError, match="already exists"):
        store.add(job)


def test_update_sets_updated_at_validates_and_is_durable(
    store: JobStore, clock: FakeClock, tmp_path: Path
) -> None:
    job = store.add(Job(draft="a.yaml"))
    clock.advance(timedelta(minutes=5))
    updated = store.update(job.id, attempts=2, error="poll failed: code 2", media_id=None)
    assert (updated.attempts, updated.error, updated.updated_at) == (
        2,
        "poll failed: code 2",
        clock.now,
    )
    assert updated.created_at == T0 and updated.history == job.history
    assert on_disk(tmp_path / "state")[job.id] == updated
    with pytest.raises(TypeError, match="no field"):
        store.update(job.id, atempts=3)
    with pytest.raises(ValueError):
        store.update(job.id, scheduled_for=datetime(2026, 1, 1))  # naive: refused
    with pytest.raises(KeyError):
        store.update("no-such-job", attempts=1)
    assert on_disk(tmp_path / "state")[job.id] == updated


def test_transition_records_an_event_and_compares_before_setting(
    store: JobStore, clock: FakeClock, tmp_path: Path
) -> None:
    job = store.add(Job(draft="a.yaml"))
    clock.advance(timedelta(seconds=1))
    claimed = store.transition(
        job.id, State.PUBLISHING, "slot reached", expect={State.SCHEDULED}, attempts=1
    )
    assert claimed is not None
    assert (claimed.state, claimed.attempts, claimed.updated_at) == (
        State.PUBLISHING,
        1,
        clock.now,
    )
    assert [(e.state, e.note) for e in claimed.history][-1] == ("publishing", "slot reached")
    # A second claimer loses and nothing is written.
    before = (tmp_path / "state" / "jobs.json").read_bytes()
    assert store.transition(job.id, State.PUBLISHING, expect=[State.SCHEDULED]) is None
    assert (tmp_path / "state" / "jobs.json").read_bytes() == before
    # Without `expect` it always applies.
    done = store.transition(job.id, State.PUBLISHED, media_id="1792", published_at=clock.now)
    assert done is not None and on_disk(tmp_path / "state")[job.id] == done
    assert [e.state for e in done.history] == ["scheduled", "publishing", "published"]


def test_two_threads_claim_a_job_exactly_one_wins(store: JobStore) -> None:
    for _round in range(25):
        job = store.add(Job(draft=f"race-{_round}.yaml"))
        barrier = threading.Barrier(2)
        results: list[Job | None] = []

        def claim(
            job_id: str = job.id, barrier: threading.Barrier = barrier, out: list = results
        ) -> None:
            barrier.wait()
            out.append(store.transition(job_id, State.PUBLISHING, expect={State.SCHEDULED}))

        threads = [threading.Thread(target=claim) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [result for result in results if result is not None]
        assert len(winners) == 1
        current = store.get(job.id)
        assert current is not None
        assert [e.state for e in current.history].count("publishing") == 1


def test_add_container_and_record_call(store: JobStore, clock: FakeClock, tmp_path: Path) -> None:
    job = store.add(Job(draft="a.yaml"))
    container = Container(id="1789", role="single", created_at=T0)
    with_container = store.add_container(job.id, container)
    assert with_container.containers == (container,)
    assert with_container.parent_container() == container
    for number in range(jobstore.MAX_CALLS + 30):
        clock.advance(timedelta(seconds=1))
        store.record_call(job.id, call(clock.now, number))
    stored = on_disk(tmp_path / "state")[job.id]
    assert len(stored.api_calls) == jobstore.MAX_CALLS
    assert stored.api_calls[-1].endpoint == f"/v25.0/{jobstore.MAX_CALLS + 29}"
    assert stored.api_calls[0].endpoint == "/v25.0/30"
    assert stored.updated_at == T0  # recording a call is not a change of status


def test_remove_and_all(store: JobStore, tmp_path: Path) -> None:
    first = store.add(Job(draft="a.yaml"))
    second = store.add(Job(draft="b.yaml"))
    assert [job.id for job in store.all()] == [first.id, second.id]
    store.remove(first.id)
    store.remove("no-such-job")
    assert [job.id for job in store.all()] == [second.id]
    assert store.by_draft("a.yaml") is None
    assert list(on_disk(tmp_path / "state")) == [second.id]


def test_by_draft_returns_the_newest_job(store: JobStore, clock: FakeClock) -> None:
    store.add(Job(draft="a.yaml"))
    clock.advance(timedelta(hours=1))
    newer = store.add(Job(draft="a.yaml"))
    assert store.by_draft("a.yaml") == newer


def test_reopen_reads_everything_back(tmp_path: Path, clock: FakeClock) -> None:
    with JobStore(tmp_path, clock=clock) as first:
        job = first.add(Job(draft="a.yaml", caption_hash="abc"))
        job = first.add_container(job.id, Container(id="1", role="single", created_at=T0))
    with JobStore(tmp_path, clock=clock) as second:
        assert second.all() == [job]
        assert (tmp_path / "jobs.json.bak").read_bytes() == (tmp_path / "jobs.json").read_bytes()


def test_jobs_json_is_one_job_per_line(store: JobStore, tmp_path: Path) -> None:
    jobs = [store.add(Job(draft=f"café-{n}.yaml")) for n in range(3)]
    text = (tmp_path / "state" / "jobs.json").read_text(encoding="utf-8")
    assert len(text.splitlines()) == len(jobs) + 2
    documents = json.loads(text)["jobs"]  # TinyDB's layout: integer document ids
    assert list(documents) == ["1", "2", "3"]
    assert [document["id"] for document in documents.values()] == [job.id for job in jobs]


def test_a_failed_write_changes_nothing(store: JobStore, tmp_path: Path, clock: FakeClock) -> None:
    job = store.add(Job(draft="a.yaml"))
    path = tmp_path / "state" / "jobs.json"
    saved = path.read_bytes()
    path.unlink()
    (path / "in-the-way").mkdir(parents=True)  # os.replace onto a folder fails
    with pytest.raises(StoreError, match="not recorded"):
        store.update(job.id, attempts=5)
    assert store.get(job.id) == job  # memory still matches what was last written
    (path / "in-the-way").rmdir()
    path.rmdir()
    path.write_bytes(saved)
    clock.advance(health.FIRST_BACKOFF)  # the store tries again only after its backoff
    assert store.update(job.id, attempts=6).attempts == 6
    assert on_disk(tmp_path / "state")[job.id].attempts == 6


def test_stale_temp_files_are_cleared_on_open(tmp_path: Path, clock: FakeClock) -> None:
    tmp_path.joinpath(f".jobs.json.x1y2{atomicfile.TEMP_SUFFIX}").write_bytes(b'{"jobs":')
    with JobStore(tmp_path, clock=clock):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]


# --- read-only use ---------------------------------------------------------------------------


def test_read_only_store_follows_the_owner_and_refuses_changes(
    store: JobStore, tmp_path: Path, clock: FakeClock
) -> None:
    job = store.add(Job(draft="a.yaml"))
    reader = JobStore(tmp_path / "state", clock=clock, lock=False)
    assert reader.all() == [job]
    updated = store.update(job.id, attempts=4)
    assert reader.get(job.id) == updated
    with pytest.raises(StoreError, match="read-only"):
        reader.update(job.id, attempts=1)
    with pytest.raises(StoreError, match="read-only"):
        reader.add(Job(draft="b.yaml"))
    with pytest.raises(StoreError, match="read-only"):
        reader.archive(clock.now, timedelta(0))
    reader.close()


def test_read_only_on_a_missing_state_dir_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    reader = JobStore(tmp_path / "nothing", clock=FakeClock(), lock=False)
    assert reader.all() == []
    assert read_jobs(tmp_path / "nothing") == []
    assert not (tmp_path / "nothing").exists()


# --- the state_dir lock ----------------------------------------------------------------------

TRY_OPEN = r"""
import sys
from datetime import UTC, datetime
from pathlib import Path
from publisher.errors import StateLocked
from publisher.store.jobstore import JobStore
try:
    JobStore(Path(sys.argv[1]), clock=lambda: datetime.now(UTC)).close()
except StateLocked as exc:
    print(exc)
    sys.exit(3)
print("opened")
"""


@pytest.mark.slow
def test_second_process_gets_state_locked(tmp_path: Path, clock: FakeClock) -> None:
    owner = JobStore(tmp_path, clock=clock)
    second = subprocess.run(
        [sys.executable, "-c", TRY_OPEN, str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        env=CHILD_ENV,
        timeout=30,
    )
    assert second.returncode == 3, second.stderr
    message = second.stdout.strip()
    assert f"process {os.getpid()} (" in message
    assert "pytest" in message or "python" in message  # the holder's command line
    assert "stop it first or use another state_dir" in message
    owner.close()
    third = subprocess.run(
        [sys.executable, "-c", TRY_OPEN, str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        env=CHILD_ENV,
        timeout=30,
    )
    assert (third.returncode, third.stdout.strip()) == (0, "opened")


def test_second_store_in_one_process_is_refused_too(tmp_path: Path, clock: FakeClock) -> None:
    with JobStore(tmp_path, clock=clock), pytest.raises(StateLocked, match=str(os.getpid())):
        JobStore(tmp_path, clock=clock)
    assert (tmp_path / "lock").read_text().strip() == str(os.getpid())


def test_closed_store_refuses_changes(tmp_path: Path, clock: FakeClock) -> None:
    store = JobStore(tmp_path, clock=clock)
    job = store.add(Job(draft="a.yaml"))
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.update(job.id, attempts=1)


# --- a corrupt jobs.json: fail closed --------------------------------------------------------


def _valid_file(tmp_path: Path) -> bytes:
    folder = tmp_path / "good"
    with JobStore(folder, clock=FakeClock()) as store:
        for number in range(5):
            store.add(Job(draft=f"{number}.yaml"))
    return (folder / "jobs.json").read_bytes()


CORRUPTIONS = {
    "empty": lambda good: b"",
    "garbage": lambda good: b"\x00\x17garbage\xff",
    "truncated": lambda good: good[: len(good) // 2],
    "trailing data": lambda good: good + good[10:40],
    "not a mapping": lambda good: b"[]",
    "foreign table": lambda good: b'{"_default": {"1": {"draft": "a.yaml"}}}',
    "bad job": lambda good: good.replace(b'"scheduled"', b'"exploded"', 1),
    "id mismatch": lambda good: b'{"jobs":{"x":{"id":"y","draft":"a.yaml"}}}',
    "job twice": lambda good: (
        b'{"jobs":{"1":{"id":"y","draft":"a.yaml"},"2":{"id":"y","draft":"b"}}}'
    ),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
@pytest.mark.parametrize("with_backup", [True, False])
def test_corrupt_jobs_json_is_refused_and_kept(
    tmp_path: Path, kind: str, with_backup: bool
) -> None:
    good = _valid_file(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    bad = CORRUPTIONS[kind](good)
    (state / "jobs.json").write_bytes(bad)
    if with_backup:
        (state / "jobs.json.bak").write_bytes(good)

    with pytest.raises(StoreCorrupt) as refused:
        JobStore(state, clock=FakeClock())
    message = str(refused.value)
    assert str(state / "jobs.json") in message
    assert "Nothing will be published" in message
    assert "published again" in message
    assert ("cp " in message) is with_backup
    assert (state / "jobs.json").read_bytes() == bad  # never started empty over it
    if with_backup:
        assert (state / "jobs.json.bak").read_bytes() == good
    with pytest.raises(StoreCorrupt):
        read_jobs(state)
    with pytest.raises(StoreCorrupt):
        JobStore(state, clock=FakeClock(), lock=False)
    # The lock was released: after a fix the store opens.
    (state / "jobs.json").write_bytes(good)
    with JobStore(state, clock=FakeClock()) as fixed:
        assert len(fixed.all()) == 5


# --- the archive -----------------------------------------------------------------------------


def _finished(store: JobStore, clock: FakeClock, draft: str, state: State) -> Job:
    job = store.add(Job(draft=draft))
    done = store.transition(job.id, state)
    assert done is not None
    return done


def test_archive_moves_old_finished_jobs_by_month(
    store: JobStore, clock: FakeClock, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    clock.now = datetime(2026, 9, 30, 23, 0, tzinfo=UTC)
    september = _finished(store, clock, "sep.yaml", State.PUBLISHED)
    clock.now = datetime(2026, 10, 15, tzinfo=UTC)
    october = _finished(store, clock, "oct.yaml", State.FAILED)
    clock.now = datetime(2026, 11, 20, tzinfo=UTC)
    recent = _finished(store, clock, "recent.yaml", State.CANCELLED)
    waiting = store.add(Job(draft="waiting.yaml"))  # scheduled: never archived
    clock.now = datetime(2026, 11, 24, tzinfo=UTC)

    assert store.archive(clock.now, timedelta(days=30)) == 2
    assert store.archive(clock.now, timedelta(days=30)) == 0
    assert {job.id for job in store.all()} == {recent.id, waiting.id}
    assert set(on_disk(state_dir)) == {recent.id, waiting.id}
    months = sorted(p.name for p in (state_dir / "archive").glob("????-??.json"))
    assert months == ["2026-09.json", "2026-10.json"]
    archived = json.loads((state_dir / "archive" / "2026-09.json").read_bytes())["jobs"]
    assert [Job.from_document(document) for document in archived.values()] == [september]
    # Still findable: a draft published long ago is never taken for a new one.
    assert store.get(october.id) == october
    assert store.by_draft("sep.yaml") == september
    assert [job.id for job in store.all()] == [recent.id, waiting.id]


def test_archived_jobs_survive_a_restart_and_come_back_when_changed(
    tmp_path: Path, clock: FakeClock
) -> None:
    with JobStore(tmp_path, clock=clock) as store:
        failed = _finished(store, clock, "a.yaml", State.FAILED)
        clock.advance(timedelta(days=40))
        assert store.archive(clock.now, timedelta(days=30)) == 1
    with JobStore(tmp_path, clock=clock) as store:
        assert store.all() == []
        assert store.by_draft("a.yaml") == failed
        # `publisher retry` on an old failed draft: the job comes back to jobs.json.
        retried = store.transition(failed.id, State.SCHEDULED, "retry", expect={State.FAILED})
        assert retried is not None and retried.state is State.SCHEDULED
        assert store.all() == [retried]
        assert store.get(failed.id) == retried
    assert set(on_disk(tmp_path)) == {failed.id}
    index = json.loads((tmp_path / "archive" / "index.json").read_bytes())["jobs"]
    assert index == {}
    month = json.loads((tmp_path / "archive" / "2026-11.json").read_bytes())["jobs"]
    assert month == {}


def test_crash_between_archive_and_jobs_json_keeps_the_active_copy(
    tmp_path: Path, clock: FakeClock
) -> None:
    with JobStore(tmp_path, clock=clock) as store:
        job = _finished(store, clock, "a.yaml", State.PUBLISHED)
        before = (tmp_path / "jobs.json").read_bytes()
        clock.advance(timedelta(days=40))
        store.archive(clock.now, timedelta(days=30))
    (tmp_path / "jobs.json").write_bytes(before)  # as if killed before jobs.json dropped it
    with JobStore(tmp_path, clock=clock) as store:
        assert store.all() == [job]
        assert store.by_draft("a.yaml") == job
        assert store.archive(clock.now, timedelta(days=30)) == 1
        assert store.all() == []
        assert store.get(job.id) == job


def test_a_lost_archive_index_is_rebuilt(tmp_path: Path, clock: FakeClock) -> None:
    with JobStore(tmp_path, clock=clock) as store:
        job = _finished(store, clock, "a.yaml", State.MISSED)
        clock.advance(timedelta(days=40))
        store.archive(clock.now, timedelta(days=30))
    (tmp_path / "archive" / "index.json").write_bytes(b"{torn")
    with JobStore(tmp_path, clock=clock) as store:
        assert store.by_draft("a.yaml") == job
    (tmp_path / "archive" / "index.json").unlink()
    with JobStore(tmp_path, clock=clock) as store:
        assert store.get(job.id) == job


def test_a_corrupt_archive_file_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    with JobStore(tmp_path, clock=clock) as store:
        _finished(store, clock, "a.yaml", State.PUBLISHED)
        clock.advance(timedelta(days=40))
        store.archive(clock.now, timedelta(days=30))
        store.add(Job(draft="b.yaml"))
    (tmp_path / "archive" / "index.json").unlink()
    (tmp_path / "archive" / "2026-11.json").write_bytes(b'{"jobs": {"x": ')
    with pytest.raises(StoreCorrupt, match="2026-11.json"):
        JobStore(tmp_path, clock=clock)


# --- concurrency and crashes -----------------------------------------------------------------


@pytest.mark.slow
def test_threads_hammering_their_own_jobs_lose_no_update(tmp_path: Path, clock: FakeClock) -> None:
    """RELIABILITY C22 (scaled down): 8 threads x 200 durable updates."""
    threads_count, updates = 8, 200
    with JobStore(tmp_path, clock=clock) as store:
        jobs = [store.add(Job(draft=f"{n}.yaml")) for n in range(threads_count)]
        errors: list[BaseException] = []

        def hammer(job_id: str) -> None:
            try:
                for value in range(1, updates + 1):
                    store.update(job_id, attempts=value)
                    if value % 50 == 0:
                        store.record_call(job_id, call(T0, value))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=hammer, args=(job.id,)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert all(job.attempts == updates for job in store.all())
    stored = on_disk(tmp_path)
    assert [stored[job.id].attempts for job in jobs] == [updates] * threads_count
    assert all(len(stored[job.id].api_calls) == updates // 50 for job in jobs)


# A child that updates jobs as fast as it can, acknowledging each durable update on stdout.
# It is forked by a driver that imported everything once, so each round costs a fork.
KILL_DRIVER = r"""
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
            values = {job_id: store.get(job_id).attempts for job_id in jobs}
            os.write(1, b"started\n")
            n = 0
            while True:
                job_id = jobs[n % len(jobs)]
                values[job_id] += 1
                # Odd values carry a long error: the file shrinks and grows, as in real use
                # (an in-place rewrite would leave a torn tail when killed at a shrink).
                error = "x" * 4000 if values[job_id] % 2 else None
                store.update(job_id, attempts=values[job_id], error=error)
                os.write(1, f"ack {job_id} {values[job_id]}\n".encode())
                n += 1
        finally:
            os._exit(1)
    os.write(1, f"pid {pid}\n".encode())
    os.waitpid(pid, 0)
    os.write(1, b"reaped\n")
"""


@pytest.mark.slow
def test_kill_9_never_loses_an_acknowledged_update(tmp_path: Path, clock: FakeClock) -> None:
    """RELIABILITY §3.1 / C7: SIGKILL a writer at random moments; after every kill jobs.json
    parses and holds every update the writer had acknowledged (and at most one more)."""
    with JobStore(tmp_path, clock=clock) as store:
        for number in range(40):  # a store of realistic size: the write takes a while
            job = store.add(Job(draft=f"{number}.yaml", caption_hash="x" * 64))
            for poll in range(20):
                store.record_call(job.id, call(T0, poll))
    acked = {job.id: 0 for job in read_jobs(tmp_path)}
    rng = random.Random(1234)
    driver = subprocess.Popen(
        [sys.executable, "-c", KILL_DRIVER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=CHILD_ENV,
        bufsize=0,
    )
    assert driver.stdin is not None and driver.stdout is not None
    reader = LineReader(driver.stdout.fileno())

    def note(line: str) -> None:
        if line.startswith("ack "):
            _ack, job_id, value = line.split()
            acked[job_id] = int(value)

    kills = 0
    deadline = time.monotonic() + 60
    try:
        while kills < 50:
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
            stored = {job.id: job.attempts for job in read_jobs(tmp_path)}  # parses, or raises
            assert set(stored) == set(acked)
            for job_id, value in acked.items():
                assert value <= stored[job_id] <= value + 1, (job_id, value, stored[job_id])
            acked.update(stored)  # an unacknowledged write that landed is the next base
    finally:
        driver.stdin.close()
        driver.wait(timeout=10)
    assert sum(acked.values()) >= kills // 2  # the child really wrote between kills (see above)
    with JobStore(tmp_path, clock=clock):
        pass
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(atomicfile.TEMP_SUFFIX)]
