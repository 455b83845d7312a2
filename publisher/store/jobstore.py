"""The job store: `state_dir/jobs.json`, the single source of truth (RELIABILITY.md §0, §3).

This process owns the file (the state_dir lock), so the jobs live in memory and every change
is a new file swapped in by `atomicfile.write_bytes` (temp + fsync + rename + folder fsync):
a kill -9 leaves the old file or the new one, never a torn one (TinyDB's JSONStorage rewrites
in place, §3.1), and when a method returns its change is on disk (no write cache, §3.4). One
process-wide lock serialises every read-modify-write (§3.3), and `transition(expect=...)` is
a compare-and-set under that lock, so only one of two claimers wins a job. `batch()` groups
many changes into one write (the daemon's scan of every draft): durable when it ends.

In memory each job is kept once as its `Job` (reads hand it out as is) and once as its line
of jobs.json (so a write serialises only the jobs that changed); the field-name sets pydantic
keeps on every model are shared (see `_compact`).

Layout of state_dir:
    jobs.json           {"jobs": {"<job id>": {...}}}, one job per line, oldest first
    jobs.json.bak       a copy of jobs.json as it was when the store last opened it
    lock                flock'd by the process that owns state_dir; holds its pid
    archive/YYYY-MM.json  finished jobs moved out of jobs.json, by the month of updated_at
    archive/index.json  {"jobs": {"<job id>": ["<draft>", "YYYY-MM"]}}: what is archived where

Archived jobs keep a write costing what the active jobs cost, not the whole history: jobs.json
holds only the jobs not yet archived. They stay findable (`get`, `by_draft`), so a draft
published long ago is never taken for a new one, and changing one brings it back to jobs.json.
Crash order: archive files are written before jobs.json drops the jobs, and jobs.json takes a
job back before the archive drops it; a job found in both is the one in jobs.json.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from publisher.clock import Clock
from publisher.errors import StateLocked, StoreCorrupt, StoreError
from publisher.job import DONE, ApiCall, Container, Event, Job, State
from publisher.store import atomicfile

log = logging.getLogger(__name__)

JOBS_FILE = "jobs.json"
BACKUP_FILE = "jobs.json.bak"
LOCK_FILE = "lock"
ARCHIVE_DIR = "archive"
ARCHIVE_INDEX = "index.json"
TABLE = "jobs"
MAX_CALLS = 200  # API calls kept per job: a long poll must not grow a job without bound

# Every store in the process takes this around each read-modify-write (and a batch, whole).
_LOCK = threading.RLock()
_FIELDS = frozenset(Job.model_fields) - {"id"}
_MAX_SHARED_NAMES = 1024  # distinct field-name sets shared (see `_compact`); a few are used


def read_jobs(state_dir: Path) -> list[Job]:
    """Given a state_dir, return the jobs in its jobs.json without taking the lock (for
    `publisher status` while the daemon runs). Archived jobs are not included.

    Return [] if there is no jobs.json yet. Raise StoreCorrupt if it cannot be read.
    """
    path = state_dir / JOBS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return list(_parse_jobs(path, data).values())


class _View(NamedTuple):
    """The in-memory store as last written: what a failed batch write goes back to."""

    jobs: dict[str, Job]
    lines: dict[str, str]
    drafts: dict[str, tuple[str, ...]]


class JobStore:
    """Owns state_dir/jobs.json and its jobs in memory (and, with `lock=True`, state_dir)."""

    def __init__(self, state_dir: Path, *, clock: Clock, lock: bool = True) -> None:
        """Given a state_dir and a clock, open the store. With `lock=True` create state_dir,
        take its lock and save jobs.json.bak; with `lock=False` only read (every method that
        changes a job raises StoreError) and follow the owner's writes.

        Raise StateLocked if another process holds the lock. Raise StoreCorrupt if jobs.json
        (or the archive) exists but cannot be read: never start empty over it.
        """
        self._state_dir = state_dir
        self._path = state_dir / JOBS_FILE
        self._clock = clock
        self._writable = lock
        self._lock_fd: int | None = None
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime, size) last loaded
        self._archive_seen: tuple[int, int, int] | None = None
        self._jobs: dict[str, Job] = {}  # oldest first, as in jobs.json
        self._lines: dict[str, str] = {}  # job id -> its line in jobs.json, made on demand
        self._drafts: dict[str, tuple[str, ...]] = {}  # draft -> ids of its active jobs
        self._archived: dict[str, tuple[str, str]] = {}  # id -> (draft, month)
        self._archived_drafts: dict[str, set[str]] = {}
        self._in_batch = False
        self._written: _View | None = None  # in a batch with changes: memory as last written
        self._leaving_archive: list[str] = []  # in a batch: ids to drop from the archive after
        if lock:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _take_lock(state_dir)
        try:
            with _LOCK:
                if lock:
                    atomicfile.remove_stale_temps(state_dir)
                    atomicfile.remove_stale_temps(state_dir / ARCHIVE_DIR)
                self._load()
                self._load_archive_index()
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
            return list(self._jobs.values())

    def get(self, job_id: str) -> Job | None:
        """Return the job with this id (archived ones too), or None."""
        with _LOCK:
            self._refresh()
            job = self._jobs.get(job_id)
            if job is None and job_id in self._archived:
                job = self._read_archived(job_id)
            return job

    def by_draft(self, rel: str) -> Job | None:
        """Given a draft path relative to content_dir, return its newest job (an active one
        before an archived one), or None if the store has never seen it."""
        with _LOCK:
            self._refresh()
            active = [self._jobs[job_id] for job_id in self._drafts.get(rel, ())]
            if active:
                return max(active, key=_created)
            archived = [
                self._read_archived(job_id) for job_id in self._archived_drafts.get(rel, ())
            ]
            found = [job for job in archived if job is not None]
            return max(found, key=_created) if found else None

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
            try:
                yield
            finally:
                leaving, self._leaving_archive = self._leaving_archive, []
                try:
                    self._flush()
                finally:
                    self._in_batch = False
                    self._written = None
                if leaving:
                    self._drop_from_archive(leaving)

    def add(self, job: Job) -> Job:
        """Store a new job, with created_at/updated_at set to now and a first history event;
        return it as stored. Raise StoreError if a job with its id exists."""
        with _LOCK:
            self._check_writable()
            if job.id in self._jobs or job.id in self._archived:
                raise StoreError(f"job {job.id} already exists")
            now = self._clock()
            event = Event(at=now, state=job.state.value, note="created")
            new = _validated(
                job,
                {"created_at": now, "updated_at": now, "history": (*job.history, event)},
            )
            self._apply([new])
            return new

    def update(self, job_id: str, **changes: Any) -> Job:
        """Set the given Job fields (and updated_at) on a job; return it as stored.
        Raise KeyError if there is no such job, TypeError for a field Job does not have,
        pydantic.ValidationError for a bad value."""
        with _LOCK:
            job = self._current(job_id)
            new = _validated(job, {**changes, "updated_at": self._clock()})
            self._apply([new])
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
            new = _validated(
                job,
                {**changes, "state": state, "updated_at": now, "history": (*job.history, event)},
            )
            self._apply([new])
            return new

    def add_container(self, job_id: str, container: Container) -> Job:
        """Record a container created for the job (right after creating it); return the job."""
        with _LOCK:
            job = self._current(job_id)
            changes = {"containers": (*job.containers, container), "updated_at": self._clock()}
            new = _validated(job, changes)
            self._apply([new])
            return new

    def record_call(self, job_id: str, call: ApiCall) -> None:
        """Record one API call made for the job, keeping the last MAX_CALLS. It does not
        change updated_at (a poll is not a change of status)."""
        with _LOCK:
            job = self._current(job_id)
            new = _validated(job, {"api_calls": (*job.api_calls, call)[-MAX_CALLS:]})
            self._apply([new])

    def remove(self, job_id: str) -> None:
        """Forget a job, archived or not. Nothing happens if there is no such job."""
        with _LOCK:
            self._check_writable()
            if job_id in self._jobs:
                self._apply([], [job_id])
            if job_id in self._archived:
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
                for job in self._jobs.values()
                if job.state in DONE and job.updated_at is not None and job.updated_at < cutoff
            ]
            if not moving:
                return 0
            by_month: dict[str, list[Job]] = {}
            for job in moving:
                by_month.setdefault(_month(job), []).append(job)
            folder = self._state_dir / ARCHIVE_DIR
            folder.mkdir(exist_ok=True)
            # The archive first: a crash before jobs.json drops them leaves them in both.
            for month, jobs in sorted(by_month.items()):
                path = folder / f"{month}.json"
                documents = _read_archive_file(path)
                documents.update((job.id, job.to_document()) for job in jobs)
                atomicfile.write_bytes(path, _serialize_table(documents))
            archived = dict(self._archived)
            for job in moving:
                archived[job.id] = (job.draft, _month(job))
            self._write_archive_index(archived)
            self._apply([], [job.id for job in moving])
            self._set_archived(archived)
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
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        if job_id in self._archived:
            restored = self._read_archived(job_id)
            if restored is not None:
                # jobs.json takes it first: a crash in between leaves it in both, and the
                # copy in jobs.json wins.
                self._apply([restored])
                self._leave_archive(job_id)
                return restored
        raise KeyError(f"no job {job_id} in {self._path}")

    def _apply(self, put: list[Job], drop: Iterable[str] = ()) -> None:
        """Insert or replace the jobs `put` and remove the ids `drop`: in one durable write
        now, or in memory only inside a batch (which writes at its end). Raise StoreError if
        the write fails; memory is then unchanged."""
        lines = {job.id: _line(job) for job in put}
        dropped = set(drop)
        if self._in_batch:
            if self._written is None:
                self._written = self._view()
        else:
            self._write(self._payload(lines, dropped))
        for job_id in dropped:
            gone = self._jobs.pop(job_id)
            self._lines.pop(job_id, None)
            self._unindex(gone)
        for job in put:
            old = self._jobs.get(job.id)
            if old is not None:
                self._unindex(old)
            self._jobs[job.id] = job
            self._lines[job.id] = lines[job.id]
            self._drafts[job.draft] = (*self._drafts.get(job.draft, ()), job.id)

    def _leave_archive(self, job_id: str) -> None:
        """Drop an archived job from the archive once jobs.json no longer needs it there:
        now, or after the batch's write."""
        if self._in_batch:
            self._leaving_archive.append(job_id)
        else:
            self._drop_from_archive([job_id])

    def _flush(self) -> None:
        """At the end of a batch, write its changes, if any. Raise StoreError if that fails,
        with memory back to what jobs.json holds."""
        written, self._written = self._written, None
        if written is None:
            return
        try:
            self._check_writable()
            self._write(self._payload({}, set()))
        except StoreError:
            self._jobs, self._lines, self._drafts = written
            raise

    def _view(self) -> _View:
        return _View(dict(self._jobs), dict(self._lines), dict(self._drafts))

    def _unindex(self, job: Job) -> None:
        ids = tuple(job_id for job_id in self._drafts.get(job.draft, ()) if job_id != job.id)
        if ids:
            self._drafts[job.draft] = ids
        else:
            self._drafts.pop(job.draft, None)

    def _payload(self, put: dict[str, str], drop: set[str]) -> bytes:
        """jobs.json for the jobs in memory with `put` (id -> line) in and `drop` out."""
        lines = []
        for job_id, job in self._jobs.items():
            if job_id in drop:
                continue
            line = put.get(job_id) or self._lines.get(job_id)
            if line is None:  # read from the file: its line is made at its first write
                line = self._lines[job_id] = _line(job)
            lines.append(line)
        lines.extend(line for job_id, line in put.items() if job_id not in self._jobs)
        return _table_bytes(lines)

    def _write(self, payload: bytes) -> None:
        try:
            atomicfile.write_bytes(self._path, payload)
        except OSError as exc:
            raise StoreError(
                f"cannot write {self._path}: {exc.strerror or exc}; the change was not recorded"
            ) from exc

    def _load(self) -> None:
        """Read jobs.json into memory. Raise StoreCorrupt."""
        try:
            stat = os.stat(self._path)
            data = self._path.read_bytes()
        except FileNotFoundError:
            if (self._state_dir / BACKUP_FILE).exists() and self._writable:
                log.warning(
                    "%s is missing: starting with an empty job store (%s holds the jobs as "
                    "they were at the last start)",
                    self._path,
                    self._state_dir / BACKUP_FILE,
                )
            self._seen = None
            self._set_jobs({})
            return
        jobs = _parse_jobs(self._path, data)
        self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        self._set_jobs(jobs)

    def _set_jobs(self, jobs: dict[str, Job]) -> None:
        self._jobs = jobs
        self._lines = {}
        drafts: dict[str, list[str]] = {}
        for job in jobs.values():
            drafts.setdefault(job.draft, []).append(job.id)
        self._drafts = {draft: tuple(ids) for draft, ids in drafts.items()}

    def _refresh(self) -> None:
        """Read-only stores follow the owner's writes: every write is a new inode."""
        if self._writable:
            return
        try:
            stat = os.stat(self._path)
            seen: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            self._load()
        index = self._state_dir / ARCHIVE_DIR / ARCHIVE_INDEX
        if _stat_key(index) != self._archive_seen:
            self._load_archive_index()

    # --- archive -------------------------------------------------------------------------

    def _load_archive_index(self) -> None:
        folder = self._state_dir / ARCHIVE_DIR
        index_path = folder / ARCHIVE_INDEX
        self._archive_seen = _stat_key(index_path)
        archived: dict[str, tuple[str, str]] = {}
        try:
            raw = json.loads(index_path.read_bytes())
            for job_id, (draft, month) in raw[TABLE].items():
                archived[str(job_id)] = (str(draft), str(month))
        except FileNotFoundError:
            archived = self._index_from_archive_files(folder)
        except (ValueError, TypeError, KeyError, AttributeError):
            # The index is derived data: rebuild it from the month files.
            log.warning("%s cannot be read; rebuilding it from the archive files", index_path)
            archived = self._index_from_archive_files(folder)
            if self._writable:
                self._write_archive_index(archived)
        self._set_archived(archived)

    def _index_from_archive_files(self, folder: Path) -> dict[str, tuple[str, str]]:
        archived: dict[str, tuple[str, str]] = {}
        for path in sorted(folder.glob("????-??.json")):
            for job_id, document in _read_archive_file(path).items():
                archived[job_id] = (str(document.get("draft", "")), path.stem)
        return archived

    def _set_archived(self, archived: dict[str, tuple[str, str]]) -> None:
        # A job in jobs.json and in the archive (a crash between the two writes) is active.
        self._archived = {key: value for key, value in archived.items() if key not in self._jobs}
        self._archived_drafts = {}
        for job_id, (draft, _month_name) in self._archived.items():
            self._archived_drafts.setdefault(draft, set()).add(job_id)

    def _write_archive_index(self, archived: dict[str, tuple[str, str]]) -> None:
        folder = self._state_dir / ARCHIVE_DIR
        folder.mkdir(exist_ok=True)
        lines = [f"{json.dumps(k)}:{json.dumps(list(v))}" for k, v in sorted(archived.items())]
        path = folder / ARCHIVE_INDEX
        atomicfile.write_bytes(path, _table_bytes(lines))
        self._archive_seen = _stat_key(path)

    def _read_archived(self, job_id: str) -> Job | None:
        _draft, month = self._archived[job_id]
        path = self._state_dir / ARCHIVE_DIR / f"{month}.json"
        document = _read_archive_file(path).get(job_id)
        if document is None:
            return None
        try:
            return _compact(Job.from_document(document))
        except ValidationError as exc:
            raise StoreCorrupt(_corrupt_message(path, f"job {job_id} is not valid", None)) from exc

    def _drop_from_archive(self, job_ids: list[str]) -> None:
        archived = dict(self._archived)
        months = {archived[job_id][1] for job_id in job_ids}
        for month in months:
            path = self._state_dir / ARCHIVE_DIR / f"{month}.json"
            documents = _read_archive_file(path)
            for job_id in job_ids:
                documents.pop(job_id, None)
            atomicfile.write_bytes(path, _serialize_table(documents))
        for job_id in job_ids:
            archived.pop(job_id, None)
        self._write_archive_index(archived)
        self._set_archived(archived)


# --- the file ------------------------------------------------------------------------------


def _line(job: Job) -> str:
    """A job's line in jobs.json: `"<id>":{...}`, compact, UTF-8 as is."""
    return _document_line(job.id, job.to_document())


def _document_line(doc_id: str, document: Any) -> str:
    return f"{json.dumps(doc_id)}:{json.dumps(document, ensure_ascii=False, separators=(',', ':'))}"


def _serialize_table(documents: dict[str, Any]) -> bytes:
    """Return `{"jobs": {...}}` with one document per line."""
    return _table_bytes([_document_line(doc_id, doc) for doc_id, doc in documents.items()])


def _table_bytes(lines: list[str]) -> bytes:
    """`{"jobs":{` + one `"id":value` per line + `}}`: valid JSON that diffs and greps well."""
    if not lines:
        return f'{{"{TABLE}":{{}}}}\n'.encode()
    return ("{" + json.dumps(TABLE) + ":{\n" + ",\n".join(lines) + "\n}}\n").encode("utf-8")


# --- files -------------------------------------------------------------------------------


def _parse_jobs(path: Path, data: bytes) -> dict[str, Job]:
    """Given jobs.json's path and bytes, return its jobs by id. Raise StoreCorrupt."""
    backup = path.with_name(BACKUP_FILE)
    documents = _parse_table(path, data, backup)
    jobs: dict[str, Job] = {}
    for doc_id in list(documents):
        document = documents.pop(doc_id)  # let each document go once it is a Job
        try:
            job = _compact(Job.from_document(document))
        except ValidationError as exc:
            problem = f"job {doc_id} is not valid ({exc.error_count()} problem(s))"
            raise StoreCorrupt(_corrupt_message(path, problem, backup)) from exc
        if job.id != doc_id:
            problem = f"job {doc_id} carries the id {job.id}"
            raise StoreCorrupt(_corrupt_message(path, problem, backup))
        jobs[job.id] = job
    return jobs


def _parse_table(path: Path, data: bytes, backup: Path | None) -> dict[str, Any]:
    if not data.strip():
        raise StoreCorrupt(_corrupt_message(path, "the file is empty", backup))
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise StoreCorrupt(_corrupt_message(path, f"it is not JSON: {exc}", backup)) from exc
    if not isinstance(raw, dict) or set(raw) - {TABLE}:
        problem = f'it is not a publisher store (expected {{"{TABLE}": {{...}}}})'
        raise StoreCorrupt(_corrupt_message(path, problem, backup))
    documents = raw.get(TABLE, {})
    if not isinstance(documents, dict) or not all(isinstance(d, dict) for d in documents.values()):
        raise StoreCorrupt(_corrupt_message(path, f'"{TABLE}" is not a mapping of jobs', backup))
    return documents


def _read_archive_file(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    return dict(_parse_table(path, data, None))


def _corrupt_message(path: Path, problem: str, backup: Path | None) -> str:
    text = (
        f"{path} cannot be read: {problem}. Nothing will be published until it is fixed "
        "(the file is left as it is). "
    )
    if backup is not None and backup.exists():
        text += (
            f"Restore the last good copy with `cp {backup} {path}` (the jobs as they were "
            "when publisher last started), or "
        )
    text += (
        f"move {path} aside to start with an empty store: drafts whose status block does "
        "not say `published` would then be published again."
    )
    return text


def _take_lock(state_dir: Path) -> int:
    """Take an exclusive flock on state_dir/lock and write our pid in it; return the fd.
    Raise StateLocked naming the holder if another process has it."""
    path = state_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateLocked(
            f"{state_dir} is used by {_holder(path)}; stop it first or use another state_dir"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def _holder(lock_path: Path) -> str:
    try:
        pid = int(lock_path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return "another process"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"process {pid}"
    cmdline = " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    if len(cmdline) > 200:
        cmdline = cmdline[:197] + "..."
    return f"process {pid} ({cmdline})" if cmdline else f"process {pid}"


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


# --- jobs --------------------------------------------------------------------------------


def _validated(job: Job, changes: dict[str, Any]) -> Job:
    """Return `job` with `changes` applied and validated. Raise TypeError for unknown fields."""
    unknown = set(changes) - _FIELDS
    if unknown:
        raise TypeError(f"Job has no field(s) {', '.join(sorted(unknown))}")
    values = dict(job)
    values.update(changes)
    return _compact(Job.model_validate(values))


class _FieldNames(frozenset[str]):
    """A field-name set shared by many model instances: immutable, and a copy of it is a plain
    set (pydantic's model_copy copies the set before adding to it)."""

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> set[str]:
        return set(self)


_SHARED_NAMES: dict[frozenset[str], _FieldNames] = {}


def _compact(job: Job) -> Job:
    """Return `job` with the field-name sets of it and its records shared.

    pydantic keeps on every instance the set of the fields it was given (2.2 KB of a Job's
    3.7 KB), and the jobs of a store all give the same few sets: 10,000 waiting jobs keep
    22 MB less (docs/benchmarks.md "Job store"). pydantic only reads the set, or copies it.
    """
    records: list[BaseModel] = [job, *job.containers, *job.history, *job.api_calls]
    for record in records:
        names = record.__pydantic_fields_set__
        if isinstance(names, _FieldNames):
            continue  # records carried over from the job's previous version
        key = frozenset(names)
        shared = _SHARED_NAMES.get(key)
        if shared is None:
            if len(_SHARED_NAMES) >= _MAX_SHARED_NAMES:
                continue
            shared = _SHARED_NAMES[key] = _FieldNames(key)
        object.__setattr__(record, "__pydantic_fields_set__", shared)
    return job


def _created(job: Job) -> datetime:
    return job.created_at or datetime.min.replace(tzinfo=UTC)


def _month(job: Job) -> str:
    """The archive file a finished job goes to: the UTC month of its last update."""
    updated = job.updated_at or job.created_at or datetime.min.replace(tzinfo=UTC)
    return updated.astimezone(UTC).strftime("%Y-%m")
