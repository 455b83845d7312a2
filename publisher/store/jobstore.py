"""The job store: `state_dir/jobs.json`, the single source of truth (RELIABILITY.md §0, §3).

A TinyDB database, built from TinyDB's extension points: `AtomicStorage` keeps the data in
memory and writes every change as a new file swapped in atomically (a kill -9 leaves the old
file or the new one; when a method returns, its change is on disk); the `Batching` middleware
lets `batch()` group many changes into one write; `JobTable` holds each job once, as the `Job`
the rest of publisher is handed (nothing outside publisher/store sees TinyDB). One
process-wide lock serialises every read-modify-write, as TinyDB is not thread-safe (§3.3), and
`transition(expect=...)` is a compare-and-set under that lock, so only one of two claimers
wins a job. The process that changes jobs owns state_dir through its lock (`lock`).

Layout of state_dir (every JSON file in TinyDB's format; `convert` for the previous one):
    jobs.json             {"jobs": {"<n>": {"id": "<job id>", ...}}}, one job per line
    jobs.json.bak         a copy of jobs.json as it was when the store last opened it
    lock                  flock'd by the process that owns state_dir; holds its pid
    archive/YYYY-MM.json  finished jobs moved out of jobs.json (`archive`)
    archive/index.json    where each archived job is
    *.pre-tinydb          a file as the previous version wrote it, kept when converted

Read it with plain TinyDB: `TinyDB("state/jobs.json", access_mode="r").table("jobs").all()`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from publisher.clock import Clock
from publisher.errors import StoreError
from publisher.job import DONE, ApiCall, Container, Event, Job, State
from publisher.store import atomicfile, convert
from publisher.store import lock as state_dir_lock
from publisher.store.archive import Archive
from publisher.store.batching import Batching
from publisher.store.health import WriteGate
from publisher.store.lock import LOCK_FILE
from publisher.store.storage import TABLE, AtomicStorage
from publisher.store.table import JobsDatabase, JobTable, compact, decode

# LOCK_FILE is the lock module's; it is named here too, with the files the store keeps.
__all__ = [
    "ARCHIVE_DIR",
    "BACKUP_FILE",
    "JOBS_FILE",
    "LOCK_FILE",
    "MAX_CALLS",
    "JobStore",
    "read_jobs",
]

log = logging.getLogger(__name__)

JOBS_FILE = "jobs.json"
BACKUP_FILE = "jobs.json.bak"
ARCHIVE_DIR = "archive"
MAX_CALLS = 200  # API calls kept per job: a long poll must not grow a job without bound

# Every store in the process takes this around each read-modify-write (and a batch, whole).
_LOCK = threading.RLock()
_FIELDS = frozenset(Job.model_fields) - {"id"}


# Told (before, after) once a change of a job is durable; before is None for a new job.
Observer = Callable[[Job | None, Job], None]


def read_jobs(state_dir: Path) -> list[Job]:
    """Given a state_dir, return the jobs in its jobs.json without taking the lock (for
    `publisher status` while the daemon runs). Archived jobs are not included.

    Return [] if there is no jobs.json yet. Raise StoreCorrupt if it cannot be read.
    """
    with _open_database(state_dir, writable=False) as db:
        return _table(db).jobs()


class JobStore:
    """Owns the TinyDB at state_dir/jobs.json (and, with `lock=True`, state_dir itself)."""

    def __init__(self, state_dir: Path, *, clock: Clock, lock: bool = True) -> None:
        """Given a state_dir and a clock, open the store. With `lock=True` create state_dir,
        take its lock, convert files in the previous layout and save jobs.json.bak; with
        `lock=False` only read (every method that changes a job raises StoreError) and
        follow the owner's writes.

        Raise StateLocked if another process holds the lock. Raise StoreCorrupt if jobs.json
        (or the archive) exists but cannot be read: never start empty over it.
        """
        self._state_dir = state_dir
        self._path = state_dir / JOBS_FILE
        self._clock = clock
        self._writable = lock
        self._lock_fd: int | None = None
        self._in_batch = False
        self._leaving_archive: list[str] = []  # in a batch: ids to drop from the archive after
        self._observer: Observer | None = None
        self._told: list[tuple[Job | None, Job]] = []  # in a batch: state changes to tell after
        if lock:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = state_dir_lock.take(state_dir)
        try:
            with _LOCK:
                if lock:
                    atomicfile.remove_stale_temps(state_dir)
                    atomicfile.remove_stale_temps(state_dir / ARCHIVE_DIR)
                    self._warn_if_missing()
                self._batching = Batching(AtomicStorage)
                self._db = _open_database(state_dir, writable=lock, storage=self._batching)
                self._storage = cast(AtomicStorage, self._batching.storage)
                self._gate = WriteGate(self._path, clock, mend=self._mend)
                if lock:
                    self._storage.gate = self._gate
                self._table = _table(self._db)
                if lock and self._storage.previous_layout:
                    convert.upgrade(self._storage)
                self._archive = Archive(state_dir / ARCHIVE_DIR, writable=lock)
                self._archive.load(active=self._table.has)
                if lock and self._path.exists():
                    atomicfile.write_bytes(state_dir / BACKUP_FILE, self._path.read_bytes())
        except BaseException:
            self.close()
            raise

    # --- reading -------------------------------------------------------------------------

    def all(self) -> list[Job]:
        """Return every job not archived, oldest first."""
        with _LOCK:
            self._refresh()
            return self._table.jobs()

    def get(self, job_id: str) -> Job | None:
        """Return the job with this id (archived ones too), or None."""
        with _LOCK:
            self._refresh()
            job = self._table.job(job_id)
            if job is None and job_id in self._archive:
                job = self._archive.get(job_id)
            return job

    def by_draft(self, rel: str) -> Job | None:
        """Given a draft path relative to content_dir, return its newest job (an active one
        before an archived one), or None if the store has never seen it."""
        with _LOCK:
            self._refresh()
            found = self._table.jobs_of_draft(rel) or self._archive.jobs_of_draft(rel)
            return max(found, key=_created) if found else None

    # --- when state_dir cannot be written ----------------------------------------------------

    @property
    def failing(self) -> str | None:
        """Why jobs.json cannot be written now, in a sentence; None while it can (`health`)."""
        with _LOCK:
            return self._gate.failing

    def try_writing(self) -> bool:
        """While jobs.json cannot be written: once the backoff is over, write it again from
        memory. Return True when it can be written (again), False while it still fails or
        the backoff is not over."""
        with _LOCK:
            if self._gate.failing is None:
                return True
            if not self._gate.due() or not self._writable or self._lock_fd is None:
                return False
            try:
                self._storage.write(self._storage.read() or {TABLE: {}})
            except StoreError:
                return False
            return True

    def keep_state_dir(self) -> bool:
        """If state_dir, its lock file or jobs.json went away while this process owns it
        (someone deleted the folder), make them again from memory: the folder, the lock
        (taken again), jobs.json with every job this store holds. Return True if anything
        was made again. Raise StoreError if it cannot be (the write is retried later)."""
        with _LOCK:
            if not self._writable or self._lock_fd is None or self._in_batch:
                return False
            mended = self._mend()
            if self._path.exists() or self._storage.read() is None:
                return mended
            failing = self._gate.failing is not None  # then the gate says what happened
            self._storage.write(self._storage.read() or {TABLE: {}})
            if not mended and not failing:
                log.warning(
                    "%s was deleted while publisher ran: wrote it again from memory (%d job(s))",
                    self._path,
                    len(self._table),
                )
            return True

    def _mend(self) -> bool:
        """Make state_dir and its lock again if they are gone (under _LOCK); return True if
        they were (`lock.take_again`)."""
        if self._lock_fd is None:
            return False
        fd = state_dir_lock.take_again(self._state_dir, self._lock_fd)
        if fd is None:
            return False
        self._lock_fd = fd
        log.warning(
            "state_dir %s was deleted while publisher ran: made it again, took its lock again "
            "and wrote back the %d job(s) held in memory (finished jobs archived before are "
            "gone with it)",
            self._state_dir,
            len(self._table),
        )
        return True

    # --- changing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Within the block, make every change with one write of jobs.json, when it ends.

        The methods called inside (by this thread) change the jobs in memory and return them
        as usual, and reads see the changes, but jobs.json is written once, as the block
        exits, whether or not it raised: the changes are durable when the `with` statement
        ends, not when each method returns. A kill -9 before that leaves jobs.json as it was
        (old or new file, never a mix). The block holds the store's lock, so other threads'
        calls wait for its end and a compare-and-set inside it meets no other writer. A batch
        inside a batch is part of it. Archived jobs brought back or removed leave the archive
        after jobs.json is written (the archive's crash order).

        Raise StoreError if the store is read-only or closed, or if the write fails: memory
        is then back to what jobs.json holds, without any change made in the batch.
        """
        with _LOCK:
            if self._in_batch:
                yield
                return
            self._check_writable()
            self._in_batch = True
            self._batching.begin()
            try:
                yield
            finally:
                leaving, self._leaving_archive = self._leaving_archive, []
                told, self._told = self._told, []
                try:
                    self._check_writable()
                    self._batching.commit()
                except StoreError:
                    self._batching.rollback()
                    self._table.reindex()  # back to what jobs.json holds
                    raise
                finally:
                    self._in_batch = False
                self._archive.remove(leaving)
                for before, after in told:
                    self._tell(before, after)

    def observe(self, observer: Observer | None) -> None:
        """Call `observer(before, after)` after each change of a job (its state or fields;
        not the API calls recorded on it) is durable; `before` is None for a new job. In a
        batch, once the batch is written, and not at all if it is rolled back. The observer
        must return at once (the notifier only queues); if it raises, the change stands and
        the failure is logged. None stops the calls."""
        with _LOCK:
            self._observer = observer

    def add(self, job: Job) -> Job:
        """Store a new job, with created_at/updated_at set to now and a first history event;
        return it as stored. Raise StoreError if a job with its id exists."""
        with _LOCK:
            self._check_writable()
            if self._table.has(job.id) or job.id in self._archive:
                raise StoreError(f"job {job.id} already exists")
            now = self._clock()
            event = Event(at=now, state=job.state.value, note="created")
            new = _changed(
                job,
                {"created_at": now, "updated_at": now, "history": (*job.history, event)},
            )
            self._table.put(new)
            self._observed(None, new)
            return new

    def update(self, job_id: str, **changes: Any) -> Job:
        """Set the given Job fields (and updated_at) on a job; return it as stored.
        Raise KeyError if there is no such job, TypeError for a field Job does not have,
        pydantic.ValidationError for a bad value."""
        with _LOCK:
            job = self._current(job_id)
            new = _changed(job, {**changes, "updated_at": self._clock()})
            self._table.put(new)
            self._observed(job, new)
            return new

    def transition(
        self,
        job_id: str,
        state: State,
        note: str = "",
        *,
        expect: Iterable[State] | None = None,
        **changes: Any,
    ) -> Job | None:
        """Move a job to `state`, recording an Event(now, state, note) and any other changes;
        return it as stored. If `expect` is given and the job is in none of those states,
        change nothing and return None: this compare-and-set is how the scheduler and
        `publish now` claim a job, and only one of them wins. Raise KeyError if there is no
        such job."""
        with _LOCK:
            job = self._current(job_id)
            if expect is not None and job.state not in set(expect):
                return None
            now = self._clock()
            event = Event(at=now, state=State(state).value, note=note)
            new = _changed(
                job,
                {**changes, "state": state, "updated_at": now, "history": (*job.history, event)},
            )
            self._table.put(new)
            self._observed(job, new)
            return new

    def add_container(self, job_id: str, container: Container) -> Job:
        """Record a container created for the job (right after creating it); return the job."""
        with _LOCK:
            job = self._current(job_id)
            changes = {"containers": (*job.containers, container), "updated_at": self._clock()}
            new = _changed(job, changes)
            self._table.put(new)
            return new

    def record_call(self, job_id: str, call: ApiCall) -> None:
        """Record one API call made for the job, keeping the last MAX_CALLS. It does not
        change updated_at (a poll is not a change of status)."""
        with _LOCK:
            job = self._current(job_id)
            self._table.put(_changed(job, {"api_calls": (*job.api_calls, call)[-MAX_CALLS:]}))

    def remove(self, job_id: str) -> None:
        """Forget a job, archived or not. Nothing happens if there is no such job."""
        with _LOCK:
            self._check_writable()
            self._table.drop([job_id])
            if job_id in self._archive:
                self._leave_archive(job_id)

    def archive(self, now: datetime, older_than: timedelta) -> int:
        """Move the finished jobs (job.DONE) last updated before `now - older_than` to
        archive/YYYY-MM.json (the month of updated_at, UTC); return how many moved.
        Raise StoreCorrupt if an archive file cannot be read (nothing moves then)."""
        with _LOCK:
            self._check_writable()
            cutoff = now - older_than
            moving = [
                job
                for job in self._table.jobs()
                if job.state in DONE and job.updated_at is not None and job.updated_at < cutoff
            ]
            if not moving:
                return 0
            # The archive first: a crash before jobs.json drops them leaves them in both.
            self._archive.add(moving)
            self._table.drop([job.id for job in moving])
            return len(moving)

    def close(self) -> None:
        """Release the state_dir lock. Safe to call twice."""
        with _LOCK:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing the descriptor releases the flock
                self._lock_fd = None

    def __enter__(self) -> JobStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------

    def _observed(self, before: Job | None, after: Job) -> None:
        if self._observer is None:
            return
        if self._in_batch:
            self._told.append((before, after))
        else:
            self._tell(before, after)

    def _tell(self, before: Job | None, after: Job) -> None:
        observer = self._observer
        if observer is None:
            return
        try:
            observer(before, after)
        except Exception:  # an observer's fault must never undo or hide a recorded change
            log.exception("job %s: the state-change observer failed", after.id)

    def _check_writable(self) -> None:
        if not self._writable:
            raise StoreError(
                f"{self._path} is open read-only (lock=False); only the process holding "
                f"{self._state_dir / LOCK_FILE} may change jobs"
            )
        if self._lock_fd is None:
            raise StoreError(f"the job store at {self._state_dir} is closed")

    def _current(self, job_id: str) -> Job:
        """Return the active job with this id, bringing it back from the archive if needed."""
        self._check_writable()
        job = self._table.job(job_id)
        if job is not None:
            return job
        restored = self._archive.get(job_id)
        if restored is not None:
            # jobs.json takes it first: a crash in between leaves it in both, and the copy
            # in jobs.json wins.
            restored = compact(restored)
            self._table.put(restored)
            self._leave_archive(job_id)
            return restored
        raise KeyError(f"no job {job_id} in {self._path}")

    def _leave_archive(self, job_id: str) -> None:
        """Drop an archived job from the archive once jobs.json no longer needs it there:
        now, or after the batch's write."""
        if self._in_batch:
            self._leaving_archive.append(job_id)
        else:
            self._archive.remove([job_id])

    def _refresh(self) -> None:
        """Read-only stores follow the owner's writes: every write is a new inode."""
        if self._writable:
            return
        if self._storage.changed_on_disk():
            self._storage.reload()
            self._table.reindex()
        self._archive.refresh(active=self._table.has)

    def _warn_if_missing(self) -> None:
        if not self._path.exists() and (self._state_dir / BACKUP_FILE).exists():
            log.warning(
                "%s is missing: starting with an empty job store (%s holds the jobs as "
                "they were at the last start)",
                self._path,
                self._state_dir / BACKUP_FILE,
            )


def _open_database(
    state_dir: Path, *, writable: bool, storage: Any = AtomicStorage
) -> JobsDatabase:
    """Open state_dir/jobs.json as TinyDB through `storage` (AtomicStorage, or a middleware
    around it). Raise StoreCorrupt if it cannot be read."""
    return JobsDatabase(
        state_dir / JOBS_FILE,
        writable=writable,
        decode=decode,
        backup=state_dir / BACKUP_FILE,
        storage=storage,
    )


def _table(db: JobsDatabase) -> JobTable:
    return cast(JobTable, db.table(TABLE))


def _changed(job: Job, changes: dict[str, Any]) -> Job:
    """Return `job` with `changes` applied and validated. Raise TypeError for unknown fields."""
    unknown = set(changes) - _FIELDS
    if unknown:
        raise TypeError(f"Job has no field(s) {', '.join(sorted(unknown))}")
    values = dict(job)
    values.update(changes)
    return compact(Job.model_validate(values))


def _created(job: Job) -> datetime:
    return job.created_at or datetime.min.replace(tzinfo=UTC)
