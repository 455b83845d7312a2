"""The jobs table: TinyDB's `Table` for jobs, holding each job once, changed one job at a time.

TinyDB's storage holds the table as `{document id: document}`. Here each document is a
`StoredJob`: the `Job` model the store hands out, and its JSON once it has been written. That
is the only copy of a job in memory (TinyDB's plain documents would be a second one, and
rebuilding a `Job` from a document on every read costs a validation).

TinyDB's own writes (`insert`, `update`, `remove`, ...) rebuild the whole table twice per
change and store plain dicts; `JobTable` refuses them and changes jobs through `put` and
`drop` instead: the table's dict is copied (no work per document; in a batch, once), changed,
and written in one storage write. It also keeps the indexes the store reads by: job id and
draft.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from publisher.errors import StoreError
from publisher.job import Job
from publisher.store.storage import Encoded

_MAX_SHARED_NAMES = 1024  # distinct field-name sets shared (see `compact`); a few are used


class StoredJob(Mapping[str, Any], Encoded):
    """One job as the table holds it: its document id, the `Job`, and the job's JSON, made
    at its first write and kept (a write serialises only the jobs that changed).

    As a Mapping it is the job's document, so TinyDB's reads (`all`, `search`, queries) work
    on the table; each access builds the document, which the store itself never needs.
    """

    __slots__ = ("_json", "doc_id", "job")

    def __init__(self, doc_id: str, job: Job) -> None:
        self.doc_id = doc_id
        self.job = job
        self._json: bytes | None = None

    def encoded(self) -> bytes:
        """Return the job's JSON document (made once)."""
        if self._json is None:
            self._json = self.job.model_dump_json().encode("utf-8")
        return self._json

    def __getitem__(self, key: str) -> Any:
        return self.job.to_document()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(Job.model_fields)

    def __len__(self) -> int:
        return len(Job.model_fields)


class JobTable(Table):
    """TinyDB's table of jobs (see the module's docstring). Read it by job id or draft;
    change it with `put` and `drop`."""

    def __init__(
        self,
        storage: Storage,
        name: str,
        cache_size: int = 0,
        persist_empty: bool = False,
    ) -> None:
        super().__init__(storage, name, cache_size=cache_size, persist_empty=persist_empty)
        self._by_id: dict[str, StoredJob] = {}
        self._by_draft: dict[str, tuple[str, ...]] = {}
        self.reindex()

    def reindex(self) -> None:
        """Build the indexes again from the storage (after it read the file again, or after
        a batch whose write failed)."""
        by_id: dict[str, StoredJob] = {}
        by_draft: dict[str, list[str]] = {}
        for stored in self._documents().values():
            by_id[stored.job.id] = stored
            by_draft.setdefault(stored.job.draft, []).append(stored.job.id)
        self._by_id = by_id
        self._by_draft = {draft: tuple(ids) for draft, ids in by_draft.items()}

    def jobs(self) -> list[Job]:
        """Return every job, oldest first (in document id order)."""
        return [stored.job for stored in self._documents().values()]

    def job(self, job_id: str) -> Job | None:
        """Return the job with this id, or None."""
        stored = self._by_id.get(job_id)
        return None if stored is None else stored.job

    def has(self, job_id: str) -> bool:
        """Return whether the table holds a job with this id."""
        return job_id in self._by_id

    def jobs_of_draft(self, draft: str) -> list[Job]:
        """Given a draft path relative to content_dir, return its jobs."""
        return [self._by_id[job_id].job for job_id in self._by_draft.get(draft, ())]

    def put(self, job: Job) -> None:
        """Insert the job, or replace the job with its id (same document id), in one write.
        Raise StoreError if the write fails, ValueError if the job cannot be written as
        UTF-8 JSON (the table unchanged either way)."""
        old = self._by_id.get(job.id)
        # TinyDB's own numbering: one more than the highest id in the table.
        doc_id = old.doc_id if old is not None else str(self._get_next_id())  # type: ignore[no-untyped-call]
        stored = StoredJob(doc_id, job)
        try:
            stored.encoded()
        except ValueError as exc:
            # A draft path that is not valid UTF-8 (os.fsdecode's surrogates) cannot go into
            # JSON: refuse this one job; it must never make every later write fail.
            raise ValueError(f"job {job.id} cannot be stored: {exc}") from exc
        table = self._table_to_change()
        table[doc_id] = stored
        self._write(table)
        if old is not None:
            self._unindex(old.job)
        self._by_id[job.id] = stored
        self._by_draft[job.draft] = (*self._by_draft.get(job.draft, ()), job.id)

    def drop(self, job_ids: Collection[str]) -> None:
        """Remove the jobs with these ids (unknown ids are skipped) in one write.
        Raise StoreError if the write fails (the table unchanged)."""
        gone = [self._by_id[job_id] for job_id in set(job_ids) if job_id in self._by_id]
        if not gone:
            return
        table = self._table_to_change()
        for stored in gone:
            del table[stored.doc_id]
        self._write(table)
        for stored in gone:
            del self._by_id[stored.job.id]
            self._unindex(stored.job)

    def _table_to_change(self) -> dict[str, Any]:
        """The table's dict to change: a copy (a failed write then leaves the table as it
        was), or, in a batch that already copied it, that copy (see `Batching.holds`)."""
        table = self._read_table()
        holds = getattr(self._storage, "holds", None)
        if holds is not None and holds(table):
            return cast(dict[str, Any], table)
        return dict(table)

    def _documents(self) -> dict[str, StoredJob]:
        return cast(dict[str, StoredJob], self._read_table())

    def _write(self, table: dict[str, Any]) -> None:
        tables = self._storage.read() or {}
        tables[self.name] = table
        self._storage.write(tables)
        self.clear_cache()

    def _unindex(self, job: Job) -> None:
        ids = tuple(job_id for job_id in self._by_draft.get(job.draft, ()) if job_id != job.id)
        if ids:
            self._by_draft[job.draft] = ids
        else:
            self._by_draft.pop(job.draft, None)

    def _update_table(self, updater: Callable[[dict[int, Mapping[str, Any]]], None]) -> None:
        # Every TinyDB write goes through here; the store's go through put and drop.
        raise StoreError("the jobs table is changed through JobStore only")


class JobsDatabase(TinyDB):
    """TinyDB whose tables are `JobTable`s."""

    table_class = JobTable


def decode(documents: dict[str, Any]) -> dict[str, Any]:
    """Given the jobs table as read (document id -> document), return it as the table keeps
    it (document id -> StoredJob). Raise ValueError naming a document that is not a valid
    job, or a job id found twice."""
    table: dict[str, Any] = {}
    seen: set[str] = set()
    for doc_id in list(documents):
        document = documents.pop(doc_id)  # let each document go once it is a Job
        try:
            job = compact(Job.from_document(document))
        except ValidationError as exc:
            raise ValueError(f"job {doc_id} is not valid ({exc.error_count()} problem(s))") from exc
        if job.id in seen:
            raise ValueError(f"job {job.id} is in the file twice (document {doc_id} again)")
        seen.add(job.id)
        table[doc_id] = StoredJob(doc_id, job)
    return table


# --- one copy, small ----------------------------------------------------------------------


class _FieldNames(frozenset[str]):
    """A field-name set shared by many model instances: immutable, and a copy of it is a plain
    set (pydantic's model_copy copies the set before adding to it)."""

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> set[str]:
        return set(self)


_SHARED_NAMES: dict[frozenset[str], _FieldNames] = {}


def compact(job: Job) -> Job:
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
