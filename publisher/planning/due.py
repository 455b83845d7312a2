"""When to act on a waiting job: the pure decisions behind the daemon's due work.

    at(job)                  when a waiting job is due (its slot, or its next attempt)
    in_doubt(job)            whether a publish of it may have gone out (never missed)
    work(jobs, now, ...)     what to start now: publish, prepare ahead, or miss
    alarms(jobs, config, now) the instants the daemon should look at each job
    late_text / missed_text  the status sentences for a late post and a missed one

Lateness is our own policy (`schedule.misfire_grace`, judged by scheduling.lateness_policy),
never APScheduler's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from publisher import durations
from publisher.config import Config
from publisher.job import Job, State
from publisher.planning import slots as scheduling

Action = Literal["prepare", "publish", "miss"]


@dataclass(frozen=True)
class Work:
    """One thing to do now for one job. `due` is the time it was due at (publish, miss)."""

    job_id: str
    action: Action
    due: datetime
    account: str = ""


def at(job: Job) -> datetime | None:
    """When a waiting job is due: its slot, or its next attempt while retrying."""
    if job.state is State.SCHEDULED:
        return job.scheduled_for
    if job.state is State.RETRYING:
        return job.next_attempt_at or job.scheduled_for
    return None


def in_doubt(job: Job) -> bool:
    """True when the job asked Instagram to publish and does not know the outcome yet: it is
    reconciled whenever it comes up (never `missed`: the post may be out)."""
    return job.publish_requested_at is not None and job.media_id is None


def work(
    jobs: Iterable[Job],
    now: datetime,
    config: Config,
    *,
    busy: Collection[str] = (),
    busy_accounts: Collection[str] = (),
    prepared: Collection[str] = (),
    capacity: int,
    prepare_capacity: int = 0,
) -> list[Work]:
    """Given the jobs and `now`, return what to start now, earliest due first:

    - a job due longer ago than misfire_grace: "miss" (never published late beyond it),
      unless a publish of it is in doubt (`in_doubt`): that one is always reconciled;
    - a due job: "publish", at most `capacity` of them, one per account, none for an account
      in `busy_accounts` (a publish of that account is running);
    - a scheduled job within prepare_ahead of its time and not in `prepared`, or a due one
      that waits for its account or for capacity: "prepare" (its containers, so that
      media_publish goes out at the slot), at most `prepare_capacity`; preparing is
      creating containers and waiting for them, so an account may have several.
    Jobs in `busy` (a worker has them) are skipped.
    """
    grace = config.schedule.misfire_grace
    ahead = config.publishing.prepare_ahead
    candidates = []
    for job in jobs:
        when = at(job)
        if when is None or job.id in busy:
            continue
        if when <= now:
            verdict = scheduling.lateness_policy(when, now, grace)
            missed = verdict == "missed" and not in_doubt(job)
            candidates.append((when, 0 if missed else 1, job))
        elif (
            job.state is State.SCHEDULED
            and job.id not in prepared
            and scheduling.prepare_at(when, ahead, now) <= now
        ):
            candidates.append((when, 2, job))
    work: list[Work] = []
    publishing = set(busy_accounts)
    for when, kind, job in sorted(candidates, key=lambda item: (item[0], item[1], item[2].id)):
        if kind == 0:
            work.append(Work(job.id, "miss", when, job.account))
        elif kind == 1 and capacity > 0 and job.account not in publishing:
            publishing.add(job.account)
            capacity -= 1
            work.append(Work(job.id, "publish", when, job.account))
        elif job.id not in prepared and prepare_capacity > 0:
            # Not yet, or due but waiting for its account: its containers meanwhile.
            prepare_capacity -= 1
            work.append(Work(job.id, "prepare", when, job.account))
    return work


def alarms(jobs: Iterable[Job], config: Config, now: datetime) -> dict[str, list[datetime]]:
    """Given the jobs, return job id -> the instants (aware UTC, not before `now`) at which
    the daemon should look at it: the prepare time and the slot of a scheduled job, the next
    attempt of a retrying one."""
    ahead = config.publishing.prepare_ahead
    out: dict[str, list[datetime]] = {}
    for job in jobs:
        when = at(job)
        if when is None:
            continue
        times = {max(when, now)}
        if job.state is State.SCHEDULED:
            times.add(scheduling.prepare_at(when, ahead, now))
        out[job.id] = sorted(times)
    return out


def late_text(late_by: timedelta, due_time: datetime, started: datetime, tz: Any) -> str:
    """The status sentence for a post published late: how late and why."""
    local = due_time.astimezone(tz).strftime("%H:%M")
    why = (
        f"the daemon was not running at {local}"
        if due_time < started
        else f"the daemon could not start it at {local} (busy, suspended, or the clock jumped)"
    )
    return f"published {_amount(late_by)} late: {why}"


def missed_text(rel: str, due_time: datetime, grace: timedelta, started: datetime, tz: Any) -> str:
    """The status sentence for a missed job: when it was due, why, and how to publish anyway."""
    shown = scheduling.format_local(due_time, tz)
    why = (
        "the daemon was not running then"
        if due_time < started
        else "the daemon could not publish it then"
    )
    return (
        f"missed: it was due {shown} and {why}; more than misfire_grace "
        f"({durations.format(grace)}) has passed. Run `publisher retry {rel}` to publish it "
        "now, or set a new publish_at"
    )


def _amount(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return durations.format(timedelta(minutes=round(seconds / 60)))
