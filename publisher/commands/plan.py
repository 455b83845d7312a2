"""`publisher plan`: what goes out when, per account, in local time (SPEC §2); `--json`.

`text(config)` reads the jobs and the drafts and plans them the way the daemon would now;
`render` is the pure rendering of jobs and a `slots.Plan`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from publisher import drafts, durations
from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.daemon.blocked import tokenless
from publisher.job import FINAL, HOLDING_A_TIME, Job, State
from publisher.planning import reconciler
from publisher.planning.slots import (
    DEFAULT_QUOTA,
    QUOTA_WINDOW,
    Plan,
    format_local,
    lateness_policy,
    quota_warnings,
)
from publisher.publishing import limits
from publisher.store import jobstore

NEW = "new"  # a draft the job store has not seen yet


@dataclass(frozen=True)
class _Row:
    account: str
    when: datetime
    state: str
    kind: str
    draft: str
    note: str = ""


def _rows(jobs: Sequence[Job], plan: Plan | None, config: Config) -> list[_Row]:
    job_of = {job.draft: job for job in jobs}
    rows = []
    plan = plan or Plan()
    for draft, when in plan.times.items():
        job = job_of.get(draft)
        if job is not None and job.state in FINAL:
            continue
        account = plan.accounts.get(draft) or (job.account if job else "") or "-"
        kind = plan.kinds.get(draft, "")
        rows.append(_Row(account, when, _state(job), kind, draft, _note(job, config)))
    for job in jobs:
        if job.draft in plan.times or job.state not in HOLDING_A_TIME or job.scheduled_for is None:
            continue
        rows.append(
            _Row(
                job.account or "-",
                job.scheduled_for,
                job.state.value,
                "",
                job.draft,
                _note(job, config),
            )
        )
    return sorted(rows, key=lambda row: (row.account, row.when, row.draft))


def _note(job: Job | None, config: Config) -> str:
    if job is not None and job.state is State.RETRYING and job.next_attempt_at is not None:
        return f"next attempt {format_local(job.next_attempt_at, config.tz)}"
    return ""


def _state(job: Job | None) -> str:
    return job.state.value if job is not None else NEW


def _table(rows: list[_Row], config: Config) -> list[str]:
    cells = [
        [format_local(row.when, config.tz), row.state, row.kind or "-", row.draft, row.note]
        for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(4)]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(line, [*widths, 0], strict=True)).rstrip()
        for line in cells
    ]


def _warnings(
    rows: list[_Row],
    jobs: Sequence[Job],
    plan: Plan | None,
    config: Config,
    now: datetime,
    *,
    quota_total: int | Mapping[str, int],
) -> list[str]:
    tz, grace = config.tz, config.schedule.misfire_grace
    # Posts already out in the last 24 h count against the rolling quota window too.
    counted = {row.draft: (row.account, row.when) for row in rows}
    for job in jobs:
        when = job.published_at or job.scheduled_for
        if job.state in FINAL and when is not None and now - QUOTA_WINDOW < when <= now:
            counted[f"{job.draft}#{job.id}"] = (job.account or "-", when)
    warnings = quota_warnings(counted, quota_total, tz=tz)

    for row in rows:
        if row.state not in {NEW, State.SCHEDULED.value}:
            continue
        verdict = lateness_policy(row.when, now, grace)
        if verdict == "missed":
            warnings.append(
                f"{row.draft} ({row.account}) was due {format_local(row.when, tz)}, more than "
                f"misfire_grace ({durations.format(grace)}) ago: it will be marked missed; "
                f"`publisher publish {row.draft}` publishes it anyway"
            )
        elif verdict == "late":
            warnings.append(
                f"{row.draft} ({row.account}) was due {format_local(row.when, tz)}: "
                f"it goes out late, within misfire_grace ({durations.format(grace)})"
            )
    if plan is not None:
        for draft, problem in sorted(plan.problems.items()):
            account = plan.accounts.get(draft, "-")
            warnings.append(f"{draft} ({account}) cannot be scheduled: {problem}")
    for job in sorted(jobs, key=lambda job: job.draft):
        if job.state is State.PAUSED:
            warnings.append(
                f"{job.draft} ({job.account or '-'}) is paused: it is never published while "
                "its draft says paused: true"
            )
        elif job.state is State.BLOCKED:
            warnings.append(
                f"{job.draft} ({job.account or '-'}) is blocked: the account's token is not "
                "valid; `publisher accounts` says why, and it moves on once the token is fixed"
            )
    return warnings


def render(
    jobs: Sequence[Job],
    plan: Plan | None,
    config: Config,
    now: datetime,
    *,
    quota_total: int | Mapping[str, int] = DEFAULT_QUOTA,
) -> str:
    """Given the jobs, the plan (None: only what the jobs hold) and `now`, return the text of
    `publisher plan`: per account, each draft's time in the config zone with its offset, its
    state (`new` when no job exists yet) and where the time comes from (slot, publish_at,
    now); then the warnings: 24 h windows over the publishing quota (`quota_total`, an int or
    per account), drafts that will be missed or go out late, drafts that cannot be scheduled,
    and paused or blocked drafts.
    """
    rows = _rows(jobs, plan, config)
    lines = [f"Plan at {format_local(now, config.tz)}, times in {config.timezone}"]
    accounts = sorted(set(config.accounts) | {row.account for row in rows})
    for account in accounts:
        mine = [row for row in rows if row.account == account]
        lines.append("")
        if not mine:
            lines.append(f"{account}: nothing to publish")
            continue
        count = f"{len(mine)} draft" + ("" if len(mine) == 1 else "s")
        lines.append(f"{account} ({count})")
        lines.extend(_table(mine, config))
    warnings = _warnings(rows, jobs, plan, config, now, quota_total=quota_total)
    lines.append("")
    if warnings:
        lines.append("Warnings")
        lines.extend(f"  - {warning}" for warning in warnings)
    else:
        lines.append("No warnings.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Gathered:
    """What a plan is made of: the jobs, every draft under content_dir as loaded, the plan
    the daemon would make now, and each account's publishing limit."""

    now: datetime
    jobs: list[Job]
    loaded: dict[str, drafts.Loaded]
    plan: Plan
    quota_total: Mapping[str, int]


def gather(config: Config, *, clock: Clock = system_clock, tokens: bool = True) -> Gathered:
    """Given a config, read the jobs as the daemon left them (without the lock, so it works
    while the daemon runs) and every draft under content_dir, and plan them the way the
    daemon would now. `tokens=False` plans as if every account had a token (`plan --diff`
    in CI, where there is none)."""
    now = clock()
    jobs = jobstore.read_jobs(config.state_dir)
    by_rel = {job.draft: job for job in jobs}
    loaded = {
        item.rel: item
        for item in (drafts.load(path, config) for path in drafts.discover(config.content_dir))
    }
    blocked = tokenless(config) if tokens else {}
    for job in jobs:
        if job.state is State.BLOCKED and job.account:
            blocked.setdefault(job.account, job.error or "blocked")
    changes = [
        change
        for rel, item in loaded.items()
        if (change := reconciler.target(item, by_rel.get(rel), blocked)) is not None
    ]
    _pending, _projected, plan = reconciler.schedule(loaded, jobs, changes, config, now)
    # The quota warnings use each account's real limit, as Meta last gave it.
    return Gathered(now, jobs, loaded, plan, limits.totals(config.state_dir))


def text(config: Config, *, clock: Clock = system_clock) -> str:
    """Given a config, return the text of `publisher plan` (see `gather` and `render`)."""
    found = gather(config, clock=clock)
    return render(found.jobs, found.plan, config, found.now, quota_total=found.quota_total)


@dataclass(frozen=True)
class Entry:
    """One planned or published draft, for `plan --json` and `plan --ics`."""

    draft: str
    account: str
    type: str
    state: str
    when: datetime  # aware UTC
    source: str  # slot | publish_at | now | "" (a time the job holds), published
    summary: str  # the caption's first line
    permalink: str | None


def entries(found: Gathered, config: Config) -> list[Entry]:
    """Given what `gather` found, return one Entry per planned draft (as `publisher plan`
    lists them) and per published one, by time."""
    types = {rel: item.draft.type for rel, item in found.loaded.items() if item.draft}
    summaries = {
        rel: item.draft.caption.strip().split("\n", 1)[0].strip()
        for rel, item in found.loaded.items()
        if item.draft
    }
    listed = [
        Entry(
            row.draft,
            row.account,
            types.get(row.draft, ""),
            row.state,
            row.when,
            row.kind,
            summaries.get(row.draft, ""),
            None,
        )
        for row in _rows(found.jobs, found.plan, config)
    ]
    for job in found.jobs:
        when = job.published_at or job.scheduled_for
        if job.state in FINAL and when is not None:
            listed.append(
                Entry(
                    job.draft,
                    job.account or "-",
                    types.get(job.draft, ""),
                    job.state.value,
                    when,
                    "published",
                    summaries.get(job.draft, ""),
                    job.permalink,
                )
            )
    return sorted(listed, key=lambda entry: (entry.when, entry.account, entry.draft))


def as_json(config: Config, *, clock: Clock = system_clock) -> str:
    """`publisher plan --json`: an array of objects (draft, account, type, state, when in UTC,
    local time, source, summary, permalink), by time."""
    items = [
        {
            "draft": entry.draft,
            "account": entry.account,
            "type": entry.type or None,
            "state": entry.state,
            "when": entry.when.astimezone(UTC).isoformat(),
            "local": format_local(entry.when, config.tz),
            "source": entry.source or None,
            "summary": entry.summary,
            "permalink": entry.permalink,
        }
        for entry in entries(gather(config, clock=clock), config)
    ]
    return json.dumps(items, indent=2, ensure_ascii=False)
