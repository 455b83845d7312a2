"""What happened: a state change worth telling the user, and which job transitions are one.

An `Event` is named after the state a draft enters (`failed`, `blocked`, ...), plus
`token_expiring`, which belongs to an account rather than a draft.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from publisher.job import Job, State


class Event(StrEnum):
    FAILED = "failed"
    BLOCKED = "blocked"
    UNCONFIRMED = "unconfirmed"
    MISSED = "missed"
    TOKEN_EXPIRING = "token_expiring"
    PUBLISHED = "published"
    INVALID = "invalid"


# What `notify.on` holds when the user says nothing: the events that need a human.
DEFAULT_EVENTS = (
    Event.FAILED,
    Event.BLOCKED,
    Event.UNCONFIRMED,
    Event.MISSED,
    Event.TOKEN_EXPIRING,
)

_EVENT_OF_STATE = {
    State.FAILED: Event.FAILED,
    State.BLOCKED: Event.BLOCKED,
    State.UNCONFIRMED: Event.UNCONFIRMED,
    State.MISSED: Event.MISSED,
    State.PUBLISHED: Event.PUBLISHED,
    State.INVALID: Event.INVALID,
}


@dataclass(frozen=True)
class Change:
    """One thing to tell: `draft` is relative to content_dir (None for an account's event),
    `error` the sentence a user can act on, `permalink` the post once it is live."""

    event: Event
    account: str
    at: datetime
    draft: str | None = None
    error: str | None = None
    permalink: str | None = None


def of_transition(before: Job | None, after: Job, at: datetime) -> Change | None:
    """Given a job as it was (None when it is new) and as it is now, return the Change to
    tell, or None when its state did not change or the new state is not an Event.

    `published` is told once the permalink is known: the store records the media id first
    and the permalink a moment later (README "Exactly once"), and the message should carry
    the link."""
    comment_failed = before is not None and not before.comment_error and after.comment_error
    if after.state is State.PUBLISHED and comment_failed:
        # the post is out, its first comment failed for good
        return Change(
            event=Event.FAILED,
            account=after.account,
            at=at,
            draft=after.draft,
            error=after.error or after.comment_error,
            permalink=after.permalink,
        )
    if after.state is State.PUBLISHED:
        if after.permalink is None:
            return None
        if before is not None and before.state is State.PUBLISHED and before.permalink:
            return None
    elif before is not None and before.state == after.state:
        return None
    event = _EVENT_OF_STATE.get(after.state)
    if event is None:
        return None
    return Change(
        event=event,
        account=after.account,
        at=at,
        draft=after.draft,
        error=after.error,
        permalink=after.permalink,
    )


def token_expiring(account: str, expires_at: datetime, reason: str, at: datetime) -> Change:
    """The Change for an account whose token runs out soon and cannot be refreshed: `reason`
    says why refreshing does not work (or why it is not possible for this account)."""
    left = expires_at - at
    if left <= timedelta(0):
        when = "has expired"
    elif left.days == 0:
        when = "expires within a day"
    else:
        when = f"expires in {left.days} day{'s' if left.days != 1 else ''}"
    return Change(
        event=Event.TOKEN_EXPIRING,
        account=account,
        at=at,
        error=f"its access token {when} ({expires_at:%Y-%m-%d}); {reason}",
    )
