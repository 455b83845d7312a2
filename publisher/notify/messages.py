"""From a batch of changes to the messages that tell them: pure, no I/O.

One message per change, except that changes of one account and one event arriving together
are grouped into one message listing their drafts (200 drafts blocked at once → one message,
its list cut after MAX_LISTED with "and N more"). Every title and body goes through
`logs.redact`, so a token that slipped into an error sentence never leaves the machine.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo

from publisher import logs
from publisher.notify.change import Change, Event

MAX_LISTED = 20  # drafts named in a grouped message; the rest are counted
MAX_LINE = 200  # characters of one draft's error or link in a grouped message

# What a user can do next, per event (SPEC §2 commands); DRAFT is replaced by the draft.
_NEXT = {
    Event.FAILED: "To try again: publisher retry DRAFT",
    Event.MISSED: "To publish it after all: publisher retry DRAFT",
    Event.BLOCKED: (
        "Give the account a valid access token (publisher accounts says why it was refused); "
        "its drafts move on by themselves."
    ),
    Event.UNCONFIRMED: (
        "It is never published again: look at the account's profile, and see the draft's "
        "status for how to check."
    ),
    Event.INVALID: "Fix the draft: it is read again when the file changes.",
    Event.TOKEN_EXPIRING: (
        "Renew the access token, or see why refreshing fails with: publisher accounts"
    ),
}


@dataclass(frozen=True)
class Message:
    event: Event
    account: str
    title: str
    body: str


def build(changes: Iterable[Change], tz: tzinfo = UTC) -> list[Message]:
    """Given changes in the order they happened, return the messages that tell them (times
    shown in `tz`): one per (account, event), in the order each pair first appears. A draft
    that changed twice within one pair is told once, as it is last."""
    groups: dict[tuple[str, Event], dict[str, Change]] = {}
    for change in changes:
        groups.setdefault((change.account, change.event), {})[change.draft or ""] = change
    messages = []
    for (account, event), by_draft in groups.items():
        members = list(by_draft.values())
        if len(members) == 1:
            title, body = _single(members[0], tz)
        else:
            title, body = _grouped(account, event, members, tz)
        messages.append(Message(event, account, logs.redact(title), logs.redact(body)))
    return messages


def _single(change: Change, tz: tzinfo) -> tuple[str, str]:
    if change.draft is None:
        title = f"{_headline(change.event)}: account {change.account}"
        lines = [f"Account {change.account}: {change.error or _headline(change.event)}."]
    else:
        title = f"{change.event.value}: {change.draft} ({change.account})"
        lines = [f"Draft {change.draft} of account {change.account} is now {change.event.value}."]
        if change.error:
            lines.append(f"Error: {change.error}")
    if change.permalink:
        lines.append(f"Permalink: {change.permalink}")
    lines.append(f"When: {_time(change, tz)}")
    lines.extend(_next(change.event, change.draft))
    return title, "\n".join(lines)


def _grouped(account: str, event: Event, changes: Sequence[Change], tz: tzinfo) -> tuple[str, str]:
    ordered = sorted(changes, key=lambda change: change.draft or "")
    count = len(ordered)
    title = f"{event.value}: {count} drafts ({account})"
    lines = [f"{count} drafts of account {account} are now {event.value}."]
    errors = {change.error for change in ordered}
    shared_error = errors.pop() if len(errors) == 1 else None
    if shared_error:
        lines.append(f"Error (all of them): {shared_error}")
    for change in ordered[:MAX_LISTED]:
        detail = change.permalink or ("" if shared_error else change.error) or ""
        lines.append(f"- {change.draft}" + (f": {_shorten(detail)}" if detail else ""))
    if count > MAX_LISTED:
        lines.append(f"and {count - MAX_LISTED} more")
    latest = max(ordered, key=lambda change: change.at)
    lines.append(f"When: {_time(latest, tz)}")
    lines.extend(_next(event, None))
    return title, "\n".join(lines)


def _headline(event: Event) -> str:
    return event.value.replace("_", " ")


def _time(change: Change, tz: tzinfo) -> str:
    return change.at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _next(event: Event, draft: str | None) -> list[str]:
    hint = _NEXT.get(event)
    if hint is None:
        return []
    return [hint.replace("DRAFT", shlex.quote(draft) if draft else "DRAFT")]


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_LINE else flat[: MAX_LINE - 1].rstrip() + "…"
