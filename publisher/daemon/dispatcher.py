"""Due work → the workers: what the daemon starts now, and what it makes of the outcome.

(`planning.due` decides what is due; this starts it and records a miss or a late post. A
changed draft is `drafts_to_jobs`'s business, a publish left half done `interrupted`'s.)

`Dispatcher.dispatch(now)` asks `due.work` what is due (publish, prepare ahead, or
miss), starts it on the workers, and re-arms the alarm clock for the next instants. Between
changes it does nothing until the next instant something becomes due, so an idle daemon with
thousands of scheduled drafts costs a comparison per heartbeat.

The publish itself is `publishing.publish` (exactly once, attempts and backoff in the store);
just before it, the worker checks that the file still holds the version planned with, since
an edit may be on its way through the watcher's quiet period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from publisher import confined, drafts, yamlsafe
from publisher.clock import Clock
from publisher.config import Config
from publisher.daemon.alarms import AlarmClock
from publisher.daemon.drafts_to_jobs import DraftsToJobs, shown
from publisher.daemon.workers import Workers
from publisher.drafts import Draft
from publisher.job import Job, State
from publisher.planning import due
from publisher.publishing import containers
from publisher.publishing import flow as publishing
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)

IDLE_CHECK = timedelta(hours=1)  # look at the jobs at least this often with nothing due
# Drafts whose containers are prepared at once, all accounts together: this many, or
# publishing.concurrency when higher (a site that publishes 200 at once prepares as many).
PREPARES = 8
ON_TIME = timedelta(seconds=1)
# A post later than this says so in its status (a few seconds behind another post of the
# same account is not worth a sentence; the log still says it).
LATE_NOTE = timedelta(minutes=1)
# A due job whose draft, as last read, is not the version it was planned with: look again
# this often, and have the file read again at most this often (seconds).
RECHECK = timedelta(seconds=1)
REREAD_EVERY = timedelta(seconds=5)


class Dispatcher:
    """Owns the books of due work: which jobs are prepared, which started late."""

    def __init__(
        self,
        runtime: Runtime,
        drafts_to_jobs: DraftsToJobs,
        workers: Workers,
        alarms: AlarmClock,
        *,
        clock: Clock,
        started_at: datetime,
        on_stale: Callable[[set[Path]], None],
        wake: Callable[[str], None] | None = None,
    ) -> None:
        self.rt = runtime
        self.drafts_to_jobs = drafts_to_jobs
        self.workers = workers
        self._wake = wake
        # a publish that waits to reconcile, or finishes a post that is out, lets its
        # account's next draft go (workers: "aside")
        runtime.watch_aside(self._aside)
        self.alarms = alarms
        self.clock = clock
        self.started_at = started_at
        self._on_stale = on_stale
        self._prepared: dict[str, tuple[str, datetime | None]] = {}
        self._late: dict[str, datetime] = {}  # job id -> the time it was due, when started late
        self._reread: dict[str, datetime] = {}  # job id -> when its file may be read again
        self._recheck = False
        self.dirty = True
        self.next_check = clock()

    @property
    def config(self) -> Config:
        return self.rt.config

    def changed(self, jobs: Iterable[Job] = ()) -> None:
        """Jobs changed (or something else did): look again at the next dispatch. A job with
        a new time or new content is prepared again."""
        for job in jobs:
            if self._prepared.get(job.id, _key(job)) != _key(job):
                del self._prepared[job.id]
        self.dirty = True

    def dispatch(self, now: datetime, *, stopping: bool = False) -> None:
        """Start what is due (none when `stopping`), re-arm the alarms, note when to look
        next. Does nothing before then unless something changed."""
        if not self.dirty and now < self.next_check:
            return
        self.dirty = False
        self._recheck = False
        store = self.rt.store
        jobs = store.all()
        # Nothing starts while jobs.json cannot be written (no claim could be recorded);
        # the loop looks after the store and marks us changed once it can.
        if not stopping and store.failing is None:
            running = self.workers.count("publish", "reconcile")
            work = due.work(
                jobs,
                now,
                self.config,
                busy=self.workers.busy(),
                # a token refresh ends the old token: no publish of that account meanwhile
                busy_accounts=self.workers.accounts("publish", "reconcile", "token"),
                prepared={job.id for job in jobs if self._prepared.get(job.id) == _key(job)},
                capacity=self.config.publishing.concurrency - running,
                prepare_capacity=max(PREPARES, self.config.publishing.concurrency)
                - self.workers.count("prepare"),
            )
            by_id = {job.id: job for job in jobs}
            for item in work:
                self._start(item, by_id[item.job_id], now)
            if work:
                jobs = store.all()
        wanted = due.alarms(jobs, self.config, now)
        self.alarms.update(wanted, now)
        upcoming = [instant for times in wanted.values() for instant in times if instant > now]
        self.next_check = min(upcoming, default=now + IDLE_CHECK)
        if self._recheck:
            self.next_check = min(self.next_check, now + RECHECK)

    def _aside(self, job_id: str, aside: bool) -> None:
        """From a worker: its job steps aside (or comes back). Its account may take its next
        draft now: look again at once."""
        self.workers.aside(job_id, aside)
        if aside:
            self.dirty = True
            if self._wake is not None:
                self._wake("a publish stepped aside")

    def _start(self, work: due.Work, job: Job, now: datetime) -> None:
        if work.action == "miss":
            self._miss(job, work.due)
            return
        loaded = self.drafts_to_jobs.drafts.get(job.draft)
        draft = loaded.draft if loaded is not None else None
        if draft is None or draft.fingerprint != job.fingerprint:
            # The draft as last read is not the job's version (a change the store could not
            # record): have the file read again, so the job is brought in line, and look
            # again soon; not at every step (the store may still be failing).
            self._recheck = True
            next_read = self._reread.get(job.id)
            if next_read is None or now >= next_read:
                self._reread[job.id] = now + REREAD_EVERY
                self._on_stale({self.config.content_dir / job.draft})
            return
        self._reread.pop(job.id, None)
        shown_due = work.due.astimezone(self.config.tz).isoformat()
        if work.action == "prepare":
            self._prepared[job.id] = _key(job)
            log.info("%s step=prepare: preparing containers for %s", shown(job), shown_due)
            task = partial(released, self.rt, job.id, lambda: self._prepare(job, draft))
            self.workers.start(job.id, "prepare", job.account, task)
            return
        late = now - work.due
        if late > LATE_NOTE:
            self._late[job.id] = work.due
        log.info(
            "%s step=publish: publishing (due %s%s)",
            shown(job),
            shown_due,
            f", {late.total_seconds():.0f} s late" if late > ON_TIME else "",
        )
        task = partial(released, self.rt, job.id, lambda: self._publish(job, draft))
        self.workers.start(job.id, "publish", job.account, task)

    def _miss(self, job: Job, when: datetime) -> None:
        grace = self.config.schedule.misfire_grace
        error = due.missed_text(job.draft, when, grace, self.started_at, self.config.tz)
        missed = self.rt.store.transition(
            job.id, State.MISSED, "missed", expect=[job.state], error=error
        )
        if missed is not None:
            log.warning("%s step=publish: %s", shown(missed), error)  # error says "missed: ..."
            self.drafts_to_jobs.write_status(missed)

    def _prepare(self, job: Job, draft: Draft) -> Job:
        return containers.prepare(self.rt, job.id, draft)

    def _publish(self, job: Job, draft: Draft) -> Job | None:
        """The worker's publish: only if the file still holds the draft planned with."""
        try:
            current = drafts.fingerprint(confined.read_capped(draft.path, yamlsafe.MAX_BYTES))
        except OSError:
            current = None
        if current != draft.fingerprint:
            log.info("%s: changed on disk just before publishing; reading it first", job.draft)
            self._on_stale({draft.path})
            return None
        return publishing.publish(self.rt, job.id, draft)

    def outcome(self, job: Job) -> None:
        """A publish (or reconciliation) ended with `job`: log it once, and say how late a
        late post went out in its status."""
        self.dirty = True
        when = self._late.pop(job.id, None)
        if job.state is State.PUBLISHED:
            if when is not None and job.published_at is not None:
                late = job.published_at - when
                note = due.late_text(late, when, self.started_at, self.config.tz)
                job = self.rt.store.update(job.id, error=note)
                self.drafts_to_jobs.write_status(job)
            link = job.permalink or ""
            log.info("%s step=publish: published media=%s %s", shown(job), job.media_id, link)
        elif job.state in (State.RETRYING, State.FAILED, State.UNCONFIRMED, State.BLOCKED):
            log.warning("%s step=publish: %s: %s", shown(job), job.state.value, job.error)
        else:
            log.info("%s step=publish: %s", shown(job), job.state.value)


def released(rt: Runtime, job_id: str, work: Callable[[], object]) -> object:
    """Run a task's `work` on job `job_id`, then release the job's claim in this process.
    The claim is the task's (one task per job at a time), and a claim whose store write
    failed is never released by the publish flow: every later publish of the job would
    return at once, and the job would never go out."""
    try:
        return work()
    finally:
        rt.release(job_id)


def _key(job: Job) -> tuple[str, datetime | None]:
    """What a preparation was for: the draft's version and the slot."""
    return (job.fingerprint, job.scheduled_for)
