"""A job: what publisher knows about publishing one draft. Stored by `jobstore`.

The job store is the single source of truth; the draft's `status:` block is a projection of
the SPEC §5 fields (`Job.status_block()`), and APScheduler is only an alarm clock.

States (SPEC §5):
    invalid → scheduled → publishing → published
    publishing → retrying → publishing ...      (waiting for the next attempt)
    publishing → failed | unconfirmed           (unconfirmed: PUBLISHED but the post not found)
    paused, cancelled, missed, locked, blocked  (blocked: the account has no valid token)

Exactly-once fields: `containers` (recorded right after each container is created),
`publish_requested_at` (recorded durably *before* media_publish is sent) and `media_id`
(recorded before the permalink is read). A job with `publish_requested_at` set and no
`media_id` must be reconciled through the container status, never published blindly.

The first comment, likewise: `first_comment` (the text, kept from the draft when the job is
claimed), `comment_requested_at` (durable *before* each comment POST), `comment_id` (once
Meta answered). A job with `comment_requested_at` and no `comment_id` lists the post's
comments before any other POST. `comment_error` is set when the comment failed for good:
the post stays published.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeGuard

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class State(StrEnum):
    INVALID = "invalid"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    RETRYING = "retrying"
    PUBLISHED = "published"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    MISSED = "missed"
    LOCKED = "locked"
    BLOCKED = "blocked"


# The sets of states the rest of the code asks about, each named for what it means. Every
# question "is this job ...?" is answered here, so a new state is placed once.

# Never published again, whatever happens to the draft.
FINAL = frozenset({State.PUBLISHED, State.UNCONFIRMED})
# Waiting for a time: the daemon's alarm clock watches these, and their containers are
# prepared ahead.
WAITING = frozenset({State.SCHEDULED, State.RETRYING})
# In the queue: waiting for a time or being published. They hold their place (their drafts
# are planned, the planner never moves them once due), and the publish flow may claim them:
# a `publishing` job that no worker of this process holds was left by a dead process.
QUEUED = WAITING | {State.PUBLISHING}
# Given up without a post (attempts spent, time missed): an edit of the draft or
# `publisher retry` puts them back in the queue, to go out at once.
GAVE_UP = frozenset({State.FAILED, State.MISSED})
# Finished: eligible for the archive after `archive_after`.
DONE = FINAL | GAVE_UP | {State.CANCELLED}
# `publisher retry` puts these back in the queue, with fresh attempts.
RETRYABLE = GAVE_UP | {State.CANCELLED, State.BLOCKED}
# `publisher cancel` (or deleting the draft) stops these: nothing is being sent for them.
CANCELLABLE = WAITING | {State.PAUSED, State.BLOCKED, State.INVALID, State.LOCKED}
# Still holding a time, though the plan may not name them (`publisher plan` shows them).
HOLDING_A_TIME = QUEUED | {State.BLOCKED, State.PAUSED}


def is_final(state: object) -> TypeGuard[str]:
    """Given a state, or the `state:` a draft's status block shows (any YAML value), return
    True if it is FINAL: that draft is never published again."""
    return isinstance(state, str) and state in FINAL


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Container(_Record):
    """One container created for the job. `role`: single | child | parent."""

    id: str
    role: str
    item: int | None = None  # index in the draft's media for children
    created_at: AwareDatetime
    status_code: str | None = None  # last seen: IN_PROGRESS, FINISHED, ERROR, EXPIRED, PUBLISHED
    attempt: int = 0
    fingerprint: str = ""  # the draft version it was made from: an edited draft needs new ones


class ApiCall(_Record):
    """One HTTP call made for the job. Never holds the token or a full URL with a query."""

    at: AwareDatetime
    method: str
    endpoint: str  # path only, e.g. /v25.0/1784.../media_publish
    status: int | None  # HTTP status, None if no response
    duration_ms: float
    step: str = ""
    error: str | None = None  # "code/subcode" or the transport error's class name
    usage: dict[str, Any] | None = None  # X-App-Usage / X-Business-Use-Case-Usage, parsed


class Doubt(_Record):
    """Why a media_publish is in doubt, recorded with the decision to reconcile it: `kind`
    is "answered" (Meta answered, with an error that does not prove a refusal: the request
    is over) or "no_answer" (a timeout, a dropped connection: Meta may still be at it);
    `at` when it was recorded, `reason` the error in words (no token), `checks` how many
    times the container could not be read since."""

    kind: str
    at: AwareDatetime
    reason: str = ""
    checks: int = 0


class Event(_Record):
    at: AwareDatetime
    state: str
    note: str = ""


class Job(BaseModel):
    """One document in jobs.json. Datetimes are aware (UTC in the store)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    draft: str  # path relative to content_dir, POSIX separators
    fingerprint: str = ""  # sha256 of the draft bytes without its status block
    account: str = ""
    type: str = ""
    state: State = State.SCHEDULED
    scheduled_for: AwareDatetime | None = None
    attempts: int = 0
    media_id: str | None = None
    permalink: str | None = None
    published_at: AwareDatetime | None = None
    error: str | None = None
    updated_at: AwareDatetime | None = None
    created_at: AwareDatetime | None = None
    caption_hash: str | None = None
    next_attempt_at: AwareDatetime | None = None
    publish_requested_at: AwareDatetime | None = None
    publish_doubt: Doubt | None = None  # why a publish_requested_at without media_id is in doubt
    first_comment: str | None = None
    comment_requested_at: AwareDatetime | None = None
    comment_id: str | None = None
    comment_error: str | None = None
    # The post's metrics as last read (`publishing.insights`): read_at, after (24h | 7d), and
    # the numbers Meta gave; None until the first read.
    insights: dict[str, Any] | None = None
    containers: tuple[Container, ...] = ()
    history: tuple[Event, ...] = ()
    api_calls: tuple[ApiCall, ...] = ()
    # ids of the last retry/cancel requests applied to it: the daemon applies each once
    requests: tuple[str, ...] = ()

    def status_block(self, tz: Any = None) -> dict[str, Any]:
        """The SPEC §5 `status:` fields (and §8's `comment_id`, null until the first comment
        is made), times in `tz` (a tzinfo) when given."""

        def show(value: datetime | None) -> str | None:
            if value is None:
                return None
            return (value.astimezone(tz) if tz is not None else value).isoformat(timespec="seconds")

        return {
            "state": self.state.value,
            "scheduled_for": show(self.scheduled_for),
            "attempts": self.attempts,
            "media_id": self.media_id,
            "permalink": self.permalink,
            "comment_id": self.comment_id,
            "published_at": show(self.published_at),
            "error": self.error,
            "updated_at": show(self.updated_at),
        } | ({"insights": dict(self.insights)} if self.insights is not None else {})

    @property
    def comment_pending(self) -> bool:
        """True when the job has a first comment that is neither made nor given up."""
        return bool(self.first_comment) and self.comment_id is None and not self.comment_error

    @property
    def unfinished(self) -> bool:
        """True for a published job whose bookkeeping may have been cut short (by a crash):
        its permalink not read, or its first comment pending."""
        return self.state is State.PUBLISHED and (self.permalink is None or self.comment_pending)

    def parent_container(self) -> Container | None:
        """The container that media_publish takes (single or carousel parent), newest first."""
        for container in reversed(self.containers):
            if container.role in {"single", "parent"}:
                return container
        return None

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Job:
        return cls.model_validate(document)
