"""`publisher plan --diff REV` / `--against FILE`: what a change does to the calendar.

Both plans are the pure plan `publisher plan` prints (`plan.gather`, `plan.entries`), made
at the same `now`, over the same job store, with no token needed: the working tree's, and
the one of a git revision (`gitrev.at_revision`, read-only) or a saved `plan --json`.
`compare` is pure: each draft is

    added     planned now, not before
    removed   planned before, not now (deleted, invalid, paused: the reason is given)
    moved     its time or account changed, and its own file changed
    shifted   its time changed though its file did not: the queue moved around it
    renamed   the same file under another name (git mv), with its times

Against a saved `plan --json` the files of the past are unknown, so a time that changed is
`moved` and renames are an added and a removed draft.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from publisher.clock import Clock, system_clock
from publisher.commands import gitrev, plan
from publisher.config import Config
from publisher.errors import ConfigError, Problem
from publisher.planning.slots import format_local

ORDER = ("added", "moved", "shifted", "renamed", "removed")
SUMMARY_MAX = 60


@dataclass(frozen=True)
class Side:
    """One plan to compare: the planned drafts by path, each draft file's fingerprint
    (empty when unknown) and why a draft that exists is not planned."""

    entries: dict[str, plan.Entry]
    prints: dict[str, str] = field(default_factory=dict)
    why_not: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    kind: str  # one of ORDER
    draft: str
    account: str
    type: str
    before: datetime | None
    after: datetime | None
    summary: str = ""
    note: str = ""


def side(found: plan.Gathered, config: Config) -> Side:
    """Given what `plan.gather` found, return the planned drafts (not the published ones:
    they never move), the fingerprints and the reasons drafts are left out."""
    entries = {
        entry.draft: entry
        for entry in plan.entries(found, config)
        if entry.source != "published" and entry.state != "published"
    }
    prints = {rel: item.fingerprint for rel, item in found.loaded.items()}
    why_not: dict[str, str] = {}
    for rel, item in found.loaded.items():
        if rel in entries:
            continue
        if item.errors:
            first = item.errors[0]
            where = f"{first.field}: " if first.field else ""
            why_not[rel] = f"invalid ({where}{first.message})"
        elif item.draft is not None and item.draft.paused:
            why_not[rel] = "paused"
        elif rel in found.plan.problems:
            why_not[rel] = found.plan.problems[rel]
        else:
            why_not[rel] = "not planned (published, cancelled or waiting)"
    return Side(entries, prints, why_not)


def compare(before: Side, after: Side) -> list[Change]:
    """Given two plans, return what changed from `before` to `after`, by kind (ORDER) and
    time. Drafts planned at the same time for the same account in both are left out."""
    added = [draft for draft in after.entries if draft not in before.entries]
    removed = [draft for draft in before.entries if draft not in after.entries]
    changes: list[Change] = []
    for new in list(added):
        fingerprint = after.prints.get(new)
        old = next(
            (name for name in removed if fingerprint and before.prints.get(name) == fingerprint),
            None,
        )
        if old is not None:
            added.remove(new)
            removed.remove(old)
            changes.append(
                _change("renamed", before.entries[old], after.entries[new], f"was {old}")
            )
    for name in added:
        entry = after.entries[name]
        note = f"was {before.why_not[name]}" if name in before.why_not else ""
        changes.append(_change("added", None, entry, note))
    for name in removed:
        reason = after.why_not.get(name, "deleted")
        changes.append(_change("removed", before.entries[name], None, reason))
    for name, new_entry in after.entries.items():
        old_entry = before.entries.get(name)
        if old_entry is None:
            continue
        if old_entry.when == new_entry.when and old_entry.account == new_entry.account:
            continue
        edited = not before.prints or before.prints.get(name) != after.prints.get(name)
        note = (
            f"account {old_entry.account} -> {new_entry.account}"
            if old_entry.account != new_entry.account
            else ""
        )
        changes.append(_change("moved" if edited else "shifted", old_entry, new_entry, note))
    return sorted(changes, key=_order)


def _change(kind: str, old: plan.Entry | None, new: plan.Entry | None, note: str) -> Change:
    shown = new or old
    assert shown is not None
    return Change(
        kind,
        shown.draft,
        shown.account,
        shown.type,
        old.when if old else None,
        new.when if new else None,
        shown.summary,
        note,
    )


def _order(change: Change) -> tuple[int, datetime, str]:
    when = change.after or change.before
    assert when is not None
    return ORDER.index(change.kind), when, change.draft


def counts(changes: list[Change]) -> str:
    """ "1 added, 2 shifted", or "no change"."""
    found = [(kind, sum(1 for c in changes if c.kind == kind)) for kind in ORDER]
    return ", ".join(f"{number} {kind}" for kind, number in found if number) or "no change"


def _short(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def text(changes: list[Change], config: Config, label: str, notes: list[str]) -> str:
    """The plain-text report: one line per change, times in the config's zone."""
    tz = config.tz
    lines = [f"Plan changes against {label}, times in {config.timezone}: {counts(changes)}"]
    lines.extend(f"  note: {note}" for note in notes)
    for change in changes:
        before = format_local(change.before, tz) if change.before else ""
        after = format_local(change.after, tz) if change.after else ""
        if change.kind == "added":
            when = after
        elif change.kind == "removed":
            when = f"was {before}"
        else:
            when = f"{before} -> {after}"
        details = [when]
        if change.note:
            details.append(change.note)
        if change.summary:
            details.append(json.dumps(_short(change.summary), ensure_ascii=False))
        kind = change.type or "-"
        lines.append(
            f"  {change.kind:<8} {change.draft} ({change.account}, {kind}): {'; '.join(details)}"
        )
    return "\n".join(lines)


def _cell(value: str) -> str:
    """A Markdown table cell: pipes escaped, lines joined."""
    return " ".join(value.replace("\\", "\\\\").replace("|", "\\|").split())


def _code(value: str) -> str:
    return f"`{value}`" if "`" not in value else f"`` {value} ``"


def markdown(changes: list[Change], config: Config, label: str, notes: list[str]) -> str:
    """The Markdown report for a pull-request comment: a heading with the counts, a table."""
    lines = [
        f"### publisher plan: {counts(changes)}",
        "",
        f"Against {_cell(label)}; times in {_cell(config.timezone)}.",
    ]
    lines.extend(f"> {_cell(note)}" for note in notes)
    if changes:
        lines += [
            "",
            "| change | draft | account | type | before | after | details |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
    for change in changes:
        details = "; ".join(
            part for part in (change.note, _short(change.summary) if change.summary else "") if part
        )
        cells = [
            change.kind,
            _code(_cell(change.draft)),
            _cell(change.account),
            _cell(change.type or "-"),
            format_local(change.before, config.tz) if change.before else "",
            format_local(change.after, config.tz) if change.after else "",
            _cell(details),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def from_json(path: Path) -> Side:
    """Given a file written by `publisher plan --json`, return its planned drafts. Raise
    ConfigError (exit 2) naming the file when it is not one."""
    shown = str(path)

    def bad(message: str) -> ConfigError:
        return ConfigError([Problem(shown, "", message)])

    try:
        items = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise bad("no such file; save one with `publisher plan --json > FILE`") from None
    except OSError as exc:
        raise bad(f"cannot be read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"is not JSON ({exc}); save it with `publisher plan --json > FILE`") from None
    if not isinstance(items, list):
        raise bad("is not the array `publisher plan --json` prints")
    entries: dict[str, plan.Entry] = {}
    for index, item in enumerate(items):
        try:
            draft, when = str(item["draft"]), datetime.fromisoformat(str(item["when"]))
        except (KeyError, TypeError, ValueError):
            raise bad(
                f"item {index} has no draft and ISO 8601 when; is this `publisher plan --json`?"
            ) from None
        if when.tzinfo is None:
            raise bad(f"item {index}: when {item['when']!r} has no UTC offset")
        if item.get("source") == "published" or item.get("state") == "published":
            continue
        entries[draft] = plan.Entry(
            draft,
            str(item.get("account") or "-"),
            str(item.get("type") or ""),
            str(item.get("state") or ""),
            when,
            str(item.get("source") or ""),
            str(item.get("summary") or ""),
            None,
        )
    return Side(entries)


def report(
    config: Config,
    *,
    rev: str | None = None,
    against: Path | None = None,
    as_markdown: bool = False,
    clock: Clock = system_clock,
) -> str:
    """`publisher plan --diff REV` or `--against FILE`: the working tree's plan compared
    with the revision's or the saved one, as text or Markdown. Raise ConfigError (exit 2)
    for a revision that does not exist, a folder outside git, a file that is not a plan."""
    now = clock()

    def fixed() -> datetime:
        return now

    after = side(plan.gather(config, clock=fixed, tokens=False), config)
    notes: list[str] = []
    if rev is not None:
        with gitrev.at_revision(config, rev) as (old_config, sha, notes):
            before = side(plan.gather(old_config, clock=fixed, tokens=False), old_config)
        label = f"{rev} ({sha})"
    elif against is not None:
        before, label = from_json(against), str(against)
    else:
        raise ValueError("report needs rev or against")
    render: Callable[[list[Change], Config, str, list[str]], str] = (
        markdown if as_markdown else text
    )
    return render(compare(before, after), config, label, notes)
