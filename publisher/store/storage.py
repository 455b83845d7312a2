"""The job store's TinyDB storage: the database in memory, every write a new file swapped in.

TinyDB reads and writes through a `Storage`: `read()` returns every table, `write(tables)`
replaces them. Its own JSONStorage rewrites the file in place, so a kill -9 can tear it
(RELIABILITY.md §3.1). `AtomicStorage` keeps the tables in memory (the process that writes owns
state_dir through its lock, so nobody else changes the file) and makes every write a new file
put in place by `atomicfile.write_bytes`: temp file, fsync, rename, fsync of the folder. A
kill -9 leaves the old file or the new one, and when `write` returns the change is on disk.

The file is TinyDB's own format, `{"<table>": {"<document id>": {...}}}` with integer document
ids, one document per line so it diffs and greps well: plain TinyDB reads it. A file in the
previous layout (keyed by job id) is read too, its documents numbered in file order, and says
so in `previous_layout` (`convert`). A file that cannot be read raises StoreCorrupt and is left
as it is: the store never starts empty over it.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from publisher.errors import StoreCorrupt, StoreError
from publisher.store import atomicfile, convert
from publisher.store.health import WriteGate

TABLE = "jobs"  # the one table of every file in state_dir

Tables = dict[str, dict[str, Any]]
# Given a table's documents by document id, return the table to keep in memory.
# Raise ValueError with a sentence saying what is wrong.
Decode = Callable[[dict[str, Any]], dict[str, Any]]


class Encoded(ABC):
    """A document that keeps its own JSON (the job store's documents: see `table.StoredJob`),
    so a write serialises only the documents that changed."""

    __slots__ = ()

    @abstractmethod
    def encoded(self) -> bytes:
        """Return the document as compact UTF-8 JSON."""


class AtomicStorage(Storage):
    """A TinyDB storage holding `path`'s tables in memory, written atomically.

    Given the file, whether this process may write it, the table names a valid file may hold,
    a `decode` that turns each table's documents into what memory keeps, and the backup the
    refusal of a corrupt file should point to. Read-only storages refuse `write` and follow
    the owner's writes with `changed_on_disk` and `reload`.
    """

    def __init__(
        self,
        path: Path,
        *,
        writable: bool = True,
        tables: Collection[str] = (TABLE,),
        decode: Decode | None = None,
        backup: Path | None = None,
    ) -> None:
        """Read `path` (a missing file is an empty database). Raise StoreCorrupt if it
        cannot be read."""
        super().__init__()
        self.path = path
        self.previous_layout = False
        self._writable = writable
        self._tables = frozenset(tables)
        self._decode = decode
        self._backup = backup
        self._data: Tables | None = None
        self._seen: tuple[int, int, int] | None = None
        # Set by the job store: every write goes through it (see `health`).
        self.gate: WriteGate | None = None
        self.reload()

    def read(self) -> Tables | None:
        """Return the tables, None if the file does not exist yet. The outer dict is a copy,
        so TinyDB may put a new table in it; the tables themselves must not be changed."""
        return None if self._data is None else dict(self._data)

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        """Replace the file with `data`, atomically and durably, then keep `data` in memory.
        Raise StoreError (memory unchanged) if the storage is read-only or the write fails
        (StoreUnwritable through a `gate`)."""
        if not self._writable:
            raise StoreError(f"{self.path} is open read-only; the change was not recorded")
        if self.gate is None:
            write_file(self.path, data)
        else:
            self.gate.write(lambda: write_file(self.path, data))
        self._data = data
        self.previous_layout = False

    def changed_on_disk(self) -> bool:
        """Return whether the file is not the one last read (every write is a new inode)."""
        return stat_key(self.path) != self._seen

    def reload(self) -> None:
        """Read the file again. Raise StoreCorrupt if it cannot be read (memory unchanged)."""
        try:
            seen = stat_key(self.path)
            data = self.path.read_bytes()
        except FileNotFoundError:
            self._data, self._seen, self.previous_layout = None, None, False
            return
        tables, previous = self._parse(data)
        self._data, self._seen, self.previous_layout = tables, seen, previous

    def _parse(self, data: bytes) -> tuple[Tables, bool]:
        if not data.strip():
            raise self._corrupt("the file is empty")
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise self._corrupt(f"it is not JSON: {exc}") from exc
        if not isinstance(raw, dict) or set(raw) - self._tables:
            expected = ", ".join(f'"{name}"' for name in sorted(self._tables))
            raise self._corrupt(f"it is not a publisher store (expected the table(s) {expected})")
        tables: Tables = {}
        previous = False
        for name in list(raw):
            documents = raw.pop(name)  # let each table go once it is decoded
            if not isinstance(documents, dict) or not all(
                isinstance(document, dict) for document in documents.values()
            ):
                raise self._corrupt(f'"{name}" is not a table of documents')
            try:
                documents, old = convert.by_document_id(documents)
                tables[name] = documents if self._decode is None else self._decode(documents)
            except ValueError as exc:
                raise self._corrupt(str(exc)) from exc
            previous = previous or old
        return tables, previous

    def _corrupt(self, problem: str) -> StoreCorrupt:
        return StoreCorrupt(corrupt_message(self.path, problem, self._backup))


def write_file(path: Path, tables: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace the file at `path` with `tables` in TinyDB's format, atomically and durably.
    Raise StoreError if the write fails (the old file is left)."""
    payload = encode(tables)
    try:
        atomicfile.write_bytes(path, payload)
    except OSError as exc:
        raise StoreError(
            f"cannot write {path}: {exc.strerror or exc}; the change was not recorded"
        ) from exc


def encode(tables: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Return TinyDB's JSON for `tables`: `{"jobs":{` + one `"<id>":{...}` per line + `}}`.
    Documents that keep their JSON (`Encoded`) are not serialised again; the pieces are
    joined once (jobs.json may be tens of MB when nothing is archived)."""
    pieces: list[bytes] = [b"{"]
    for number, (name, documents) in enumerate(tables.items()):
        pieces.append(b"%s%s:{" % (b",\n" if number else b"", json.dumps(name).encode()))
        separator = b"\n"
        for doc_id, document in documents.items():
            pieces += (separator, b'"', str(doc_id).encode("ascii"), b'":', _json(document))
            separator = b",\n"
        pieces.append(b"\n}" if documents else b"}")
    pieces.append(b"}\n")
    return b"".join(pieces)


def _json(document: Any) -> bytes:
    if isinstance(document, Encoded):
        return document.encoded()
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def corrupt_message(path: Path, problem: str, backup: Path | None) -> str:
    """Given a file that cannot be read and why, return the refusal: what happens now, how to
    recover (from `backup` when it exists), and what starting empty would cost."""
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


def stat_key(path: Path) -> tuple[int, int, int] | None:
    """Return (inode, mtime, size) of `path`, None if it does not exist."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)
