"""Many workers' changes to the job store, made durable in one write (a group commit).

The job store writes one change at a time, each a whole jobs.json with its fsyncs. At a busy
slot (hundreds of accounts due at the same second) every worker wants its write-ahead
record, its media id, its permalink written, and they queue behind each other's fsyncs. Here
the first worker to arrive writes for everyone waiting: it takes the queue, applies each
change in one `JobStore.batch()` (in memory), and the batch's end writes them all at once;
each caller returns when its change is durable, with its change's result, exactly as if it
had written alone. A worker arriving meanwhile waits for the next group, which one of the
waiting workers writes (the one who wrote last goes back to its own work).

A change is a function of the store that makes no HTTP call and does not wait: it runs
inside the batch, which holds the store's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from publisher.store.jobstore import JobStore

T = TypeVar("T")


@dataclass
class _Request(Generic[T]):
    change: Callable[[], T]
    done: bool = False
    result: Any = None
    error: BaseException | None = field(default=None)

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        result: T = self.result
        return result


class GroupCommit:
    """Writes the changes of the threads that call `run` at the same time in one batch."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._ready = threading.Condition()
        self._queue: list[_Request[Any]] = []
        self._writing = False

    def run(self, change: Callable[[], T]) -> T:
        """Apply `change()` to the store and return its result once it is durable (with the
        changes of the other threads that came meanwhile). Raise what `change` raised (the
        others' changes are still written), or StoreError if the write failed (then none of
        the group's changes is recorded)."""
        request: _Request[T] = _Request(change)
        with self._ready:
            self._queue.append(request)
            while self._writing and not request.done:
                self._ready.wait()
            if request.done:
                return request.outcome()
            self._writing = True
            group, self._queue = self._queue, []
        try:
            self._write(group)
        finally:
            with self._ready:
                self._writing = False
                self._ready.notify_all()
        return request.outcome()

    def _write(self, group: list[_Request[Any]]) -> None:
        try:
            with self._store.batch():
                for request in group:
                    try:
                        request.result = request.change()
                    except Exception as exc:  # that caller's error; the others' stand
                        request.error = exc
        except BaseException as exc:  # the write failed: nothing of the group is recorded
            for request in group:
                request.error = exc
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and the like go on up the writer's thread too
        finally:
            with self._ready:
                for request in group:
                    request.done = True
