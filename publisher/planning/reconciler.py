"""The daemon's decisions, as pure functions over drafts, jobs and `now` (STYLE "plan, then act").

    classify(loaded, blocked)            the state a draft's job belongs in, time aside
    target(loaded, job, blocked)         what a new or changed draft asks of its job
    deleted(job)                         what a deleted draft asks of its job
    plan(drafts, jobs, ...)              every store change that makes the jobs match the
                                         drafts and the queue: new jobs, states, times
    due(jobs, now, ...)                  which waiting jobs to prepare, publish or miss now
    alarms(jobs, config, now)            when the daemon should next look at each job
    retried(state, draft, held, now)     where `publisher retry` puts a job back

Nothing here reads a file or the clock; the daemon carries out what these return.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from publisher.config import Config
from publisher.drafts import Draft, Loaded
from publisher.job import CANCELLABLE, FINAL, GAVE_UP, QUEUED, Job, State, is_final
from publisher.planning import slots as scheduling

# Sentences written into a job's `error` (they reach the draft's status block).
REPUBLISH = "published drafts are never published again; copy it to a new file to post again"
DELETED = "the draft file was deleted"
# History notes the daemon recognises later.
RETRY_NOW = "retry requested: publish as soon as possible"
RETRY = "retry requested"
CANCELLED_BY_USER = "cancel requested"


@dataclass(frozen=True)
class Change:
    """One change to the job store. `job_id` None: add a new job for draft `rel`.

    `expect` is the state the job must still be in (compare-and-set); `fields` are other Job
    fields to set; `note` goes into the job's history.
    """

    rel: str
    job_id: str | None
    state: State
    note: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    expect: State | None = None

    @property
    def is_transition(self) -> bool:
        """A new job, a new state, or an event worth a line in the job's history (a note);
        otherwise a plain update (a new time, a sentence)."""
        return self.job_id is None or self.state is not self.expect or bool(self.note)


def problem_text(loaded: Loaded) -> str:
    """Every error of a draft in one line: `field: message; field: message`."""
    parts = [f"{p.field}: {p.message}" if p.field else p.message for p in loaded.errors]
    return "; ".join(parts)


def classify(loaded: Loaded, blocked: Mapping[str, str]) -> tuple[State, str | None]:
    """Given a loaded draft and the blocked accounts (name -> why), return the state its job
    belongs in, time aside (scheduled, invalid, locked, paused or blocked) and the sentence
    for the status block's `error`."""
    draft = loaded.draft
    if draft is None or loaded.errors:
        return State.INVALID, problem_text(loaded) or "the draft cannot be read"
    if loaded.locked_platforms:
        names = ", ".join(loaded.locked_platforms)
        return State.LOCKED, (
            f"platforms: {names} not available (only instagram); remove it from platforms: "
            "to publish this draft"
        )
    if draft.paused:
        return State.PAUSED, None
    if draft.account in blocked:
        return State.BLOCKED, blocked[draft.account]
    return State.SCHEDULED, None


def _facts(loaded: Loaded) -> dict[str, Any]:
    facts: dict[str, Any] = {"fingerprint": loaded.fingerprint}
    if loaded.draft is not None:
        facts.update(
            account=loaded.draft.account,
            type=loaded.draft.type,
            caption_hash=loaded.draft.caption_hash,
        )
    return facts


def target(loaded: Loaded, job: Job | None, blocked: Mapping[str, str]) -> Change | None:
    """Given a draft as read now and its job (None: never seen), return the change it asks
    for, time aside, or None when the job stays as it is.

    A published (or unconfirmed) job never moves: an edit only earns it the REPUBLISH
    sentence. A publishing job is the worker's. Failed and missed jobs wait for an edit or
    `publisher retry`; a job cancelled by the user waits for `publisher retry`; one cancelled
    because its file was deleted comes back with the file. An edit resets the attempts.
    """
    if job is None:
        state, error = classify(loaded, blocked)
        return Change(loaded.rel, None, state, "new draft", {**_facts(loaded), "error": error})
    edited = loaded.fingerprint != job.fingerprint
    if job.state in FINAL:
        if edited and job.error != REPUBLISH:
            return Change(job.draft, job.id, job.state, "", {"error": REPUBLISH}, job.state)
        return None
    if job.state is State.PUBLISHING:
        return None
    if job.state in GAVE_UP and not edited:
        return None
    if job.state is State.CANCELLED and job.error != DELETED:
        return None
    state, error = classify(loaded, blocked)
    if not edited and job.state is State.RETRYING and state is State.SCHEDULED:
        return None  # it keeps waiting for its next attempt
    if not edited and job.state is state and job.error == error:
        return None
    fields: dict[str, Any] = {**_facts(loaded), "error": error}
    if edited or job.state not in QUEUED:
        fields.update(attempts=0, next_attempt_at=None)
    note = "draft edited" if edited else "draft re-checked"
    return Change(job.draft, job.id, state, note, fields, job.state)


def deleted(job: Job) -> Change | None:
    """Given the job of a draft whose file is gone, return the change (cancel a waiting job),
    or None: published, failed, missed and cancelled jobs keep their state, and a publishing
    job is the worker's."""
    if job.state not in CANCELLABLE:
        return None
    return Change(job.draft, job.id, State.CANCELLED, DELETED, {"error": DELETED}, job.state)


def moved(change: Change | None, job: Job, rel: str) -> Change:
    """Given the change a renamed draft asks of its job (None: nothing), the job found under
    the old name and the new name, return the change that also moves the job (one job)."""
    if change is None:
        note = f"draft renamed from {job.draft}"
        return Change(rel, job.id, job.state, note, {"draft": rel}, job.state)
    fields = {**change.fields, "draft": rel}
    return Change(rel, job.id, change.state, change.note, fields, change.expect)


def adopted(loaded: Loaded, now: datetime) -> Change | None:
    """Given a draft no job knows (not even by its content) whose status block says it was
    published, return a new published job that records it, or None. This happens when
    jobs.json was replaced or lost: the status block is then the only record, and trusting
    it is what keeps the post from going out twice."""
    status = loaded.status or {}
    state = status.get("state")
    if not is_final(state):
        return None
    published_at = _instant(status.get("published_at")) or now
    fields: dict[str, Any] = {
        **_facts(loaded),
        "media_id": _text(status.get("media_id")),
        "permalink": _text(status.get("permalink")),
        "published_at": published_at,
        "scheduled_for": _instant(status.get("scheduled_for")),
        "error": (
            f"the status block says {state}, but the job store had no record of it (was "
            "jobs.json replaced?); it is not published again. To post it again, copy it to a "
            "new file and remove the status: block there"
        ),
    }
    return Change(loaded.rel, None, State(state), "recorded from the status block", fields)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else None


def renamed(loaded: Loaded, orphans: Mapping[str, Sequence[Job]]) -> Job | None:
    """Given a draft with no job under its name and the jobs whose draft file is gone (by
    fingerprint), return the job it was renamed from, or None. A job that still has
    somewhere to go (its file reappeared) is never in `orphans`."""
    candidates = orphans.get(loaded.fingerprint, ())
    return max(candidates, key=_newest) if candidates else None


def _newest(job: Job) -> datetime:
    return job.created_at or datetime.min.replace(tzinfo=UTC)


def retried(
    state: State, draft: Draft | None, held: datetime | None, now: datetime
) -> tuple[str, datetime | None]:
    """Given the state of a job `publisher retry` re-queues, its draft as read now (None:
    it cannot be read), the time the job holds and `now`, return the history note and the
    job's new scheduled_for (None: the planner gives it one).

    A failed or missed job goes out as soon as possible (RETRY_NOW). Any other (cancelled,
    blocked) goes back to its place: a queue draft to the slot it holds, or to the next free
    slot when that one went by; a publish_at draft to its time, or now when that went by
    (its time cannot come back, and being missed for it would help nobody).
    """
    if state in GAVE_UP or (draft is not None and draft.publish_now):
        return RETRY_NOW, now
    if draft is not None and draft.publish_at is not None:
        if draft.publish_at <= now:
            return RETRY_NOW, now
        return RETRY, draft.publish_at
    return RETRY, held if held is not None and held > now else None


def _apply(job: Job | None, change: Change) -> Job:
    """The job as it would be after `change` (for planning before anything is written)."""
    values: dict[str, Any] = dict(job) if job is not None else {"draft": change.rel}
    values.update(change.fields)
    values["state"] = change.state
    return Job.model_validate(values)


def want(loaded: Loaded, job: Job, now: datetime) -> scheduling.Want | None:
    """The scheduling.Want of a valid draft whose job is planned, else None. A job re-queued
    with `publisher retry` after its time went by goes out now (RETRY_NOW)."""
    draft = loaded.draft
    if draft is None or job.state not in QUEUED:
        return None
    retried = bool(job.history) and job.history[-1].note == RETRY_NOW
    publish_now = draft.publish_now or (
        retried
        and job.state is State.SCHEDULED
        and (draft.publish_at is None or draft.publish_at <= now)
    )
    return scheduling.Want(
        rel=loaded.rel,
        account=draft.account,
        publish_at=None if publish_now else draft.publish_at,
        publish_now=publish_now,
        order_key=PurePosixPath(loaded.rel).name,
    )


def schedule(
    drafts: Mapping[str, Loaded],
    jobs: Iterable[Job],
    changes: Iterable[Change],
    config: Config,
    now: datetime,
    *,
    busy: Collection[str] = (),
) -> tuple[dict[str, Change], dict[str, Job], scheduling.Plan]:
    """Given every draft as last read (by rel), the jobs, the changes the drafts ask for and
    `now`, return (the changes by key, the jobs as they would be after them by key, and the
    scheduling.Plan of every planned draft). Keys are job ids, or "new:<rel>" for new jobs.
    Changes to jobs in `busy` are dropped."""
    current = {job.id: job for job in jobs}
    pending: dict[str, Change] = {}
    projected: dict[str, Job] = dict(current)
    for asked in changes:
        if asked.job_id in busy:
            continue
        key = asked.job_id or f"new:{asked.rel}"
        change = _requeued(asked, current.get(asked.job_id or ""), now)
        pending[key] = change
        projected[key] = _apply(current.get(change.job_id or ""), change)
    wants = []
    for key, job in _by_rel(projected).items():
        loaded = drafts.get(job.draft)
        wanted = want(loaded, job, now) if loaded is not None else None
        if wanted is not None and key:
            wants.append(wanted)
    return pending, projected, scheduling.assign(wants, list(projected.values()), config, now)


def _requeued(change: Change, job: Job | None, now: datetime) -> Change:
    """A job coming back to the queue (un-paused, unblocked, fixed, edited after it failed
    or was missed) whose time went by while it was out holds that time no longer: it is
    planned again (its publish_at, now, or the next free slot), never missed for a slot it
    was not waiting for."""
    if (
        job is None
        or change.state is not State.SCHEDULED
        or job.state in QUEUED
        or job.scheduled_for is None
        or job.scheduled_for > now
    ):
        return change
    return dataclasses.replace(change, fields={**change.fields, "scheduled_for": None})


def _by_rel(projected: Mapping[str, Job]) -> dict[str, Job]:
    """key -> job, keeping only the newest job of each draft."""
    newest: dict[str, tuple[str, Job]] = {}
    for key, job in projected.items():
        seen = newest.get(job.draft)
        if seen is None or _newest(job) >= _newest(seen[1]):
            newest[job.draft] = (key, job)
    return {key: job for key, job in newest.values()}


def plan(
    drafts: Mapping[str, Loaded],
    jobs: Iterable[Job],
    changes: Iterable[Change],
    config: Config,
    now: datetime,
    *,
    busy: Collection[str] = (),
) -> list[Change]:
    """Given every draft as last read (by rel), the jobs, the changes the drafts ask for
    (`target`, `deleted`, `moved`), the config and `now`, return the changes to write: those,
    merged with the time of every scheduled job from `scheduling.assign` (a draft that cannot
    be scheduled becomes invalid with the reason), minus any that change nothing.

    Jobs in `busy` (a worker is publishing them) are left alone.
    """
    jobs = list(jobs)
    current = {job.id: job for job in jobs}
    pending, projected, times = schedule(drafts, jobs, changes, config, now, busy=busy)
    for key, job in _by_rel(projected).items():
        if job.state is not State.SCHEDULED or key in busy:
            continue
        rel = job.draft
        when = times.times.get(rel)
        change = pending.get(key)
        job_id = None if key.startswith("new:") else key
        if when is None:
            problem = times.problems.get(rel)
            if problem is None:
                continue
            base = change or Change(rel, job_id, State.INVALID, "", {}, job.state)
            fields = {**base.fields, "error": problem, "scheduled_for": None}
            pending[key] = Change(
                rel, base.job_id, State.INVALID, "cannot be scheduled", fields, base.expect
            )
        elif when != job.scheduled_for:
            base = change or Change(rel, job_id, State.SCHEDULED, "", {}, State.SCHEDULED)
            pending[key] = Change(
                rel,
                base.job_id,
                base.state,
                base.note,
                {**base.fields, "scheduled_for": when},
                base.expect,
            )
    return [change for key, change in pending.items() if _changes(current.get(key), change)]


def _changes(job: Job | None, change: Change) -> bool:
    if job is None:
        return True
    if job.state is not change.state:
        return True
    return any(getattr(job, name) != value for name, value in change.fields.items())
