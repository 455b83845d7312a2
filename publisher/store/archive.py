"""The archive of finished jobs: `state_dir/archive/YYYY-MM.json`, one TinyDB file a month.

Finished jobs (job.DONE) last updated longer ago than `archive_after` move out of jobs.json
into the file of the month of their last update (UTC), so a write of jobs.json costs what the
active jobs cost, not the whole history. They stay findable by id and by draft (a draft
published long ago is never taken for a new one) through `archive/index.json`, which says
where each one is: `{"jobs": {"<n>": {"id": "<job id>", "draft": "...", "month": "YYYY-MM"}}}`.
The index is derived data: lost or unreadable, it is rebuilt from the month files.

Every file is TinyDB's format, read and written through `AtomicStorage` (plain TinyDB reads
them too), and the month files are changed with TinyDB's own table operations. The crash
order is the job store's: month files are written before jobs.json drops their jobs, and
jobs.json takes a job back before the archive drops it; a job in both is the one in jobs.json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tinydb import TinyDB, where
from tinydb.table import Table

from publisher.errors import StoreCorrupt
from publisher.job import Job
from publisher.store import convert
from publisher.store.storage import TABLE, AtomicStorage, corrupt_message, stat_key, write_file

log = logging.getLogger(__name__)

INDEX = "index.json"
MONTHS = "????-??.json"


class Archive:
    """The archive folder of a state_dir and its index in memory (job id -> draft, month)."""

    def __init__(self, folder: Path, *, writable: bool) -> None:
        self.folder = folder
        self._writable = writable
        self._seen: tuple[int, int, int] | None = None
        self._where: dict[str, tuple[str, str]] = {}  # job id -> (draft, month)
        self._by_draft: dict[str, set[str]] = {}

    def load(self, active: Callable[[str], bool]) -> None:
        """Read the index; rebuild it from the month files if it is missing or unreadable,
        converting an archive in the previous layout. Jobs that are also `active` (in
        jobs.json: a crash between two writes) are left out. Raise StoreCorrupt if a month
        file cannot be read."""
        path = self.folder / INDEX
        self._seen = stat_key(path)
        try:
            tables = AtomicStorage(path, writable=False, decode=_checked_entries).read()
        except StoreCorrupt:
            previous = convert.is_previous_index(path)  # then _rebuild converts the months
            if not previous:
                log.warning("%s cannot be read; rebuilding it from the archive files", path)
            entries = self._rebuild()
            if self._writable:
                if previous:
                    backup = convert.keep_old(path)
                    log.info("%s converted to TinyDB's layout (%s kept)", path, backup.name)
                self._write_index(entries)
        else:
            if tables is None:  # lost, or never written: the month files say it all
                entries = self._rebuild()
                if self._writable and entries:
                    self._write_index(entries)
            else:
                entries = {
                    entry["id"]: (entry["draft"], entry["month"])
                    for entry in tables.get(TABLE, {}).values()
                }
        self._set(entries, active)

    def refresh(self, active: Callable[[str], bool]) -> None:
        """Load the index again if the owner of state_dir changed it."""
        if stat_key(self.folder / INDEX) != self._seen:
            self.load(active)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._where

    def get(self, job_id: str) -> Job | None:
        """Return the archived job with this id, None if the archive does not have it.
        Raise StoreCorrupt if its month file or its document cannot be read."""
        where_to = self._where.get(job_id)
        if where_to is None:
            return None
        path = self._month_path(where_to[1])
        with self._open(path, writable=False) as db:
            document = _jobs(db).get(where("id") == job_id)
        if document is None or isinstance(document, list):
            return None
        try:
            return Job.from_document(dict(document))
        except ValidationError as exc:
            problem = f"job {job_id} is not valid"
            raise StoreCorrupt(corrupt_message(path, problem, None)) from exc

    def jobs_of_draft(self, draft: str) -> list[Job]:
        """Given a draft path relative to content_dir, return its archived jobs."""
        found = (self.get(job_id) for job_id in sorted(self._by_draft.get(draft, ())))
        return [job for job in found if job is not None]

    def add(self, jobs: Iterable[Job]) -> None:
        """Write the jobs into their month files (replacing copies a crash left there), then
        the index. Raise StoreCorrupt if a month file cannot be read (nothing moves then),
        StoreError or OSError if a write fails."""
        by_month: dict[str, list[Job]] = {}
        for job in jobs:
            by_month.setdefault(month_of(job), []).append(job)
        if not by_month:
            return
        self.folder.mkdir(exist_ok=True)
        for month, moving in sorted(by_month.items()):
            with self._open(self._month_path(month), writable=True) as db:
                table = _jobs(db)
                already = where("id").one_of([job.id for job in moving])
                if table.contains(already):
                    table.remove(already)
                table.insert_multiple(job.to_document() for job in moving)
        entries = dict(self._where)
        for month, moving in by_month.items():
            entries.update((job.id, (job.draft, month)) for job in moving)
        self._write_index(entries)
        self._set(entries, lambda job_id: False)

    def remove(self, job_ids: Iterable[str]) -> None:
        """Drop these jobs from their month files and the index (unknown ids are skipped)."""
        by_month: dict[str, list[str]] = {}
        for job_id in job_ids:
            if job_id in self._where:
                by_month.setdefault(self._where[job_id][1], []).append(job_id)
        if not by_month:
            return
        for month, leaving in sorted(by_month.items()):
            with self._open(self._month_path(month), writable=True) as db:
                _jobs(db).remove(where("id").one_of(leaving))
        entries = dict(self._where)
        for leaving in by_month.values():
            for job_id in leaving:
                entries.pop(job_id, None)
        self._write_index(entries)
        self._set(entries, lambda job_id: False)

    # --- internals -------------------------------------------------------------------------

    def _month_path(self, month: str) -> Path:
        return self.folder / f"{month}.json"

    def _open(self, path: Path, *, writable: bool) -> TinyDB:
        db = TinyDB(path, writable=writable, storage=AtomicStorage)
        storage = db.storage
        if writable and isinstance(storage, AtomicStorage) and storage.previous_layout:
            convert.upgrade(storage)
        return db

    def _rebuild(self) -> dict[str, tuple[str, str]]:
        entries: dict[str, tuple[str, str]] = {}
        for path in sorted(self.folder.glob(MONTHS)):
            with self._open(path, writable=self._writable) as db:
                for document in _jobs(db):
                    entries[str(document.get("id"))] = (str(document.get("draft", "")), path.stem)
        return entries

    def _write_index(self, entries: dict[str, tuple[str, str]]) -> None:
        self.folder.mkdir(exist_ok=True)
        path = self.folder / INDEX
        documents = {
            str(number): {"id": job_id, "draft": draft, "month": month}
            for number, (job_id, (draft, month)) in enumerate(sorted(entries.items()), 1)
        }
        write_file(path, {TABLE: documents})
        self._seen = stat_key(path)

    def _set(self, entries: dict[str, tuple[str, str]], active: Callable[[str], bool]) -> None:
        self._where = {job_id: entry for job_id, entry in entries.items() if not active(job_id)}
        self._by_draft = {}
        for job_id, (draft, _month) in self._where.items():
            self._by_draft.setdefault(draft, set()).add(job_id)


def month_of(job: Job) -> str:
    """The month file a finished job goes to: the UTC month of its last update."""
    updated = job.updated_at or job.created_at or datetime.min.replace(tzinfo=UTC)
    return updated.astimezone(UTC).strftime("%Y-%m")


def _jobs(db: TinyDB) -> Table:
    return db.table(TABLE, cache_size=0)


def _checked_entries(documents: dict[str, Any]) -> dict[str, Any]:
    for doc_id, entry in documents.items():
        if not all(isinstance(entry.get(key), str) for key in ("id", "draft", "month")):
            raise ValueError(f"entry {doc_id} lacks its id, draft or month")
    return documents
