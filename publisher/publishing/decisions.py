"""The publish flow's decisions: pure functions of a job, the config's figures and `now`.

    poll_delays       the waits between container status checks
    live_containers   which recorded containers are still worth publishing
    retry_delay       the backoff before the next attempt
    after_failure     the job's next state after an attempt failed
    quota_retry_at    when to look at a used-up publishing quota again
    throttle_retry_at when to try again after Meta throttled the account
    settle_time       how long a media_publish left without an answer may still change its mind
    settle_at         when a doubtful media_publish can be checked (by the kind of doubt)
    doubt_kind        what kind of doubt an error leaves (an answer, or none)
    check_again_at    when to look at a container that could not be read
    matching_media    which of the account's posts could be the job's (reconciliation)
    own_comment       which of a post's comments is the job's first comment

`containers`, `flow` and `reconcile` call them; nothing here reads a clock or the network.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from publisher.drafts import captions
from publisher.errors import ApiError, AuthFailed, Permanent
from publisher.instagram import client as graph
from publisher.instagram import session
from publisher.job import Container, Doubt, Job, State

# Container statuses after which a container can never be published.
DEAD = frozenset({"ERROR", "EXPIRED", "PUBLISHED"})
# Containers expire 24 h after creation; one older than this is not worth reusing.
CONTAINER_REUSE_AGE = timedelta(hours=23)
MAX_POLL_DELAY = 30.0  # during the first minute of polling
FIRST_MINUTE = 60.0
POLL_EVERY_MINUTE = 60.0  # after it
# Reconciliation: accept a post timestamp this much before our clock said we asked (our
# clock and Meta's disagree a little).
CLOCK_SKEW = timedelta(minutes=1)
# Waiting for a quota window: look again at least this often, but not more than this often.
QUOTA_RECHECK_MAX = timedelta(hours=1)
QUOTA_RECHECK_MIN = timedelta(minutes=5)
# Throttled: never back sooner than this (Meta: calls made while throttled extend the block).
THROTTLE_WAIT_MIN = timedelta(minutes=1)
# The kinds of doubt about a media_publish (`job.Doubt.kind`).
ANSWERED = "answered"  # Meta answered (a 5xx, a body that is no answer): the request is over
NO_ANSWER = "no_answer"  # a timeout, a dropped connection: Meta may still be working on it
# After an answer, the post (if any) is in Meta's records within moments: a few seconds.
ANSWERED_SETTLE = timedelta(seconds=5)
# A container that could not be read is looked at again at least this often.
CHECK_AGAIN_MAX = timedelta(hours=1)


def poll_delays(poll_interval: float) -> Iterator[float]:
    """Given the configured poll interval (seconds), yield the waits before each status
    check: about a second first (images are usually ready by then), then the interval,
    growing by half each time up to 30 s; once the first minute has gone by, a minute
    (Meta: "querying a container's status once per minute" [CP]; videos take minutes)."""
    cap = min(max(poll_interval, 0.0), MAX_POLL_DELAY)
    delay = min(1.0, cap)
    waited = 0.0
    yield delay
    waited += delay
    delay = cap
    while True:
        if waited >= FIRST_MINUTE:
            delay = POLL_EVERY_MINUTE
        yield delay
        waited += delay
        if delay < POLL_EVERY_MINUTE:
            delay = min(delay * 1.5, MAX_POLL_DELAY)


def live_containers(
    job: Job, fingerprint: str, now: datetime
) -> dict[tuple[str, int | None], Container]:
    """Given a job, the draft's fingerprint and now, return the containers still worth
    using, by (role, item): made from this version of the draft, not dead, not near expiry.
    Children made before the newest dead parent belong to it and are not reused."""
    dead_top = -1
    for index, container in enumerate(job.containers):
        if container.role in {"single", "parent"} and container.status_code in DEAD:
            dead_top = index
    live: dict[tuple[str, int | None], Container] = {}
    for index, container in enumerate(job.containers):
        if (
            container.fingerprint != fingerprint
            or container.status_code in DEAD
            or now - container.created_at > CONTAINER_REUSE_AGE
            or (container.role == "child" and index < dead_top)
        ):
            continue
        key = (container.role, container.item if container.role == "child" else None)
        live[key] = container  # later wins: the newest of a kind
    return live


def retry_delay(backoff: timedelta, attempts: int, retry_after: float | None) -> timedelta:
    """The wait before the next attempt: `backoff` doubled for each attempt made so far
    (after the first: backoff, 2×backoff, 4×...), at least what Meta asked for."""
    wait: timedelta = backoff * 2 ** max(attempts - 1, 0)
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=retry_after))
    return wait


def quota_retry_at(now: datetime, published: Sequence[datetime], duration: timedelta) -> datetime:
    """When to look at a used-up quota again: when our oldest post in the window leaves it,
    but within the hour (other apps' posts count too, and they are invisible to us) and
    not sooner than five minutes."""
    in_window = [moment for moment in published if now - duration < moment <= now]
    candidate = min(in_window) + duration if in_window else now + QUOTA_RECHECK_MAX
    return min(max(candidate, now + QUOTA_RECHECK_MIN), now + QUOTA_RECHECK_MAX)


def throttle_retry_at(now: datetime, retry_after: float | None) -> datetime:
    """When to try again after a rate-limit answer: when Meta said access is back
    (Retry-After, estimated_time_to_regain_access), at least THROTTLE_WAIT_MIN from now."""
    wait = timedelta(seconds=retry_after or 0.0)
    return now + max(wait, THROTTLE_WAIT_MIN)


def after_failure(
    exc: ApiError, *, attempts: int, max_attempts: int, backoff: timedelta, now: datetime
) -> tuple[State, datetime | None]:
    """Given an error that ended an attempt (not Ambiguous, not quota), the attempts made and
    the config, return the job's next state and when to try again."""
    if isinstance(exc, AuthFailed):
        return State.BLOCKED, None
    if isinstance(exc, Permanent) or attempts >= max_attempts:
        return State.FAILED, None
    return State.RETRYING, now + retry_delay(backoff, attempts, exc.retry_after)


def settle_time(read_timeout: float | None) -> timedelta:
    """Given the HTTP read timeout (seconds; None: the Graph API client's default), return
    how long after a media_publish request left without an answer its outcome can still
    change: twice the read timeout (a request sent just before a crash may still be
    processed)."""
    read = read_timeout if read_timeout is not None else session.timeouts().read
    return timedelta(seconds=2 * (read if read is not None else 30.0))


def doubt_kind(exc: ApiError) -> str:
    """Given the error a media_publish ended with, return the kind of doubt it leaves:
    ANSWERED when an HTTP answer came back (whatever its status), NO_ANSWER when none did
    (a timeout, a dropped connection)."""
    return ANSWERED if exc.http_status is not None else NO_ANSWER


def settle_at(requested: datetime, doubt: Doubt | None, read_timeout: float | None) -> datetime:
    """Given when media_publish was requested, the doubt recorded about it (None: unknown,
    say the process died while waiting for the answer) and the HTTP read timeout, return
    when its outcome can be trusted: ANSWERED_SETTLE after an answer (the request is over),
    else `settle_time` after the request (a request still in flight may yet be processed).
    A doubt older than the request is about an earlier one and does not count."""
    if doubt is not None and doubt.kind == ANSWERED and doubt.at >= requested:
        return doubt.at + ANSWERED_SETTLE
    return requested + settle_time(read_timeout)


def check_again_at(
    now: datetime, backoff: timedelta, checks: int, retry_after: float | None
) -> datetime:
    """When to read again a container that could not be read `checks` times in a row: the
    attempts' backoff (at least what Meta asked for), at most CHECK_AGAIN_MAX away."""
    return now + min(retry_delay(backoff, checks, retry_after), CHECK_AGAIN_MAX)


def matching_media(
    items: Sequence[Mapping[str, Any]], caption_hash: str | None, requested_at: datetime
) -> list[Mapping[str, Any]]:
    """Given the account's recent media, the job's caption hash and when publishing was
    requested, return the posts that could be ours: the same caption as Meta reads it back
    (`captions.matches`: without "@", NFC, stripped) and a timestamp no earlier than the
    request (less the clock skew allowance)."""
    earliest = requested_at - CLOCK_SKEW
    found = []
    for item in items:
        taken = graph.parse_timestamp(item.get("timestamp"))
        if taken is None or taken < earliest:
            continue
        caption = item.get("caption")
        text = caption if isinstance(caption, str) else ""
        if caption_hash is not None and not captions.matches(text, caption_hash):
            continue
        found.append(item)
    return found


def own_comment(
    items: Sequence[Mapping[str, Any]], username: str | None, text: str, requested_at: datetime
) -> Mapping[str, Any] | None:
    """Given a post's comments (id, text, username, timestamp), the account's username, the
    first comment's text and when it was first asked for, return the account's own comment
    with that text made since then (less the clock skew allowance), the oldest if several;
    None when there is none. Texts compare like captions (`captions.comparable`). Without a
    username nothing is the account's (never a guess)."""
    if not username:
        return None
    earliest = requested_at - CLOCK_SKEW
    wanted = captions.comparable(text)
    found = []
    for item in items:
        made = graph.parse_timestamp(item.get("timestamp"))
        body = item.get("text")
        if (
            made is not None
            and made >= earliest
            and item.get("username") == username
            and isinstance(body, str)
            and captions.comparable(body) == wanted
        ):
            found.append((made, item))
    return min(found, key=lambda pair: pair[0])[1] if found else None
