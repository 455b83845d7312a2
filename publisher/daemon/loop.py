"""The daemon: its main loop, and what it wires together (`publisher run` starts it).

`Daemon` owns the watcher, the alarm clock (APScheduler) and the workers, and wires them to
the job store through one main loop. The deciding is done elsewhere, by pure functions
(`planning`); the loop gathers what happened, asks, and carries out the answer:

    watcher (changed paths) ─┐
    alarms, heartbeat ───────┼─► wake ─► main loop ─► drafts_to_jobs: jobs, status blocks
    workers (task ended) ────┤                     ─► inbox: retry / cancel requests
    signals, requests/ ──────┘                     ─► chores: accounts, tokens, archive,
                                                              rescan
                                                   ─► dispatcher: due work → workers
                                                   ─► watchdog keep-alive

Only the main thread changes jobs that no worker holds; a worker changes only the job it
runs (through `publishing`). Signal handlers, the watcher, the alarms and the workers only
queue a message and set the wake event. The job store is the truth: at start the jobs left
in the middle of a publish are taken over first (`interrupted`), then every draft is read
again and the alarms are rebuilt from the store. The rest of the daemon: `blocked` (which
accounts wait), `reload` (a new config.yaml), `chores` (what runs every N seconds),
`store_care` (a deleted state_dir, a jobs.json that cannot be written),
`tokens` (refreshing and checking the access tokens, between publishes).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.daemon import blocked as blocking
from publisher.daemon import inbox, interrupted, reload
from publisher.daemon import tokens as token_care
from publisher.daemon.alarms import AlarmClock
from publisher.daemon.chores import Chores
from publisher.daemon.dispatcher import Dispatcher
from publisher.daemon.drafts_to_jobs import DraftsToJobs
from publisher.daemon.metrics import Metrics
from publisher.daemon.planfile import Feed, PlanFile
from publisher.daemon.sdnotify import Notifier
from publisher.daemon.store_care import StoreCare
from publisher.daemon.watcher import Watcher
from publisher.daemon.workers import Done, Workers
from publisher.drafts import statusblock, writeback
from publisher.errors import PublisherError, StoreUnwritable
from publisher.job import State
from publisher.publishing import insights
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)


# Waits are cut short at a stop (Runtime.stop_waiting); this bounds an HTTP call in flight
# (a publish cut off is reconciled at the next start). SIGTERM is answered within 20 s.
STOP_TIMEOUT = 15.0
# The chores' periods, in seconds of the daemon's clock.
ACCOUNT_CHECK_EVERY = 300.0
ARCHIVE_EVERY = 3600.0
FIRST_ARCHIVE = 60.0  # seconds after start: not in the way of the first scan
RESCAN_EVERY = 180.0
CATCH_UP_EVERY = 15.0  # status blocks a write-back left behind (a full disk): written again
# Whether a token needs looking after is read from state_dir/tokens this often; Meta is asked
# at most once a day per account (daemon.tokens).
TOKEN_CARE_EVERY = 600.0
FIRST_TOKEN_CARE = 5.0  # soon after start: it only reads files unless a token is due
INSIGHTS_EVERY = 600.0  # a round of insights reads (publishing.insights: PER_ROUND each)
FIRST_INSIGHTS = 120.0


class Daemon:
    """The running daemon: see the module docstring. `start()`, then `serve()` until
    `request_stop()`, then `shutdown()`. Tests may call `step()` instead of `serve()`."""

    def __init__(
        self,
        config: Config,
        runtime: Runtime,
        *,
        plan_feed: Feed,
        clock: Clock = system_clock,
        notifier: Notifier | None = None,
        heartbeat: float = 1.0,
        quiet: float = 0.5,
        rescan_every: float = RESCAN_EVERY,
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
        self._quiet = quiet
        self._wake = threading.Event()
        self._inbox: queue.SimpleQueue[set[Path] | Done] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.blocked: dict[str, str] = {}  # account -> why its drafts are blocked
        self._failing = ""  # the last failure of a step, logged once
        self._orphans: set[str] = set()  # jobs a task left in state publishing
        self.config_file = reload.ConfigFile(config.config_path)
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
            wake=self.wake,
        )
        self.watcher = self._new_watcher(config.content_dir)
        # plan_file and metrics.listen hear of every job change through the runtime
        self.plan_file = PlanFile(config, clock, plan_feed)
        runtime.watchers.append(self.plan_file.stale)
        self.metrics: Metrics | None = None
        if config.metrics.listen is not None:
            self.metrics = Metrics(config, runtime.store, runtime.known_quota, clock)
            runtime.watchers.append(self.metrics.job_changed)
            runtime.call_watchers.append(self.metrics.api_call)
        self.chores = Chores(clock)
        self.chores.every("account check", account_check_every, self._check_accounts)
        # At most once a heartbeat while the store keeps failing under it.
        self.chores.every(
            "orphan take-over", heartbeat, self._adopt_orphans, first=0.0, only_if=self._has_orphans
        )
        # state_dir deleted, jobs.json not writable (see `store_care`)
        self.store_care = StoreCare(runtime.store, self.drafts_to_jobs, clock)
        self.chores.every("job store", heartbeat, self._mind_store, first=0.0)
        self.chores.every("archive", ARCHIVE_EVERY, self._archive, first=FIRST_ARCHIVE)
        self.chores.every("inbox cleanup", ARCHIVE_EVERY, self._clean_inbox, first=FIRST_ARCHIVE)
        self.chores.every("rescan", rescan_every, self._rescan)
        self.chores.every(
            "status blocks behind",
            CATCH_UP_EVERY,
            lambda: self.drafts_to_jobs.catch_up(self._publishing()),
            only_if=lambda: bool(writeback.behind(self.drafts_to_jobs.config.content_dir)),
        )
        self.insights = insights.Reader(runtime)
        self.expiring = token_care.Expiring()
        self.chores.every("insights", INSIGHTS_EVERY, self._read_insights, first=FIRST_INSIGHTS)
        self.chores.every(
            "token care", TOKEN_CARE_EVERY, self._look_after_tokens, first=FIRST_TOKEN_CARE
        )

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

    def _new_watcher(self, content_dir: Path) -> Watcher:
        return Watcher(
            content_dir,
            self._paths_changed,
            quiet=self._quiet,
            fingerprint=statusblock.fingerprint,
        )

    # --- start, serve, stop -----------------------------------------------------------------

    def start(self) -> None:
        """Take over the jobs left mid-publish, start watching, read every draft, plan, arm
        the alarms, then tell systemd we are ready. Raise OSError if content_dir cannot be
        watched."""
        if self.metrics is not None:
            self.metrics.serve()  # first: a port in use is a config error, before any work
        self.notifier.status("reconciling interrupted publishes")
        interrupted.resume(self.rt, self.workers, keep_waiting=self._still_starting)
        self._drain()
        self.blocked = blocking.at_start(blocking.tokenless(self.config), self.store.all())
        self.watcher.start()  # before the scan: a change in between is then not lost
        self.dispatcher.changed(self.drafts_to_jobs.scan_all(self.blocked, self._publishing()))
        self._ask_accounts()
        self.alarms.start()
        self.plan_file.start()
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
            except StoreUnwritable as exc:  # the job store logs that itself, once a minute
                log.debug("daemon step: %s", exc)
            except Exception as exc:
                # The same failure every second (a full disk) is logged once, not per step.
                text = f"{type(exc).__name__}: {exc}"
                if text != self._failing:
                    log.exception("daemon step failed; carrying on")
                self._failing = text

    def step(self) -> None:
        """One round: config, file changes, finished tasks, requests, the chores whose time
        has come, due work, the watchdog keep-alive."""
        if self._reload.is_set():
            self._reload.clear()
            self.reload("SIGHUP")
        elif self.config_file.changed():
            self.reload("config.yaml changed")
        paths = self._drain()
        if paths:
            self.on_paths(paths)
        self._serve_inbox()
        self.chores.run_due()
        self.dispatcher.dispatch(self.clock(), stopping=self._stop.is_set())
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
        self.rt.stop_waiting()  # a poll, a backoff or a settle wait ends now
        log.info("stopping: no new work; waiting for publishes in flight")
        self.watcher.stop()
        self.alarms.stop()
        self.plan_file.stop()
        if not self.workers.wait(self.stop_timeout, "publish", "reconcile"):
            log.warning(
                "stopping: a publish still runs after %g s; it is reconciled at the next start",
                self.stop_timeout,
            )
        self.rt.close()
        if self.metrics is not None:
            self.metrics.close()
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
        changed = self.drafts_to_jobs.on_paths(paths, self.blocked, self._publishing())
        self.dispatcher.changed(changed)
        self.plan_file.stale()  # an edit can move a slot without changing any job

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
        if task.kind == "token":
            self._token_looked_after(done)
            return set()
        job = self.store.get(task.key)
        if job is None:
            return set()
        if task.kind in ("publish", "reconcile") and job.state is State.PUBLISHING:
            self._orphans.add(job.id)  # its end could not be recorded: taken over by a chore
        # A task that raised was logged by the worker (with its traceback), and a publish
        # records its own internal errors on the job: nothing more to say here.
        if done.error is None and task.kind in ("publish", "reconcile") and done.result:
            self.dispatcher.outcome(job)
            if job.state is State.BLOCKED:
                self._block(job.account, blocking.because_of(job))
        return self.drafts_to_jobs.deferred.pop(task.key, set())

    def _serve_inbox(self) -> None:
        """Apply the retry and cancel requests waiting in state_dir/requests/."""
        applied = inbox.serve(
            self.store, self.config, now=self.clock(), busy=self._publishing().__contains__
        )
        if applied:  # a retry is planned again; a cancel may free a slot
            known = self.drafts_to_jobs.drafts
            present = {rel: known[rel] for rel in applied if rel in known}
            changed = self.drafts_to_jobs.apply(present, set(), self.blocked, self._publishing())
            self.dispatcher.changed(changed)

    # --- chores --------------------------------------------------------------------------

    def _has_orphans(self) -> bool:
        return bool(self._orphans)

    def _adopt_orphans(self) -> None:
        for job in interrupted.take_over_orphans(self.rt, self.workers, self._orphans):
            self.drafts_to_jobs.write_status(job)
        self.dispatcher.changed()

    def _rescan(self) -> None:
        self.watcher.rescan()  # the current watcher: a reload may have replaced it
        if self.store.failing is None and self.drafts_to_jobs.unrecorded:
            self.dispatcher.changed(self.drafts_to_jobs.retry(self.blocked, self._publishing()))

    def _mind_store(self) -> None:
        changed = self.store_care.mind(self.blocked, self._publishing())
        if changed is not None:
            self.dispatcher.changed(changed)

    def _archive(self) -> None:
        try:
            moved = self.store.archive(self.clock(), self.config.archive_after)
        except (PublisherError, OSError) as exc:
            log.warning("housekeeping: %s", exc)
            return
        if moved:
            log.info("archived %d finished job(s)", moved)

    def _clean_inbox(self) -> None:
        try:
            inbox.clean(self.config.state_dir)
        except OSError as exc:
            log.warning("housekeeping: %s", exc)

    def _look_after_tokens(self) -> None:
        """Refresh (Instagram Login) or check (Facebook Login) the tokens that are due, on
        the workers, for accounts that are not blocked and have no publish running (a
        refresh ends the old token; `dispatcher` starts no publish while it runs)."""
        now = self.clock()
        busy = self.workers.accounts("publish", "reconcile", "prepare", "aside")
        for account in self.config.accounts:
            if account in self.blocked or account in busy:
                continue
            if token_care.due(self.config, account, now):
                work = partial(token_care.look_after, self.rt, account)
                self.workers.start(f"token:{account}", "token", account, work)

    def _read_insights(self) -> None:
        """Read the metrics of the posts whose ~24 h or ~7 d read is due (accounts with
        `insights: true`), on the workers, never beside a publish of the same account."""
        busy = self.workers.accounts("publish", "reconcile", "prepare", "token", "aside")
        due = insights.due(self.store.all(), self.config, self.clock())
        for account, reads in due.items():
            if account in self.blocked or account in busy or self.insights.refused(account):
                continue
            work = partial(self.insights.run, account, reads)
            self.workers.start(f"insights:{account}", "insights", account, work)

    def _token_looked_after(self, done: Done) -> None:
        outcome = done.result
        if not isinstance(outcome, token_care.Outcome):
            return  # it raised: the worker logged it
        if outcome.refused is None:
            log.info("%s", outcome.note)
            change = self.expiring.tell(outcome, self.clock())
            if change is not None:
                self.rt.notifier.notify(change)
            return
        log.warning("%s; its drafts wait until the token is fixed", outcome.note)
        self._block(outcome.account, blocking.refused(outcome.refused))

    # --- accounts (see `blocked`) ------------------------------------------------------------

    def _block(self, account: str, reason: str) -> None:
        if self.blocked.get(account) == reason:
            return
        self.blocked[account] = reason
        changed = self.drafts_to_jobs.reclassify(self.blocked, self._publishing(), account)
        self.dispatcher.changed(changed)

    def _check_accounts(self) -> None:
        """The periodic chore: a token kept in a file may have been fixed (then reload, which
        asks again), else ask Instagram about the blocked accounts."""
        if self.blocked and blocking.tokens_changed(self.config, self.blocked):
            self.reload("an access token changed")
            return
        self._ask_accounts()

    def _ask_accounts(self) -> None:
        """Ask Instagram, on the workers, whether the blocked accounts that have a token can
        publish again (at start, after a reload, and every account_check_every)."""
        without_token = blocking.tokenless(self.config)
        for account in blocking.to_ask(self.blocked, without_token, self.config.accounts):
            work = partial(blocking.ask, self.rt, account)
            self.workers.start(f"account:{account}", "check", account, work)
        self.chores.restart("account check")

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

    # --- config (see `reload`) ---------------------------------------------------------------

    def reload(self, why: str) -> bool:
        """Read config.yaml again; on success re-plan everything with it and return True.
        A config the daemon cannot switch to is logged, and the old config stays."""
        self.notifier.reloading()
        self.config_file.seen()
        accepted = reload.accept(
            self.config, why, rt=self.rt, new_watcher=self._new_watcher, notifier=self.notifier
        )
        if accepted is None:
            return False
        old, new = self.config, accepted.config
        self.config = new
        try:
            self.rt.reload(new)
        except (OSError, PublisherError) as exc:
            log.error(
                "config reloaded, but the new media settings do not work (%s); media "
                "are still served the old way until this is fixed",
                exc,
            )
        self.drafts_to_jobs.reset(new)
        self.plan_file.reload(new)
        self.insights.forgive()
        if new.metrics.listen != old.metrics.listen:
            log.warning("metrics.listen changed in config.yaml; restart publisher to use it")
        if accepted.watcher is not None:
            self.watcher.stop()
            self.watcher = accepted.watcher
        self.blocked = blocking.after_reload(
            self.blocked, blocking.tokenless(old), blocking.tokenless(new), new.accounts
        )
        log.info("config reloaded (%s): planning again", why)
        self.dispatcher.changed(self.drafts_to_jobs.scan_all(self.blocked, self._publishing()))
        self._ask_accounts()
        drafts = len(self.drafts_to_jobs.drafts)
        self.notifier.ready(f"config reloaded; watching {drafts} draft(s)")
        return True
