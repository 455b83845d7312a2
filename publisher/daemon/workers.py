"""The daemon's workers: one thread per running task, and who is busy with what.

The daemon's main thread decides what runs (`due.work`); this only runs it and keeps
the books it decides with: which jobs have a task, which accounts have a publish (never two
at once for one account) or a prepare running, how many publishes run in all. A publish that
only waits for a doubtful media_publish to settle, or finishes a post that is out, steps
aside (`aside`: kind "aside" meanwhile): it holds neither its account nor a place among the
publishes, so the account's other drafts go on (each with its own container).

Threads are daemon threads: at shutdown the daemon waits for the publishes in flight (bounded)
and then exits; a task cut short is exactly a kill -9, which the publish flow recovers from.
A task's exception is logged once and handed to `on_done`, never raised into the daemon; a
task cut short because the daemon stops (`Stopping`) is only noted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from publisher.errors import StoreUnwritable
from publisher.publishing.runtime import Stopping

log = logging.getLogger(__name__)

Kind = Literal["publish", "prepare", "reconcile", "check", "token", "aside", "insights"]


@dataclass(frozen=True)
class Task:
    """A unit of work: `key` is the job id (or "account:<name>" for an account check,
    "token:<name>" for looking after its token)."""

    key: str
    kind: Kind
    account: str
    started: float  # time.monotonic(): how long a thread really runs (health, not a chore)
    own_kind: Kind | None = None  # while "aside": the kind it comes back to


@dataclass(frozen=True)
class Done:
    """A finished task, with what it returned or the exception that ended it."""

    task: Task
    result: object = None
    error: BaseException | None = None


class Workers:
    """Runs tasks on threads and reports each end to `on_done` (from the worker thread)."""

    def __init__(self, on_done: Callable[[Done], None]) -> None:
        self._on_done = on_done
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running: dict[str, tuple[Task, threading.Thread]] = {}

    def start(self, key: str, kind: Kind, account: str, work: Callable[[], object]) -> bool:
        """Run `work` on a new thread for `key`; False (nothing started) if `key` is busy."""
        with self._lock:
            if key in self._running:
                return False
            task = Task(key, kind, account, time.monotonic())
            thread = threading.Thread(
                target=self._run, args=(task, work), name=f"publisher-{kind}", daemon=True
            )
            self._running[key] = (task, thread)
        thread.start()
        return True

    def _run(self, task: Task, work: Callable[[], object]) -> None:
        done: Done
        try:
            done = Done(task, result=work())
        except StoreUnwritable as exc:  # the job store logs that itself, once a minute
            log.debug("%s task for %s: %s", task.kind, task.key, exc)
            done = Done(task, error=exc)
        except Stopping as exc:
            log.info("%s task for %s cut short: stopping", task.kind, task.key)
            done = Done(task, error=exc)
        except BaseException as exc:
            log.exception("%s task for %s failed", task.kind, task.key)
            done = Done(task, error=exc)
        finally:
            with self._lock:
                self._running.pop(task.key, None)
                self._idle.notify_all()
        try:
            self._on_done(done)
        except Exception:
            log.exception("reporting the end of the %s task for %s failed", task.kind, task.key)

    def aside(self, key: str, aside: bool) -> None:
        """With `aside`, the running task of `key` steps aside (kind "aside"); without, it
        comes back to its own kind. Nothing happens if `key` has no task."""
        with self._lock:
            entry = self._running.get(key)
            if entry is None:
                return
            task, thread = entry
            if aside and task.own_kind is None:
                task = replace(task, kind="aside", own_kind=task.kind)
            elif not aside and task.own_kind is not None:
                task = replace(task, kind=task.own_kind, own_kind=None)
            self._running[key] = (task, thread)
            self._idle.notify_all()

    def tasks(self) -> list[Task]:
        """The tasks running now."""
        with self._lock:
            return [task for task, _thread in self._running.values()]

    def busy(self, *kinds: Kind) -> set[str]:
        """The keys with a running task (of these kinds; of any kind when none given)."""
        return {task.key for task in self.tasks() if not kinds or task.kind in kinds}

    def accounts(self, *kinds: Kind) -> set[str]:
        """The accounts with a running task of these kinds."""
        return {task.account for task in self.tasks() if task.kind in kinds}

    def count(self, *kinds: Kind) -> int:
        return sum(1 for task in self.tasks() if task.kind in kinds)

    def healthy(self, longest: float) -> bool:
        """True when every running thread is alive and none has run longer than `longest`
        seconds (a wedged worker stops the systemd watchdog keep-alive)."""
        now = time.monotonic()
        with self._lock:
            return all(
                thread.is_alive() or thread.ident is None
                for _task, thread in self._running.values()
            ) and all(now - task.started < longest for task, _thread in self._running.values())

    def wait(self, timeout: float, *kinds: Kind) -> bool:
        """Wait up to `timeout` seconds until no task of these kinds (any, when none) runs;
        return True if none does."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                running = [
                    task
                    for task, _thread in self._running.values()
                    if not kinds or task.kind in kinds
                ]
                remaining = deadline - time.monotonic()
                if not running:
                    return True
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
