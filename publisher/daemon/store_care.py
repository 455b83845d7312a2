"""The job store's troubles, as the daemon meets them: a deleted state_dir, a jobs.json that
cannot be written (a full disk, a read-only file system, an I/O error).

`store.health` backs off and logs; this is the daemon's side, run every heartbeat by the main
loop (`chores`): state_dir deleted is made again from memory (`JobStore.keep_state_dir`);
while jobs.json cannot be written the drafts due now say why in their status blocks
(`DraftsToJobs.write_status` adds the reason); once it can, their blocks are put right, the
dispatcher looks again, and every change of drafts the store could not record is read again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping

from publisher.clock import Clock
from publisher.daemon.drafts_to_jobs import DraftsToJobs
from publisher.errors import StoreUnwritable
from publisher.job import Job
from publisher.planning import due
from publisher.store.jobstore import JobStore


class StoreCare:
    """Owns which jobs' status blocks say the store cannot be written."""

    def __init__(self, store: JobStore, drafts_to_jobs: DraftsToJobs, clock: Clock) -> None:
        self.store = store
        self.drafts_to_jobs = drafts_to_jobs
        self.clock = clock
        self._told: set[str] = set()  # job ids whose status block gives the store's reason

    def mind(self, blocked: Mapping[str, str], busy: Collection[str]) -> list[Job] | None:
        """One look (every heartbeat). Return None when there is nothing new for the
        dispatcher, else the jobs changed (possibly none) once the store can be written
        again or the changes it could not record were read again."""
        with contextlib.suppress(StoreUnwritable):  # logged by the store; retried below
            self.store.keep_state_dir()
        if self.store.failing is not None and not self.store.try_writing():
            self._tell_waiting()
            return None
        changed: list[Job] | None = None
        if self._told:
            for job_id in sorted(self._told):
                job = self.store.get(job_id)
                if job is not None:
                    self.drafts_to_jobs.write_status(job)
            self._told.clear()
            changed = []
        if self.drafts_to_jobs.unrecorded:
            changed = [*(changed or []), *self.drafts_to_jobs.retry(blocked, busy)]
        return changed

    def _tell_waiting(self) -> None:
        """Have each job due now that cannot start say why in its status block, once while
        the store fails."""
        now = self.clock()
        for job in self.store.all():
            when = due.at(job)
            if job.id in self._told or when is None or when > now:
                continue
            self._told.add(job.id)
            self.drafts_to_jobs.write_status(job)
