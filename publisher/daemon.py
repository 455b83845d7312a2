"""`publisher run` (the daemon) and `publisher plan`.

`Daemon` owns the watcher, the alarm clock (APScheduler) and the workers, and wires them to
the job store through one main loop. Everything that decides is in `reconciler` (pure); the
loop only gathers what happened, asks, and carries out the answer:

    watcher (changed paths) ─┐
    alarms, heartbeat ───────┼─► wake ─► main loop: drafts → reconciler.plan → store + status
    workers (task ended) ────┤                      due jobs → reconciler.due → workers
    signals, requests/ ──────┘                      watchdog keep-alive

Only the main thread changes jobs that no worker holds; a worker changes only the job it
runs (through `publishing`). Handlers (signals, watcher, alarms, workers) only queue a message
and set the wake event. The job store is the truth: on start every job left in the middle of
a publish is reconciled first, then every draft is read again and the alarms rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType

from publisher import config as config_module
from publisher import (
    drafts,
    jobstore,
    logs,
    planview,
    publishing,
    reconciler,
    requests,
    statusblock,
)
from publisher.alarms import AlarmClock
from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.drafts import Draft, Loaded
from publisher.errors import (
    ApiError,
    AuthFailed,
    ConcurrentEdit,
    ConfigError,
    PublisherError,
    StateLocked,
    StoreCorrupt,
    UserError,
)
from publisher.job import Job, State
from publisher.runtime import Runtime, account_token
from publisher.sdnotify import Notifier
from publisher.watcher import Watcher
from publisher.workers import Done, Workers

log = logging.getLogger("publisher.daemon")

STOP_TIMEOUT = 60.0  # below systemd's TimeoutStopSec=90
ACCOUNT_CHECK_EVERY = 300.0
ARCHIVE_EVERY = 3600.0
IDLE_CHECK = timedelta(hours=1)  # look at the jobs at least this often with nothing due
PREPARES = 4  # drafts whose containers are prepared at once, all accounts together


def _shown(job: Job) -> str:
    container = job.parent_container()
    where = f" container={container.id}" if container is not None else ""
    return f"{job.draft} account={job.account or '-'}{where}"


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
        self.drafts: dict[str, Loaded] = {}
        self.blocked: dict[str, str] = {}
        self._media_users: dict[Path, set[str]] = {}  # media file -> drafts using it
        self._media_of: dict[str, set[Path]] = {}  # draft -> its media files
        self._deferred: dict[str, set[Path]] = {}  # job id -> paths to read once it is free
        self._prepared: dict[str, tuple[str, datetime | None]] = {}
        self._late: dict[str, datetime] = {}  # job id -> the time it was due, when started late
        self._dirty = True
        self._next_check = clock()
        self._next_account_check = time.monotonic() + account_check_every
        self._next_archive = time.monotonic() + 60.0
        self._config_key = _file_key(config.config_path)
        self._config_digest = _digest(config.config_path)
        self.started_at = clock()
        self.workers = Workers(self._task_done)
        self.alarms = AlarmClock(self.wake, heartbeat=heartbeat)
        self.watcher = self._new_watcher()

    # --- signals and other threads: only flags, messages and the wake event --------------

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

    def _new_watcher(self) -> Watcher:
        return Watcher(
            self.config.content_dir,
            self._paths_changed,
            quiet=self._quiet,
            rescan_every=self._rescan_every,
            fingerprint=statusblock.fingerprint,
        )

    # --- start, serve, stop ----------------------------------------------------------------

    def start(self) -> None:
        """Reconcile the jobs left mid-publish, start watching, read every draft, plan, arm
        the alarms, then tell systemd we are ready. Raise OSError if content_dir cannot be
        watched."""
        self.notifier.status("reconciling interrupted publishes")
        self._resume_interrupted()
        self.blocked = tokenless(self.config)
        for job in self.store.all():
            if job.state is State.BLOCKED and job.account and job.account not in self.blocked:
                self.blocked[job.account] = job.error or f"account {job.account} is blocked"
        self.watcher.start()  # before the scan: a change in between is then not lost
        self._scan_all()
        self._check_accounts(force=True)
        self.alarms.start()
        self._dispatch(self.clock())
        waiting = sum(1 for job in self.store.all() if job.state in (State.SCHEDULED,))
        summary = f"watching {len(self.drafts)} draft(s), {waiting} scheduled"
        log.info("ready: %s in %s", summary, self.config.content_dir)
        self.notifier.ready(summary)

    def serve(self) -> None:
        """The main loop: until request_stop(), wake on any event or every heartbeat and
        run one step. An exception in a step is logged, never the end of the loop."""
        while not self._stop.is_set():
            self._wake.wait(self._wait_seconds())
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.step()
            except Exception:
                log.exception("daemon step failed; carrying on")

    def settled(self) -> bool:
        """True when no task runs and no message waits (tests drive `step()` until then)."""
        return not self.workers.tasks() and self._inbox.empty()

    def _wait_seconds(self) -> float:
        until = (self._next_check - self.clock()).total_seconds()
        return max(0.0, min(self.heartbeat, until))

    def step(self) -> None:
        """One round: config, file changes, finished tasks, requests, account checks, due
        work, alarms, the watchdog keep-alive."""
        if self._reload.is_set():
            self._reload.clear()
            self.reload("SIGHUP")
        elif self._config_changed():
            self.reload("config.yaml changed")
        paths: set[Path] = set()
        finished: list[Done] = []
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(message, Done):
                finished.append(message)
            else:
                paths |= message
        for done in finished:
            paths |= self._finished(done)
        if paths:
            self.on_paths(paths)
        self._requests()
        self._check_accounts()
        now = self.clock()
        self._dispatch(now)
        self._housekeeping(now)
        self._keepalive()

    def shutdown(self) -> int:
        """Stop taking work, let the publishes in flight finish (up to stop_timeout), close
        everything; return the exit status (0)."""
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
        return 0

    # --- drafts ----------------------------------------------------------------------------

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.config.content_dir).as_posix()

    def _scan_all(self) -> None:
        """Read every draft under content_dir; jobs whose draft is gone are cancelled."""
        found = drafts.discover(self.config.content_dir)
        loaded = {item.rel: item for item in (drafts.load(p, self.config) for p in found)}
        known = {job.draft for job in self.store.all()} | set(self.drafts)
        self._apply(loaded, {rel for rel in known if rel not in loaded})

    def on_paths(self, paths: Iterable[Path]) -> None:
        """Given changed paths (drafts and media, existing or deleted), re-read the drafts
        concerned and plan again."""
        content_dir = self.config.content_dir
        draft_paths: set[Path] = set()
        for path in paths:
            if drafts.is_draft_path(path, content_dir):
                draft_paths.add(path)
                continue
            # Media: the drafts that use it, and the invalid drafts beside it (one that named
            # a missing file cannot say which).
            users = self._media_users.get(path, set())
            for rel, loaded in self.drafts.items():
                if rel in users or (loaded.draft is None and loaded.path.parent == path.parent):
                    draft_paths.add(loaded.path)
        present: dict[str, Loaded] = {}
        gone: set[str] = set()
        for path in sorted(draft_paths):
            if path.exists() or path.is_symlink():
                loaded = drafts.load(path, self.config)
                present[loaded.rel] = loaded
            else:
                gone.add(self._rel(path))
        if present or gone:
            self._apply(present, gone)

    def _apply(self, present: Mapping[str, Loaded], gone: set[str]) -> None:
        """Bring the jobs in line with these drafts (read now) and deletions, plan, write."""
        now = self.clock()
        busy = self.workers.busy("publish", "reconcile")
        jobs = self.store.all()
        by_rel = {job.draft: job for job in jobs}  # oldest first: a draft's newest job wins
        for rel in gone:
            self._forget(rel)
        for rel, loaded in present.items():
            self._remember(rel, loaded)
        changes: list[reconciler.Change] = []
        renames = _Renames(self._orphans(jobs, busy), {job.fingerprint for job in jobs})
        for rel, loaded in sorted(present.items()):
            known = by_rel.get(rel) or self.store.by_draft(rel)
            if known is not None and known.id in busy:
                self._deferred.setdefault(known.id, set()).add(loaded.path)
                continue
            change = (
                reconciler.target(loaded, known, self.blocked)
                if known is not None
                else renames.change_for(loaded, self.blocked, now)
            )
            if change is not None:
                changes.append(change)
        for rel in sorted(gone):
            job = by_rel.get(rel)
            if job is None or job.id in renames.moved:
                continue
            if job.id in busy:
                self._deferred.setdefault(job.id, set()).add(self.config.content_dir / rel)
                continue
            change = reconciler.deleted(job)
            if change is not None:
                changes.append(change)
        planned = reconciler.plan(self.drafts, jobs, changes, self.config, now, busy=busy)
        written = self._carry_out(planned)
        self._sync_status([rel for rel in present if rel not in written])
        self._dirty = True

    def _remember(self, rel: str, loaded: Loaded) -> None:
        self._forget(rel)
        self.drafts[rel] = loaded
        if loaded.draft is not None:
            items = [*loaded.draft.media, loaded.draft.cover]
            paths = {item.path for item in items if item is not None and item.path is not None}
            self._media_of[rel] = paths
            for path in paths:
                self._media_users.setdefault(path, set()).add(rel)

    def _forget(self, rel: str) -> None:
        self.drafts.pop(rel, None)
        for path in self._media_of.pop(rel, set()):
            users = self._media_users.get(path, set())
            users.discard(rel)
            if not users:
                self._media_users.pop(path, None)

    def _orphans(self, jobs: Iterable[Job], busy: set[str]) -> dict[str, list[Job]]:
        """Jobs whose draft file is gone, by fingerprint: a new draft with the same content
        is the same draft renamed."""
        found: dict[str, list[Job]] = {}
        for job in jobs:
            if job.draft not in self.drafts and job.id not in busy and job.fingerprint:
                found.setdefault(job.fingerprint, []).append(job)
        return found

    def _carry_out(self, changes: Iterable[reconciler.Change]) -> set[str]:
        """Write each change to the store, then its status block; return the drafts written."""
        written: set[str] = set()
        for change in changes:
            try:
                job = self._write(change)
            except (PublisherError, KeyError, ValueError) as exc:
                log.error(
                    "%s: the change to %s was not recorded: %s", change.rel, change.state.value, exc
                )
                continue
            if job is None:
                self._dirty = True  # it moved on meanwhile; the next round looks again
                continue
            what = change.note or "updated"
            when = (
                f" for {job.scheduled_for.astimezone(self.config.tz).isoformat()}"
                if job.state is State.SCHEDULED and job.scheduled_for is not None
                else ""
            )
            detail = f": {job.error}" if job.error and job.state is not State.SCHEDULED else ""
            log.info("%s step=plan: %s%s (%s)%s", _shown(job), job.state.value, when, what, detail)
            if job.id in self._prepared and self._prepared[job.id] != self._prepare_key(job):
                self._prepared.pop(job.id)  # a new time or content: prepare it again
            self.write_status(job)
            written.add(job.draft)
        return written

    def _write(self, change: reconciler.Change) -> Job | None:
        if change.job_id is None:
            return self.store.add(Job(draft=change.rel, state=change.state, **dict(change.fields)))
        if change.is_transition:
            expect = None if change.expect is None else [change.expect]
            return self.store.transition(
                change.job_id, change.state, change.note, expect=expect, **dict(change.fields)
            )
        return self.store.update(change.job_id, **dict(change.fields))

    def write_status(self, job: Job) -> None:
        """Write the job's status block into its draft (if the file is there)."""
        if job.draft not in self.drafts:
            return
        path = self.config.content_dir / job.draft
        try:
            statusblock.write(path, job.status_block(self.config.tz))
        except FileNotFoundError:
            pass  # deleted: the watcher tells us next
        except (ConcurrentEdit, OSError) as exc:
            log.warning("%s: status not written back: %s", job.draft, exc)

    def _sync_status(self, rels: Iterable[str]) -> None:
        """Rewrite the status blocks that do not show what the store says (a user removed
        one, a crash came between the store and the file)."""
        for rel in rels:
            job = self.store.by_draft(rel)
            loaded = self.drafts.get(rel)
            if job is None or loaded is None:
                continue
            wanted = job.status_block(self.config.tz)
            if _as_text(loaded.status or {}) != _as_text(wanted):
                self.write_status(job)

    # --- due work --------------------------------------------------------------------------

    def _prepare_key(self, job: Job) -> tuple[str, datetime | None]:
        return (job.fingerprint, job.scheduled_for)

    def _dispatch(self, now: datetime) -> None:
        """Start what is due (unless stopping), re-arm the alarms, note when to look next."""
        if not self._dirty and now < self._next_check:
            return
        self._dirty = False
        jobs = self.store.all()
        if not self._stop.is_set():
            prepared = {
                job.id for job in jobs if self._prepared.get(job.id) == self._prepare_key(job)
            }
            running = self.workers.count("publish", "reconcile")
            work = reconciler.due(
                jobs,
                now,
                self.config,
                busy=self.workers.busy(),
                busy_accounts=self.workers.accounts("publish", "reconcile"),
                prepared=prepared,
                capacity=self.config.publishing.concurrency - running,
                prepare_capacity=PREPARES - self.workers.count("prepare"),
            )
            by_id = {job.id: job for job in jobs}
            for item in work:
                self._start(item, by_id[item.job_id], now)
            if work:
                jobs = self.store.all()
        wanted = reconciler.alarms(jobs, self.config, now)
        self.alarms.update(wanted, now)
        upcoming = [instant for times in wanted.values() for instant in times if instant > now]
        self._next_check = min(upcoming, default=now + IDLE_CHECK)

    def _start(self, work: reconciler.Work, job: Job, now: datetime) -> None:
        if work.action == "miss":
            error = reconciler.missed_text(
                job.draft,
                work.due,
                self.config.schedule.misfire_grace,
                self.started_at,
                self.config.tz,
            )
            missed = self.store.transition(
                job.id, State.MISSED, "missed", expect=[job.state], error=error
            )
            if missed is not None:
                log.warning("%s step=publish: missed: %s", _shown(missed), error)
                self.write_status(missed)
            return
        loaded = self.drafts.get(job.draft)
        draft = loaded.draft if loaded is not None else None
        if draft is None or draft.fingerprint != job.fingerprint:
            self._dirty = True  # the draft changed and its news has not arrived yet
            return
        if work.action == "prepare":
            self._prepared[job.id] = self._prepare_key(job)
            log.info(
                "%s step=prepare: preparing containers for %s",
                _shown(job),
                work.due.astimezone(self.config.tz).isoformat(),
            )
            self.workers.start(job.id, "prepare", job.account, lambda: self._prepare(job, draft))
            return
        late = now - work.due
        if late > timedelta(seconds=1):
            self._late[job.id] = work.due
        log.info(
            "%s step=publish: publishing (due %s%s)",
            _shown(job),
            work.due.astimezone(self.config.tz).isoformat(),
            f", {late.total_seconds():.0f} s late" if late > timedelta(seconds=1) else "",
        )
        self.workers.start(job.id, "publish", job.account, lambda: self._publish(job, draft))

    def _prepare(self, job: Job, draft: Draft) -> Job:
        return publishing.prepare(self.rt, job.id, draft)

    def _publish(self, job: Job, draft: Draft) -> Job | None:
        """The worker's publish: only if the file still holds the draft planned with."""
        try:
            current = drafts.fingerprint(draft.path.read_bytes())
        except OSError:
            current = None
        if current != draft.fingerprint:
            log.info(
                "%s: changed on disk just before publishing; reading it again first", job.draft
            )
            self._paths_changed({draft.path})
            return None
        return publishing.publish(self.rt, job.id, draft)

    def _finished(self, done: Done) -> set[Path]:
        """A task ended: note its outcome; return the paths that waited for its job."""
        task = done.task
        self._dirty = True
        if task.kind == "check":
            self._account_checked(task.account, done)
            return set()
        job = self.store.get(task.key)
        if job is None:
            return set()
        if done.error is not None:
            log.error("%s step=%s: internal error: %s", _shown(job), task.kind, done.error)
        elif task.kind in ("publish", "reconcile"):
            self._published(job)
        return self._deferred.pop(task.key, set())

    def _published(self, job: Job) -> None:
        due = self._late.pop(job.id, None)
        if job.state is State.PUBLISHED:
            if due is not None and job.published_at is not None:
                note = reconciler.late_text(
                    job.published_at - due, due, self.started_at, self.config.tz
                )
                job = self.store.update(job.id, error=note)
                self.write_status(job)
            log.info(
                "%s step=publish: published media=%s %s",
                _shown(job),
                job.media_id,
                job.permalink or "",
            )
        elif job.state is State.BLOCKED:
            reason = (
                f"account {job.account}: {job.error}; its drafts move on once the token is fixed"
            )
            log.error("%s step=publish: blocked: %s", _shown(job), job.error)
            self._block(job.account, reason)
        elif job.state in (State.RETRYING, State.FAILED, State.UNCONFIRMED):
            log.warning("%s step=publish: %s: %s", _shown(job), job.state.value, job.error)
        else:
            log.info("%s step=publish: %s", _shown(job), job.state.value)

    # --- accounts --------------------------------------------------------------------------

    def _block(self, account: str, reason: str) -> None:
        if self.blocked.get(account) == reason:
            return
        self.blocked[account] = reason
        self._reclassify(account)

    def _reclassify(self, account: str | None = None) -> None:
        """Classify the drafts (of one account) again with what we know of the accounts."""
        mine = {
            rel: loaded
            for rel, loaded in self.drafts.items()
            if account is None or (loaded.draft is not None and loaded.draft.account == account)
        }
        if mine:
            self._apply(mine, set())

    def _check_accounts(self, *, force: bool = False) -> None:
        """Every few minutes (and at start, and after a reload) ask Instagram whether the
        blocked accounts that have a token can publish again."""
        if not force and time.monotonic() < self._next_account_check:
            return
        self._next_account_check = time.monotonic() + self.account_check_every
        without_token = tokenless(self.config)
        for account in list(self.blocked):
            if account in without_token or account not in self.config.accounts:
                continue
            self.workers.start(
                f"account:{account}", "check", account, partial(self._ask_account, account)
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
        if done.result is None:
            log.info("account %s: the token works again; its blocked drafts move on", account)
            del self.blocked[account]
            self._reclassify(account)
        else:
            log.info("%s; checking again in %g s", done.result, self.account_check_every)

    # --- requests, config, housekeeping -----------------------------------------------------

    def _requests(self) -> None:
        """Apply `publisher retry` / `publisher cancel` requests from the CLI."""
        for request in requests.pending(self.config.state_dir):
            ok, message = False, request.error or ""
            if request.error is None:
                try:
                    job = self.store.by_draft(request.draft)
                    if job is not None and job.id in self.workers.busy("publish", "reconcile"):
                        raise UserError([])  # answered below
                    message = requests.apply(
                        self.store,
                        request.action,
                        request.draft,
                        config=self.config,
                        now=self.clock(),
                    )
                    ok = True
                except UserError as exc:
                    message = "; ".join(p.message for p in exc.problems) or (
                        f"{request.draft} is being published right now; try again in a moment"
                    )
                except (PublisherError, OSError) as exc:
                    message = f"the request could not be applied: {exc}"
            log.info("request %s %s: %s", request.action, request.draft, message)
            try:
                requests.answer(self.config.state_dir, request, ok, message)
            except OSError as exc:
                log.error("request %s: cannot answer: %s", request.id, exc)
            if ok:
                loaded = self.drafts.get(request.draft)
                if loaded is not None:
                    self._apply({request.draft: loaded}, set())
                self._dirty = True

    def _config_changed(self) -> bool:
        key = _file_key(self.config.config_path)
        if key == self._config_key:
            return False
        self._config_key = key
        digest = _digest(self.config.config_path)
        return digest is not None and digest != self._config_digest

    def reload(self, why: str) -> bool:
        """Read config.yaml again; on success re-plan everything with it and return True.
        An invalid file is logged, problem by problem, and the old config stays."""
        self.notifier.reloading()
        self._config_digest = _digest(self.config.config_path)
        try:
            new = config_module.load(self.config.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("config not reloaded (%s): %s", why, problem)
            log.error("config not reloaded: keeping the previous one until the file is fixed")
            self.notifier.ready("config.yaml invalid; running on the previous one")
            return False
        old, self.config = self.config, new
        self.rt.reload(new)
        if new.content_dir != old.content_dir:
            self.watcher.stop()
            self.watcher = self._new_watcher()
            self.watcher.start()
            self.drafts.clear()
            self._media_users.clear()
            self._media_of.clear()
        self.blocked = {
            **tokenless(new),
            **{
                name: reason
                for name, reason in self.blocked.items()
                if name in new.accounts and name not in tokenless(old)
            },
        }
        log.info("config reloaded (%s): planning again", why)
        self._scan_all()
        self._check_accounts(force=True)
        self.notifier.ready(f"config reloaded; watching {len(self.drafts)} draft(s)")
        return True

    def _housekeeping(self, now: datetime) -> None:
        if time.monotonic() < self._next_archive:
            return
        self._next_archive = time.monotonic() + ARCHIVE_EVERY
        try:
            moved = self.store.archive(now, self.config.archive_after)
            if moved:
                log.info("archived %d finished job(s)", moved)
            requests.clean(self.config.state_dir)
        except (PublisherError, OSError) as exc:
            log.warning("housekeeping: %s", exc)

    def healthy(self) -> bool:
        """True while the watcher, the alarm clock and the workers all work."""
        longest = self.config.publishing.poll_timeout.total_seconds() + 600.0
        return (
            self.watcher.is_alive()
            and self.alarms.alive(max(10.0, 5 * self.heartbeat))
            and self.workers.healthy(longest)
        )

    def _keepalive(self) -> None:
        if self.healthy():
            self.notifier.watchdog()

    # --- start: what a dead process left behind --------------------------------------------

    def _resume_interrupted(self) -> None:
        """Reconcile every job left asking Instagram to publish; put back in the queue the
        ones that stopped before asking; finish published ones not written back. Waits for
        the reconciliations (they decide whether a post went out) before returning."""
        for job in self.store.all():
            if (
                job.state is State.PUBLISHING
                and job.publish_requested_at is not None
                and job.media_id is None
            ):
                draft = self._draft_of(job)
                log.info(
                    "%s step=reconcile: a publish was in flight; asking Instagram", _shown(job)
                )
                self.workers.start(
                    job.id,
                    "reconcile",
                    job.account,
                    partial(publishing.reconcile, self.rt, job.id, draft),
                )
            elif job.state is State.PUBLISHING:
                back = self.store.transition(
                    job.id,
                    State.SCHEDULED,
                    "interrupted before media_publish; queued again",
                    expect=[State.PUBLISHING],
                )
                if back is not None:
                    log.info(
                        "%s step=reconcile: interrupted before publishing; queued again",
                        _shown(back),
                    )
            elif job.state is State.PUBLISHED and job.permalink is None:
                draft = self._draft_of(job)
                self.workers.start(
                    job.id,
                    "reconcile",
                    job.account,
                    partial(publishing.complete, self.rt, job.id, draft),
                )
        while not self.workers.wait(5.0, "reconcile"):
            self.notifier.extend_timeout(30.0)
            if self._stop.is_set():
                return
        while True:  # report what they decided
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(message, Done):
                self._finished(message)
            else:
                self._inbox.put(message)
                break

    def _draft_of(self, job: Job) -> Draft | None:
        path = self.config.content_dir / job.draft
        if not path.exists():
            return None
        return drafts.load(path, self.config).draft


class _Renames:
    """A draft without a job: the job of a file that went away with the same content (a
    rename, one job), a published draft the store forgot (adopted), or a new draft."""

    def __init__(self, orphans: dict[str, list[Job]], fingerprints: set[str]) -> None:
        self._orphans = orphans
        self._fingerprints = fingerprints
        self.moved: set[str] = set()

    def change_for(
        self, loaded: Loaded, blocked: Mapping[str, str], now: datetime
    ) -> reconciler.Change | None:
        previous = reconciler.renamed(loaded, self._orphans)
        if previous is not None:
            self._orphans[loaded.fingerprint].remove(previous)
            self.moved.add(previous.id)
            asked = reconciler.target(loaded, previous, blocked)
            return reconciler.moved(asked, previous, loaded.rel)
        if loaded.fingerprint not in self._fingerprints:
            adopted = reconciler.adopted(loaded, now)
            if adopted is not None:
                return adopted
        return reconciler.target(loaded, None, blocked)


def _as_text(status: Mapping[str, object]) -> dict[str, str | None]:
    def text(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.isoformat(timespec="seconds")
        return str(value)

    return {key: text(value) for key, value in status.items()}


# --- the commands ----------------------------------------------------------------------------


def plan_text(config: Config, *, clock: Clock = system_clock) -> str:
    """Given a config, return the text of `publisher plan`: the jobs as the daemon left them
    (read without the lock, so it works while the daemon runs) and every draft under
    content_dir, planned the way the daemon would plan them now."""
    now = clock()
    jobs = jobstore.read_jobs(config.state_dir)
    by_rel = {job.draft: job for job in jobs}
    loaded = {
        item.rel: item
        for item in (drafts.load(path, config) for path in drafts.discover(config.content_dir))
    }
    blocked = tokenless(config)
    for job in jobs:
        if job.state is State.BLOCKED and job.account:
            blocked.setdefault(job.account, job.error or "blocked")
    changes = [
        change
        for rel, item in loaded.items()
        if (change := reconciler.target(item, by_rel.get(rel), blocked)) is not None
    ]
    _pending, _projected, plan = reconciler.schedule(loaded, jobs, changes, config, now)
    return planview.render(jobs, plan, config, now)


def run(config_path: Path, *, verbose: bool) -> int:
    """`publisher run`: the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads
    the config. Return the exit status: 0 after a clean stop, 2 for an invalid config or a
    state_dir another process holds, 1 when content_dir cannot be watched."""
    logs.setup(verbose)
    if not verbose:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        config = config_module.load(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    try:
        runtime = Runtime.open(config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except (StateLocked, StoreCorrupt) as exc:
        print(f"publisher: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"publisher: cannot start: {exc}", file=sys.stderr)
        return 1
    daemon = Daemon(config, runtime, notifier=Notifier())
    previous = _install_signals(daemon)
    try:
        try:
            daemon.start()
        except OSError as exc:
            print(
                f"publisher: cannot watch {config.content_dir}: {exc.strerror or exc} (raise "
                "fs.inotify.max_user_watches / max_user_instances if the limit is reached)",
                file=sys.stderr,
            )
            daemon.shutdown()
            return 1
        daemon.serve()
        return daemon.shutdown()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _install_signals(daemon: Daemon) -> dict[int, Callable[[int, FrameType | None], object] | int]:
    """SIGTERM/SIGINT ask the daemon to stop, SIGHUP to reload; the handlers only set flags."""
    previous: dict[int, object] = {}

    def stop(_signum: int, _frame: FrameType | None) -> None:
        daemon.request_stop()

    def reload(_signum: int, _frame: FrameType | None) -> None:
        daemon.request_reload()

    for signum, handler in ((signal.SIGTERM, stop), (signal.SIGINT, stop), (signal.SIGHUP, reload)):
        previous[signum] = signal.signal(signum, handler)
    return previous  # type: ignore[return-value]
