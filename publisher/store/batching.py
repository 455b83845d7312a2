"""Batches: many changes to the job store, one write of jobs.json.

A TinyDB middleware sits between the tables and the storage. Between `begin` and `commit`
`Batching` keeps the tables TinyDB writes in memory (reads see them) and hands the last of
them to the storage in one write at `commit`; outside a batch every write goes straight
through. TinyDB's CachingMiddleware also holds writes back, but until 1,000 of them or
`close()`, so a kill -9 loses changes the caller believed recorded (RELIABILITY.md §3.4); a
batch is a block whose end the caller waits for, and its changes are durable then.
"""

from __future__ import annotations

from typing import Any

from tinydb.middlewares import Middleware


class Batching(Middleware):
    """TinyDB middleware: `begin()`, changes in memory, `commit()` writes them once."""

    def __init__(self, storage_cls: Any) -> None:
        super().__init__(storage_cls)
        self._open = False
        self._pending: dict[str, dict[str, Any]] | None = None

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._pending is not None:
            return dict(self._pending)
        data: dict[str, dict[str, Any]] | None = self.storage.read()
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        if self._open:
            self._pending = data
        else:
            self.storage.write(data)

    def holds(self, table: object) -> bool:
        """Return whether `table` is a table this batch wrote and the storage does not have
        yet: nobody else holds it, so the next change may be made in it, in place."""
        return self._pending is not None and any(table is held for held in self._pending.values())

    def begin(self) -> None:
        """Hold the writes from now on in memory."""
        self._open = True

    def commit(self) -> None:
        """End the batch: write what it changed, if anything, in one storage write. If that
        write raises, the batch's changes are dropped (reads see the storage again)."""
        pending, self._pending, self._open = self._pending, None, False
        if pending is not None:
            self.storage.write(pending)

    def rollback(self) -> None:
        """End the batch without writing: reads see the storage again."""
        self._pending, self._open = None, False
