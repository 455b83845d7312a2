"""`publisher status`: one row per job, as a table or as JSON, once or every 2 s (SPEC §2)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, TextIO

from publisher.clock import Sleep, system_sleep
from publisher.config import Config
from publisher.errors import printable
from publisher.job import Job, State
from publisher.store import jobstore

COLUMNS = ("draft", "account", "type", "state", "scheduled_for", "attempts", "result")
WATCH_EVERY = 2.0


def show(
    config: Config,
    out: TextIO,
    *,
    json_array: bool,
    watch: bool,
    states: frozenset[State] | None = None,
    accounts: frozenset[str] | None = None,
    sleep: Sleep = system_sleep,
) -> None:
    """Print the jobs as the daemon left them (read without the lock, so it works while the
    daemon runs): a table, or with `json_array` a JSON array; only those in `states` and of
    `accounts` when given. With `watch`, clear the screen and print them again every
    WATCH_EVERY seconds until Ctrl-C, which is how it is meant to end (returns normally)."""
    try:
        while True:
            jobs = [
                job
                for job in jobstore.read_jobs(config.state_dir)
                if (states is None or job.state in states)
                and (accounts is None or job.account in accounts)
            ]
            if json_array:
                print(as_json(jobs), file=out)
            else:
                if watch:
                    print("\x1b[2J\x1b[H", end="", file=out)
                print(table(jobs, config.tz), file=out)
            if not watch:
                return
            out.flush()
            sleep(WATCH_EVERY)
    except KeyboardInterrupt:
        return


def _local(value: datetime | None, tz: tzinfo) -> str:
    if value is None:
        return "-"
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def rows(jobs: Sequence[Job], tz: tzinfo) -> list[dict[str, str]]:
    """Given jobs, return display rows (strings), sorted by time then draft."""

    def order(job: Job) -> tuple[int, str, str]:
        when = job.scheduled_for.isoformat() if job.scheduled_for else ""
        return (0 if when else 1, when, job.draft)

    out = []
    for job in sorted(jobs, key=order):
        result = job.permalink or job.error or ""
        out.append(
            {
                "draft": job.draft,
                "account": job.account or "-",
                "type": job.type or "-",
                "state": job.state.value,
                "scheduled_for": _local(job.scheduled_for, tz),
                "attempts": str(job.attempts),
                "result": result.replace("\n", " "),
            }
        )
    return out


def table(jobs: Sequence[Job], tz: tzinfo, width: int = 160) -> str:
    """Given jobs, return an aligned text table (the result column is cut to fit `width`)."""
    if not jobs:
        return "no jobs yet (drafts appear here once the daemon or `publisher publish` saw them)"
    data = rows(jobs, tz)
    widths = {c: max(len(c), *(len(r[c]) for r in data)) for c in COLUMNS[:-1]}
    used = sum(widths.values()) + 2 * (len(COLUMNS) - 1)
    room = max(20, width - used)
    lines = ["  ".join(c.ljust(widths.get(c, 0)) for c in COLUMNS).rstrip()]
    for row in data:
        result = row["result"]
        if len(result) > room:
            result = result[: room - 1] + "…"
        cells = [row[c].ljust(widths[c]) for c in COLUMNS[:-1]] + [result]
        lines.append("  ".join(cells).rstrip())
    return printable("\n".join(lines))  # a draft's name may hold ESC: shown, not obeyed


def as_json(jobs: Sequence[Job]) -> str:
    """Given jobs, return the `status --json` array: exactly the SPEC §2 keys (draft relative
    to content_dir, account, type, state, scheduled_for, attempts, permalink, error) plus
    media_id and api_calls. Scripts compare the key set, so add none here."""
    items: list[dict[str, Any]] = []
    for job in sorted(jobs, key=lambda j: j.draft):
        items.append(
            {
                "draft": job.draft,
                "account": job.account,
                "type": job.type,
                "state": job.state.value,
                "scheduled_for": job.scheduled_for.isoformat() if job.scheduled_for else None,
                "attempts": job.attempts,
                "permalink": job.permalink,
                "error": job.error,
                "media_id": job.media_id,
                "api_calls": [call.model_dump(mode="json") for call in job.api_calls],
            }
        )
    return json.dumps(items, indent=2, ensure_ascii=False)
