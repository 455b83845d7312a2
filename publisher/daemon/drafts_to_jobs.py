"""Draft files → jobs → status blocks: the daemon's only way to change a job no worker holds.

(It reads the files and carries out what the pure `planning.reconciler` decides; publishes
left half done are `interrupted`'s, and a publish's own outcome is `dispatcher`'s.)

`DraftsToJobs` remembers every draft as last read (and which media files each uses), turns
changed and deleted paths into `reconciler` changes (a rename keeps its job, a deleted
draft's waiting job is cancelled, a published draft is never published again), plans with
`reconciler.plan`, writes the store, then the status blocks. Jobs a worker is publishing are
left alone: their paths wait in `deferred` until the worker is done.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from pathlib import Path

from publisher import drafts
from publisher.clock import Clock
from publisher.config import Config
from publisher.drafts import Loaded, files, writeback
from publisher.errors import PublisherError, StoreError, StoreUnwritable
from publisher.job import WAITING, Job, State
from publisher.planning import due, reconciler
from publisher.store.jobstore import JobStore

log = logging.getLogger(__name__)


def shown(job: Job) -> str:
    """A job in a log line: its draft, account and container."""
    container = job.parent_container()
    where = f" container={container.id}" if container is not None else ""
    return f"{job.draft} account={job.account or '-'}{where}"


class DraftsToJobs:
    """Owns what the daemon knows of the draft files (see the module docstring)."""

    def __init__(self, config: Config, store: JobStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.drafts: dict[str, Loaded] = {}
        self.deferred: dict[str, set[Path]] = {}  # job id -> paths to read once it is free
        self._media_users: dict[Path, set[str]] = {}  # media file -> drafts using it
        self._media_of: dict[str, set[Path]] = {}  # draft -> its media files
        # Drafts whose change the store could not record: read again once it can (`retry`).
        self.unrecorded: set[Path] = set()
        self._unnamable: set[str] = set()  # drafts whose name is not UTF-8, told once

    def reset(self, config: Config) -> None:
        """Take a new config; forget every draft if content_dir changed."""
        if config.content_dir != self.config.content_dir:
            self.drafts.clear()
            self._media_users.clear()
            self._media_of.clear()
        self.config = config

    def scan_all(self, blocked: Mapping[str, str], busy: Collection[str]) -> list[Job]:
        """Read every draft under content_dir (jobs whose draft is gone are cancelled);
        return the jobs changed."""
        found = drafts.discover(self.config.content_dir)
        loaded = {item.rel: item for item in (drafts.load(p, self.config) for p in found)}
        known = {job.draft for job in self.store.all()} | set(self.drafts)
        return self.apply(loaded, {rel for rel in known if rel not in loaded}, blocked, busy)

    def on_paths(
        self, paths: Iterable[Path], blocked: Mapping[str, str], busy: Collection[str]
    ) -> list[Job]:
        """Given changed paths (drafts and media, existing or deleted), re-read the drafts
        concerned and plan again; return the jobs changed."""
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
                gone.add(path.relative_to(content_dir).as_posix())
        return self.apply(present, gone, blocked, busy) if present or gone else []

    def reclassify(
        self, blocked: Mapping[str, str], busy: Collection[str], account: str | None = None
    ) -> list[Job]:
        """Classify the drafts (of one account) again, as last read, with what we now know of
        the accounts; return the jobs changed."""
        mine = {
            rel: loaded
            for rel, loaded in self.drafts.items()
            if account is None or (loaded.draft is not None and loaded.draft.account == account)
        }
        return self.apply(mine, set(), blocked, busy) if mine else []

    def apply(
        self,
        present: Mapping[str, Loaded],
        gone: set[str],
        blocked: Mapping[str, str],
        busy: Collection[str],
    ) -> list[Job]:
        """Bring the jobs in line with these drafts (read now) and deletions, plan, write the
        store and the status blocks; return the jobs changed."""
        present, gone = self._nameable(present, gone)
        now = self.clock()
        jobs = self.store.all()
        by_rel = {job.draft: job for job in jobs}  # oldest first: a draft's newest job wins
        for rel in gone:
            self._forget(rel)
        for rel, loaded in present.items():
            self._remember(rel, loaded)
        changes: list[reconciler.Change] = []
        renames = _Renames(self._orphans(jobs, busy), {job.fingerprint for job in jobs})
        busy_orphans = self._orphans(jobs, (), only=busy)
        for rel, loaded in sorted(present.items()):
            known = by_rel.get(rel) or self.store.by_draft(rel)
            if known is not None and known.id in busy:
                self.deferred.setdefault(known.id, set()).add(loaded.path)
                continue
            if known is None and busy_orphans.get(loaded.fingerprint):
                # Renamed while a worker publishes it: decide once the worker is done (then
                # it is an ordinary rename), never as a new draft that would post again.
                owner = busy_orphans[loaded.fingerprint][0]
                self.deferred.setdefault(owner.id, set()).add(loaded.path)
                continue
            change = (
                reconciler.target(loaded, known, blocked)
                if known is not None
                else renames.change_for(loaded, blocked, now)
            )
            if change is not None:
                changes.append(change)
        for rel in sorted(gone):
            job = by_rel.get(rel)
            if job is None or job.id in renames.moved:
                continue
            if job.id in busy:
                self.deferred.setdefault(job.id, set()).add(self.config.content_dir / rel)
                continue
            change = reconciler.deleted(job)
            if change is not None:
                changes.append(change)
        planned = reconciler.plan(self.drafts, jobs, changes, self.config, now, busy=busy)
        changed = self._carry_out(planned)
        content_dir = self.config.content_dir
        paths = {loaded.path for loaded in present.values()} | {content_dir / rel for rel in gone}
        if changed is None:
            self.unrecorded |= paths
            changed = []
        else:
            self.unrecorded -= paths
        written = {job.draft for job in changed}
        self._sync_status({rel: item for rel, item in present.items() if rel not in written})
        return changed

    def retry(self, blocked: Mapping[str, str], busy: Collection[str]) -> list[Job]:
        """Read again the drafts whose change the store could not record, now that it can;
        return the jobs changed."""
        paths, self.unrecorded = self.unrecorded, set()
        return self.on_paths(paths, blocked, busy) if paths else []

    def _nameable(
        self, present: Mapping[str, Loaded], gone: set[str]
    ) -> tuple[Mapping[str, Loaded], set[str]]:
        """Leave out the drafts whose file name is not valid UTF-8: no job can hold their
        name. Each is logged once with its problem (its name escaped)."""
        bad = {rel for rel in [*present, *gone] if files.escaped_name(rel) is not None}
        if not bad:
            return present, gone
        for rel in sorted(bad - self._unnamable):
            loaded = present.get(rel)
            problems = loaded.errors if loaded is not None else ()
            for problem in problems:
                log.warning("%s step=plan: invalid: %s", problem.path, problem.message)
        self._unnamable = (self._unnamable | (bad & set(present))) - gone
        return {rel: item for rel, item in present.items() if rel not in bad}, gone - bad

    def write_status(self, job: Job) -> None:
        """Write the job's status block into its draft (if the file is there)."""
        if job.draft in self.drafts:
            # a deleted draft: the watcher tells us next
            writeback.write(self.config, self._as_shown(job))

    def catch_up(self, busy: Collection[str]) -> None:
        """Write again the status blocks a write-back left behind (a full disk, an I/O error,
        edits that kept racing it), from the job as the store has it now; a job being worked
        on (`busy`, job ids) is left to its worker, which writes its block when done."""
        content_dir = self.config.content_dir
        for rel in sorted(writeback.behind(content_dir)):
            job = self.store.by_draft(rel)
            if job is None:
                writeback.caught_up(content_dir, rel)  # no job, no block to write
            elif job.id not in busy:
                writeback.write(self.config, self._as_shown(job))  # a draft gone: forgotten

    def _as_shown(self, job: Job) -> Job:
        """The job as its status block shows it: a due job that cannot start because the
        store cannot be written says so (the store keeps the job as it was)."""
        reason = self.store.failing
        if reason is None or job.state not in WAITING:
            return job
        when = due.at(job)
        if when is None or when > self.clock():
            return job
        return job.model_copy(update={"error": reason})

    def _remember(self, rel: str, loaded: Loaded) -> None:
        self._forget(rel)
        # The status block as read is only compared once, now: not kept for every draft.
        self.drafts[rel] = dataclasses.replace(loaded, status=None)
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

    def _orphans(
        self, jobs: Iterable[Job], busy: Collection[str], *, only: Collection[str] | None = None
    ) -> dict[str, list[Job]]:
        """Jobs whose draft file is gone, by fingerprint: a new draft with the same content
        is the same draft renamed. Jobs in `busy` are left out; with `only`, just those."""
        found: dict[str, list[Job]] = {}
        for job in jobs:
            if only is not None and job.id not in only:
                continue
            if job.draft not in self.drafts and job.id not in busy and job.fingerprint:
                found.setdefault(job.fingerprint, []).append(job)
        return found

    def _carry_out(self, changes: Iterable[reconciler.Change]) -> list[Job] | None:
        """Write every change to the store, then the status blocks (the store is the truth,
        the blocks its projection: a crash in between is mended by `_sync_status` at the
        next read); return the jobs written, None if the store could not be written."""
        done: list[tuple[reconciler.Change, Job]] = []
        try:
            # One write of jobs.json for them all (a first start on 10,000 drafts made 10,000
            # full rewrites); durable when the batch ends, before any status block is written.
            with self.store.batch():
                for change in changes:
                    try:
                        job = self._write(change)
                    except (PublisherError, KeyError, ValueError) as exc:
                        log.error(
                            "%s: the change to %s was not recorded: %s",
                            change.rel,
                            change.state.value,
                            exc,
                        )
                        continue
                    if job is not None:  # None: it moved on; the next change looks again
                        done.append((change, job))
        except StoreUnwritable as exc:
            # The store logs that itself, once a minute; `retry` reads these drafts again.
            log.debug("%d change(s) of drafts were not recorded: %s", len(done), exc)
            return None
        except StoreError as exc:
            log.error("%d change(s) of drafts were not recorded: %s", len(done), exc)
            return None
        written: list[Job] = []
        for change, job in done:
            when = (
                f" for {job.scheduled_for.astimezone(self.config.tz).isoformat()}"
                if job.state is State.SCHEDULED and job.scheduled_for is not None
                else ""
            )
            detail = f": {job.error}" if job.error and job.state is not State.SCHEDULED else ""
            note = change.note or ("re-planned" if "scheduled_for" in change.fields else "updated")
            log.info("%s step=plan: %s%s (%s)%s", shown(job), job.state.value, when, note, detail)
            written.append(job)
        for job in written:
            self.write_status(job)
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

    def _sync_status(self, present: Mapping[str, Loaded]) -> None:
        """Given drafts as just read, rewrite the status blocks that do not show what the
        store says (a user removed one, a crash came between the store and the file)."""
        for rel, loaded in present.items():
            job = self.store.by_draft(rel)
            if job is None:
                continue
            wanted = self._as_shown(job).status_block(self.config.tz)
            if _as_text(loaded.status or {}) != _as_text(wanted):
                self.write_status(job)


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
