"""Publishes left half done: jobs in state `publishing` nobody works on, taken over.

(Not `drafts_to_jobs`, which brings jobs in line with the draft files, nor the pure
`planning.reconciler`; the question "did that post go out?" is `publishing.reconcile`'s,
which this module hands such jobs to.)

At start, before anything else: what a dead process left behind (RELIABILITY.md §6.3).

A job in state `publishing` that nobody in this new process holds was left by a dead one:

- it had asked Instagram to publish (`publish_requested_at`, no `media_id`): reconcile it
  through the container's status (`publishing.reconcile`): published, unconfirmed, or
  published now if nothing went out. Never a blind second media_publish;
- it had not asked yet: back to `scheduled`, so its time and misfire_grace decide again
  (back to `retrying`, due when it was claimed, if that was a retry's attempt).

A published job without its permalink or with its first comment pending (killed between
recording the media id and finishing those) is completed. The reconciliations run on the
workers and are waited for: only they know whether a post went out.

While running, a task whose end could not be recorded (a store write failed under it) leaves
an orphan the same way: `take_over_orphans` treats it like a dead process's leftover.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from publisher import drafts
from publisher.daemon.dispatcher import released
from publisher.daemon.drafts_to_jobs import shown
from publisher.daemon.workers import Workers
from publisher.drafts import Draft
from publisher.job import Job, State
from publisher.publishing import flow as publishing
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leftovers:
    """The jobs a dead process left, by what to do with them."""

    reconcile: list[Job] = field(default_factory=list)
    requeue: list[Job] = field(default_factory=list)
    complete: list[Job] = field(default_factory=list)


def leftovers(jobs: Iterable[Job]) -> Leftovers:
    """Given every job (at start, so none is held by this process), sort out the ones left
    in the middle of a publish."""
    found = Leftovers()
    for job in jobs:
        if job.state is State.PUBLISHING:
            asked = job.publish_requested_at is not None and job.media_id is None
            (found.reconcile if asked else found.requeue).append(job)
        elif job.unfinished:
            found.complete.append(job)
    return found


def resume(rt: Runtime, workers: Workers, *, keep_waiting: Callable[[], bool]) -> Leftovers:
    """Deal with the leftovers of a dead process (see the module docstring); wait for the
    reconciliations, checking `keep_waiting()` every few seconds (False: stop waiting, the
    daemon is being stopped). Return what was found."""
    found = take_over(rt, workers, rt.store.all())
    while not workers.wait(5.0, "reconcile"):
        if not keep_waiting():
            break
    return found


def take_over(
    rt: Runtime, workers: Workers, jobs: Iterable[Job], *, complete: bool = True
) -> Leftovers:
    """Given jobs no task of this process works on, queue again those left in the middle of a
    publish before it asked Instagram, and start reconciling those that asked (and, with
    `complete`, completing published ones without their permalink) on the workers, without
    waiting. Return what was found. Raise StoreError if a change cannot be recorded."""
    found = leftovers(jobs)
    for job in found.requeue:
        # A retrying job's attempt is due from when it was claimed, not from its slot
        # (hours ago, after a quota wait): misfire_grace judges that time.
        claimed = retry_claimed_at(job)
        back = rt.store.transition(
            job.id,
            State.SCHEDULED if claimed is None else State.RETRYING,
            "interrupted before media_publish; queued again",
            expect=[State.PUBLISHING],
            **({} if claimed is None else {"next_attempt_at": claimed}),
        )
        if back is not None:
            log.info("%s step=reconcile: stopped before publishing; queued again", shown(back))
    for job in found.reconcile:
        log.info("%s step=reconcile: a publish was in flight; asking Instagram", shown(job))
        work = partial(publishing.reconcile, rt, job.id, _draft_of(rt, job))
        workers.start(job.id, "reconcile", job.account, partial(released, rt, job.id, work))
    for job in found.complete if complete else ():
        work = partial(publishing.complete, rt, job.id, _draft_of(rt, job))
        workers.start(job.id, "reconcile", job.account, partial(released, rt, job.id, work))
    return found


def take_over_orphans(rt: Runtime, workers: Workers, orphans: set[str]) -> list[Job]:
    """Given the ids of jobs a task of this process left in state publishing (its end could
    not be recorded: a store write failed under it, say a full disk), take over those that
    are still in that state and that no task works on now, like a dead process's leftovers
    (reconciled on the workers, or queued again), and empty `orphans`. Return the jobs
    queued again (their status blocks are behind). Raise StoreError if a change cannot be
    recorded: the ids of the jobs not taken over are then back in `orphans`."""
    busy = workers.busy()
    jobs = [
        job
        for job_id in sorted(orphans - busy)
        if (job := rt.store.get(job_id)) is not None and job.state is State.PUBLISHING
    ]
    orphans.clear()
    try:
        found = take_over(rt, workers, jobs, complete=False)
    except Exception:
        orphans.update(job.id for job in jobs)
        raise
    return [job for left in found.requeue if (job := rt.store.get(left.id)) is not None]


def retry_claimed_at(job: Job) -> datetime | None:
    """Given a job left in state publishing, return when it was claimed if it was claimed
    while retrying (its next attempt), else None."""
    claimed = None
    for event in reversed(job.history):
        if event.state != State.PUBLISHING.value:
            return claimed if event.state == State.RETRYING.value else None
        claimed = event.at
    return None


def _draft_of(rt: Runtime, job: Job) -> Draft | None:
    path = rt.config.content_dir / job.draft
    if not path.exists():
        return None
    return drafts.load(path, rt.config).draft
