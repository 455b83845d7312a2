"""change.of_transition: which job transitions are told; change.token_expiring's sentence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from publisher.job import Job, State
from publisher.notify import change as changes
from publisher.notify.change import Change, Event

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _job(state: State, **fields: str) -> Job:
    return Job(draft="posts/beach.yaml", account="main", state=state, **fields)


@pytest.mark.parametrize(
    ("before", "after", "event"),
    [
        (State.PUBLISHING, State.FAILED, Event.FAILED),
        (State.SCHEDULED, State.BLOCKED, Event.BLOCKED),
        (State.PUBLISHING, State.UNCONFIRMED, Event.UNCONFIRMED),
        (State.SCHEDULED, State.MISSED, Event.MISSED),
        (State.PUBLISHING, State.PUBLISHED, Event.PUBLISHED),
        (State.SCHEDULED, State.INVALID, Event.INVALID),
        (None, State.INVALID, Event.INVALID),
        (None, State.BLOCKED, Event.BLOCKED),
        # not worth telling: the same state again, or a state no event names
        (State.FAILED, State.FAILED, None),
        (State.BLOCKED, State.BLOCKED, None),
        (State.SCHEDULED, State.PUBLISHING, None),
        (State.PUBLISHING, State.RETRYING, None),
        (State.SCHEDULED, State.PAUSED, None),
        (State.SCHEDULED, State.CANCELLED, None),
        (State.SCHEDULED, State.LOCKED, None),
        (None, State.SCHEDULED, None),
    ],
)
def test_of_transition(before: State | None, after: State, event: Event | None) -> None:
    old = _job(before) if before is not None else None
    new = _job(after, error="why", permalink="https://www.instagram.com/p/x/")
    found = changes.of_transition(old, new, at=AT)
    if event is None:
        assert found is None
    else:
        assert found == Change(
            event=event,
            account="main",
            at=AT,
            draft="posts/beach.yaml",
            error="why",
            permalink="https://www.instagram.com/p/x/",
        )


@pytest.mark.parametrize(
    ("left", "said"),
    [
        (timedelta(days=6, hours=23), "expires in 6 days (2026-12-08)"),
        (timedelta(days=1, hours=2), "expires in 1 day (2026-12-02)"),
        (timedelta(hours=5), "expires within a day (2026-12-01)"),
        (timedelta(0), "has expired (2026-12-01)"),
        (timedelta(hours=-9), "has expired (2026-11-30)"),
    ],
)
def test_token_expiring(left: timedelta, said: str) -> None:
    change = changes.token_expiring("main", AT + left, "the refresh was refused.", at=AT)
    assert (change.event, change.account, change.draft, change.at) == (
        Event.TOKEN_EXPIRING,
        "main",
        None,
        AT,
    )
    assert change.error == f"its access token {said}; the refresh was refused."


def test_the_default_events_are_the_ones_that_need_a_human() -> None:
    assert set(changes.DEFAULT_EVENTS) == set(Event) - {Event.PUBLISHED, Event.INVALID}


def test_published_is_told_once_its_permalink_is_known() -> None:
    # The store records the media id (state published) a moment before the permalink.
    publishing = _job(State.PUBLISHING)
    without_link = _job(State.PUBLISHED)
    with_link = _job(State.PUBLISHED, permalink="https://www.instagram.com/p/x/")
    assert changes.of_transition(publishing, without_link, at=AT) is None
    told = changes.of_transition(without_link, with_link, at=AT)
    assert told is not None and told.permalink == "https://www.instagram.com/p/x/"
    assert changes.of_transition(with_link, with_link, at=AT) is None  # a later save: once


def test_a_first_comment_that_failed_for_good_is_told_as_failed() -> None:
    link = "https://www.instagram.com/p/x/"
    published = _job(State.PUBLISHED, permalink=link)
    comment_failed = _job(
        State.PUBLISHED,
        permalink=link,
        comment_error="Meta refused the comment",
        error="published; the first comment failed: Meta refused the comment",
    )
    told = changes.of_transition(published, comment_failed, at=AT)
    assert told is not None and told.event is Event.FAILED
    assert told.permalink == link and told.error is not None and "first comment" in told.error
    assert changes.of_transition(comment_failed, comment_failed, at=AT) is None  # once
