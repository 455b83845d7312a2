"""The daemon: its main loop, and what it wires together (`publisher run` starts it).

`Daemon` owns the watcher, the alarm clock (APScheduler) and the workers, and wires them to
the job store through one main loop. The deciding is done elsewhere, by pure functions
(`reconciler`); the loop gathers what happened, asks, and carries out the answer:

    watcher (changed paths) ─┐
    alarms, heartbeat ───────┼─► wake ─► main loop ─► drafts_to_jobs: jobs, status blocks
    workers (task ended) ────┤                     ─► dispatcher: due work → workers
    signals, requests/ ──────┘                     ─► watchdog keep-alive

Only the main thread changes jobs that no worker holds; a worker changes only the job it
runs (through `publishing`). Signal handlers, the watcher, the alarms and the workers only
queue a message and set the wake event. The job store is the truth: at start the jobs left
in the middle of a publish are reconciled first (`interrupted`), then every draft is read again
and the alarms are rebuilt from the store.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from pathlib import Path

from publisher.clock import Clock, system_clock
from publisher.config import settings as config_module
from publisher.config.settings import Config
from publisher.daemon import inbox, interrupted
from publisher.daemon.alarms import AlarmClock
from publisher.daemon.dispatcher import Dispatcher
from publisher.daemon.drafts_to_jobs import DraftsToJobs
from publisher.daemon.sdnotify import Notifier
from publisher.daemon.watcher import Watcher
from publisher.daemon.workers import Done, Workers
from publisher.drafts import statusblock
from publisher.errors import (
    ApiError,
    AuthFailed,
    ConfigError,
    PublisherError,
    StateLocked,
)
from publisher.job import State
from publisher.publishing.runtime import Runtime, account_token

log = logging.getLogger(__name__)

STOP_TIMEOUT = 60.0  # below systemd's TimeoutStopSec=90
ACCOUNT_CHECK_EVERY = 300.0
ARCHIVE_EVERY = 3600.0


def tokenless(config: Config) -> dict[str, str]:
    """Given a config, return the accounts that cannot publish at all (no token), with the
    sentence saying how to give them one."""
    blocked = {}
    for name in config.accounts:
        if account_token(config, name) is None:
            upper = name.upper()
            blocked[name] = (
                f"account {name} has no access token: set PUBLISHER_ACCOUNTS__{upper}__"
                f"ACCESS_TOKEN, accounts.{name}.access_token_file, or the systemd credential "
                f"{name}-token; its drafts move on by themselves once it has one"
            )
    return blocked


class Daemon:
    """The running daemon: see the module docstring. `start()`, then `serve()` until
    `request_stop()`, then `shutdown()`. Tests may call `step()` instead of `serve()`."""

    def __init__(
        self,
        config: Config,
        runtime: Runtime,
        *,
        clock: Clock = system_clock,
        notifier: Notifier | None = None,
        heartbeat: float = 1.0,
        quiet: float = 0.5,
        rescan_every: float = 180.0,
        account_check_every: float = ACCOUNT_CHECK_EVERY,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.config = config
        self.rt = runtime
        self.store = runtime.store
        self.clock = clock
        self.notifier = notifier or Notifier({})
        self.heartbeat = heartbeat
        self.stop_timeout = stop_timeout
        self.account_check_every = account_check_every
        self._quiet, self._rescan_every = quiet, rescan_every
        self._wake = threading.Event()
        self._inbox: queue.SimpleQueue[set[Path] | Done] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.blocked: dict[str, str] = {}  # account -> why its drafts are blocked
        self._failing = ""  # the last failure of a step, logged once
        self._orphans: set[str] = set()  # jobs a task left in state publishing
        self._next_adopt = 0.0
        self._next_account_check = time.monotonic() + account_check_every
        self._next_archive = time.monotonic() + 60.0
        self._config_seen = _file_key(config.config_path), _digest(config.config_path)
        self.workers = Workers(self._task_done)
        self.alarms = AlarmClock(self.wake, heartbeat=heartbeat)
        self.drafts_to_jobs = DraftsToJobs(config, runtime.store, clock)
        self.dispatcher = Dispatcher(
            runtime,
            self.drafts_to_jobs,
            self.workers,
            self.alarms,
            clock=clock,
            started_at=clock(),
            on_stale=self._paths_changed,
        )
        self.watcher = self._new_watcher()

    # --- other threads and signals: only flags, messages and the wake event ---------------

    def wake(self, _reason: str = "") -> None:
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload.set()
        self._wake.set()

    def _paths_changed(self, paths: set[Path]) -> None:
        self._inbox.put(set(paths))
        self._wake.set()

    def _task_done(self, done: Done) -> None:
        self._inbox.put(done)
        self._wake.set()

    def _new_watcher(self, content_dir: Path | None = None) -> Watcher:
        return Watcher(
            content_dir or self.config.content_dir,
            self._paths_changed,
            quiet=self._quiet,
            rescan_every=self._rescan_every,
            fingerprint=statusblock.fingerprint,
        )

    # --- start, serve, stop -----------------------------------------------------------------

    def start(self) -> None:
        """Reconcile the jobs left mid-publish, start watching, read every draft, plan, arm
        the alarms, then tell systemd we are ready. Raise OSError if content_dir cannot be
        watched."""
        self.notifier.status("reconciling interrupted publishes")
        interrupted.resume(self.rt, self.workers, keep_waiting=self._still_starting)
        self._drain()
        self.blocked = tokenless(self.config)
        for job in self.store.all():
            if job.state is State.BLOCKED and job.account and job.account not in self.blocked:
                self.blocked[job.account] = job.error or f"account {job.account} is blocked"
        self.watcher.start()  # before the scan: a change in between is then not lost
        self.dispatcher.changed(self.drafts_to_jobs.scan_all(self.blocked, self._publishing()))
        self._check_accounts(force=True)
        self.alarms.start()
        self.dispatcher.dispatch(self.clock())
        waiting = sum(1 for job in self.store.all() if job.state is State.SCHEDULED)
        summary = f"watching {len(self.drafts_to_jobs.drafts)} draft(s), {waiting} scheduled"
        log.info("ready: %s in %s", summary, self.config.content_dir)
        self.notifier.ready(summary)

    def _still_starting(self) -> bool:
        self.notifier.extend_timeout(30.0)
        return not self._stop.is_set()

    def serve(self) -> None:
        """The main loop: until request_stop(), wake on any event or every heartbeat and
        run one step. An exception in a step is logged, never the end of the loop."""
        while not self._stop.is_set():
            until = (self.dispatcher.next_check - self.clock()).total_seconds()
            self._wake.wait(max(0.0, min(self.heartbeat, until)))
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.step()
                self._failing = ""
            except Exception as exc:
                # The same failure every second (a full disk) is logged once, not per step.
                text = f"{type(exc).__name__}: {exc}"
                if text != self._failing:
                    log.exception("daemon step failed; carrying on")
                self._failing = text

    def step(self) -> None:
        """One round: config, file changes, finished tasks, requests, account checks, due
        work, housekeeping, the watchdog keep-alive."""
        if self._reload.is_set():
            self._reload.clear()
            self.reload("SIGHUP")
        elif self._config_changed():
            self.reload("config.yaml changed")
        paths = self._drain()
        if paths:
            self.on_paths(paths)
        applied = inbox.serve(
            self.store, self.config, now=self.clock(), busy=self._publishing().__contains__
        )
        if applied:  # a retry is planned again; a cancel may free a slot
            present = {
                rel: self.drafts_to_jobs.drafts[rel]
                for rel in applied
                if rel in self.drafts_to_jobs.drafts
            }
            changed = self.drafts_to_jobs.apply(present, set(), self.blocked, self._publishing())
            self.dispatcher.changed(changed)
        self._check_accounts()
        self._adopt_orphans()
        now = self.clock()
        self.dispatcher.dispatch(now, stopping=self._stop.is_set())
        self._housekeeping(now)
        if self.healthy():
            self.notifier.watchdog()

    def settled(self) -> bool:
        """True when no task runs and no message waits (tests drive `step()` until then)."""
        return not self.workers.tasks() and self._inbox.empty()

    def shutdown(self) -> None:
        """Stop taking work, let the publishes in flight finish (up to stop_timeout), close
        everything."""
        self.notifier.stopping()
        self._stop.set()
        log.info("stopping: no new work; waiting for publishes in flight")
        self.watcher.stop()
        self.alarms.stop()
        if not self.workers.wait(self.stop_timeout, "publish", "reconcile"):
            log.warning(
                "stopping: a publish still runs after %g s; it is reconciled at the next start",
                self.stop_timeout,
            )
        self.rt.close()
        log.info("stopped")

    def healthy(self) -> bool:
        """True while the watcher, the alarm clock and the workers all work (the condition
        for the systemd watchdog keep-alive)."""
        longest = self.config.publishing.poll_timeout.total_seconds() + 600.0
        return (
            self.watcher.is_alive()
            and self.alarms.alive(max(10.0, 5 * self.heartbeat))
            and self.workers.healthy(longest)
        )

    # --- messages ----------------------------------------------------------------------------

    def on_paths(self, paths: Iterable[Path]) -> None:
        """Given changed paths (drafts and media, existing or deleted), bring their jobs in
        line. The watcher's deliveries come here through the main loop."""
        self.dispatcher.changed(
            self.drafts_to_jobs.on_paths(paths, self.blocked, self._publishing())
        )

    def _publishing(self) -> set[str]:
        return self.workers.busy("publish", "reconcile")

    def _drain(self) -> set[Path]:
        """Take every waiting message: note each finished task; return the changed paths
        (with those that waited for a finished job)."""
        paths: set[Path] = set()
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                return paths
            paths |= self._finished(message) if isinstance(message, Done) else message

    def _finished(self, done: Done) -> set[Path]:
        task = done.task
        self.dispatcher.changed()
        if task.kind == "check":
            self._account_checked(task.account, done)
            return set()
        job = self.store.get(task.key)
        if job is None:
            return set()
        if task.kind in ("publish", "reconcile") and job.state is State.PUBLISHING:
            self._orphans.add(job.id)  # its end could not be recorded: see _adopt_orphans
        # A task that raised was logged by the worker (with its traceback), and a publish
        # records its own internal errors on the job: nothing more to say here.
        if done.error is None and task.kind in ("publish", "reconcile") and done.result:
            self.dispatcher.outcome(job)
            if job.state is State.BLOCKED:
                why = f"account {job.account}: {job.error}; its drafts move on once it is fixed"
                self._block(job.account, why)
        return self.drafts_to_jobs.deferred.pop(task.key, set())

    def _adopt_orphans(self) -> None:
        """A job a task left in state publishing (a store write failed under it, say a full
        disk) has nobody working on it: take it over like a dead process's leftover
        (reconciled, or queued again), at most once a heartbeat while the store fails."""
        if not self._orphans or time.monotonic() < self._next_adopt:
            return
        self._next_adopt = time.monotonic() + self.heartbeat
        busy = self.workers.busy()
        jobs = [
            job
            for job_id in sorted(self._orphans - busy)
            if (job := self.store.get(job_id)) is not None and job.state is State.PUBLISHING
        ]
        self._orphans.clear()
        try:
            found = interrupted.take_over(self.rt, self.workers, jobs, complete=False)
        except Exception:
            self._orphans.update(job.id for job in jobs)
            raise
        for job in found.requeue:
            requeued = self.store.get(job.id)
            if requeued is not None:
                self.drafts_to_jobs.write_status(requeued)
        self.dispatcher.changed()

    # --- accounts ------------------------------------------------------------------------

    def _block(self, account: str, reason: str) -> None:
        if self.blocked.get(account) == reason:
            return
        self.blocked[account] = reason
        changed = self.drafts_to_jobs.reclassify(self.blocked, self._publishing(), account)
        self.dispatcher.changed(changed)

    def _check_accounts(self, *, force: bool = False) -> None:
        """Every few minutes (and at start, and after a reload) ask Instagram whether the
        blocked accounts that have a token can publish again."""
        if not force and time.monotonic() < self._next_account_check:
            return
        self._next_account_check = time.monotonic() + self.account_check_every
        if not force and self.blocked and self._tokens_changed():
            self.reload("an access token changed")  # which checks the accounts again
            return
        without_token = tokenless(self.config)
        for account in list(self.blocked):
            if account in without_token or account not in self.config.accounts:
                continue
            work = partial(self._ask_account, account)
            self.workers.start(f"account:{account}", "check", account, work)

    def _tokens_changed(self) -> bool:
        """True when a blocked account's token is no longer the one we hold: a token kept in
        a file (access_token_file) is read with the config, so read it again."""
        try:
            fresh = config_module.load(self.config.config_path)
        except ConfigError:
            return False  # reported when the config is reloaded
        return any(
            name in fresh.accounts
            and name in self.config.accounts
            and fresh.token(name) != self.config.token(name)
            for name in self.blocked
        )

    def _ask_account(self, account: str) -> str | None:
        """A worker's account check: None if the token works, else why not."""
        try:
            self.rt.client(account).me()
        except AuthFailed as exc:
            return f"account {account}: {exc.describe()}"
        except ApiError as exc:
            return f"account {account} could not be checked: {exc.describe()}"
        return None

    def _account_checked(self, account: str, done: Done) -> None:
        if done.error is not None or account not in self.blocked:
            return
        if done.result is not None:
            log.info("%s; checking again in %g s", done.result, self.account_check_every)
            return
        log.info("account %s: the token works again; its blocked drafts move on", account)
        del self.blocked[account]
        changed = self.drafts_to_jobs.reclassify(self.blocked, self._publishing(), account)
        self.dispatcher.changed(changed)

    # --- config and housekeeping -------------------------------------------------------------

    def _config_changed(self) -> bool:
        key = _file_key(self.config.config_path)
        if key == self._config_seen[0]:
            return False
        digest = _digest(self.config.config_path)
        changed = digest is not None and digest != self._config_seen[1]
        self._config_seen = key, self._config_seen[1]
        return changed

    def reload(self, why: str) -> bool:
        """Read config.yaml again; on success re-plan everything with it and return True.
        An invalid file is logged, problem by problem, and the old config stays."""
        self.notifier.reloading()
        path = self.config.config_path
        self._config_seen = _file_key(path), _digest(path)
        try:
            new = config_module.load(path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("config not reloaded (%s): %s", why, problem)
            log.error("config not reloaded: keeping the previous one until the file is fixed")
            self.notifier.ready("config.yaml invalid; running on the previous one")
            return False
        if new.state_dir != self.config.state_dir:
            # This process holds the old store; taking a new one while running would let
            # another process publish the same drafts from the old one.
            log.error(
                "config not reloaded (%s): state_dir changed (%s -> %s); it cannot change "
                "while publisher runs: restart publisher to use it",
                why,
                self.config.state_dir,
                new.state_dir,
            )
            self.notifier.ready("config.yaml changed state_dir; running on the previous one")
            return False
        watcher = None
        if new.content_dir != self.config.content_dir:
            # Watched and locked first: a folder that cannot be watched, or that another
            # publisher process uses, keeps the previous config whole.
            watcher = self._new_watcher(new.content_dir)
            try:
                watcher.start()
            except OSError as exc:
                return self._not_reloaded(why, new, exc.strerror or str(exc))
            try:
                self.rt.relock_content(new.content_dir)
            except StateLocked as exc:
                watcher.stop()
                return self._not_reloaded(why, new, str(exc))
        old, self.config = self.config, new
        try:
            self.rt.reload(new)
        except (OSError, PublisherError) as exc:
            log.error(
                "config reloaded, but the new media settings do not work (%s); media "
                "are still served the old way until this is fixed",
                exc,
            )
        self.drafts_to_jobs.reset(new)
        if watcher is not None:
            self.watcher.stop()
            self.watcher = watcher
        kept = {
            name: reason
            for name, reason in self.blocked.items()
            if name in new.accounts and name not in tokenless(old)
        }
        self.blocked = {**tokenless(new), **kept}
        log.info("config reloaded (%s): planning again", why)
        self.dispatcher.changed(self.drafts_to_jobs.scan_all(self.blocked, self._publishing()))
        self._check_accounts(force=True)
        self.notifier.ready(f"config reloaded; watching {len(self.drafts_to_jobs.drafts)} draft(s)")
        return True

    def _not_reloaded(self, why: str, new: Config, reason: str) -> bool:
        log.error(
            "config not reloaded (%s): cannot use content_dir %s: %s; keeping the previous "
            "one until the file is fixed",
            why,
            new.content_dir,
            reason,
        )
        self.notifier.ready("config.yaml invalid; running on the previous one")
        return False

    def _housekeeping(self, now: datetime) -> None:
        if time.monotonic() < self._next_archive:
            return
        self._next_archive = time.monotonic() + ARCHIVE_EVERY
        try:
            moved = self.store.archive(now, self.config.archive_after)
            if moved:
                log.info("archived %d finished job(s)", moved)
            inbox.clean(self.config.state_dir)
        except (PublisherError, OSError) as exc:
            log.warning("housekeeping: %s", exc)


def _file_key(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
