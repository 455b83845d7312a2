"""The publish flow's pure decisions, table by table: poll waits, retry waits, the state
after a failure, which posts could be ours, which containers are still worth publishing,
when to look at a used-up quota again, and how long a publish request may still change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest

from publisher import drafts
from publisher.drafts import captions
from publisher.errors import (
    Ambiguous,
    ApiError,
    AuthFailed,
    Permanent,
    RateLimited,
    RebuildContainer,
    Transient,
)
from publisher.job import Container, Doubt, Job, State
from publisher.publishing import decisions

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
FP = "f" * 64


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        # after the first minute (63.3 s here), once a minute as Meta advises
        (3.0, [1.0, 3.0, 4.5, 6.75, 10.125, 15.1875, 22.78125, 60.0, 60.0]),
        (60.0, [1.0, 30.0, 30.0, 60.0, 60.0]),
        (20.0, [1.0, 20.0, 30.0, 30.0, 60.0]),
        (0.5, [0.5, 0.5, 0.75, 1.125]),
        (0.0, [0.0, 0.0, 0.0]),
    ],
)
def test_poll_delays_start_at_a_second_grow_to_30s_then_once_a_minute(
    interval: float, expected: list[float]
) -> None:
    assert list(islice(decisions.poll_delays(interval), len(expected))) == expected


@pytest.mark.parametrize("interval", [0.2, 1.0, 3.0, 10.0, 30.0, 600.0])
def test_after_the_first_minute_polls_are_a_minute_apart(interval: float) -> None:
    waited = 0.0
    for delay in islice(decisions.poll_delays(interval), 50):
        assert delay <= 60.0
        if waited >= 60.0:
            assert delay == 60.0
        waited += delay


@pytest.mark.parametrize(
    ("retry_after", "wait"), [(None, 60), (0.0, 60), (7.0, 60), (600.0, 600), (3600.0, 3600)]
)
def test_a_throttled_job_waits_for_meta_at_least_a_minute(
    retry_after: float | None, wait: int
) -> None:
    assert decisions.throttle_retry_at(T0, retry_after) == T0 + timedelta(seconds=wait)


@pytest.mark.parametrize(
    ("attempts", "retry_after", "expected"),
    [(1, None, 5), (2, None, 10), (3, None, 20), (1, 600.0, 600), (3, 7.0, 20)],
)
def test_retry_delay_doubles_and_honours_retry_after(
    attempts: int, retry_after: float | None, expected: int
) -> None:
    wait = decisions.retry_delay(timedelta(seconds=5), attempts, retry_after)
    assert wait == timedelta(seconds=expected)


@pytest.mark.parametrize(
    ("error", "attempts", "state", "wait"),
    [
        (Transient("x"), 1, State.RETRYING, 5),
        (Transient("x"), 2, State.RETRYING, 10),
        (Transient("x"), 3, State.FAILED, None),
        (RebuildContainer("x"), 1, State.RETRYING, 5),
        (RateLimited("x", retry_after=900.0), 1, State.RETRYING, 900),
        (Ambiguous("x"), 3, State.FAILED, None),
        (Permanent("x"), 1, State.FAILED, None),
        (AuthFailed("x"), 1, State.BLOCKED, None),
    ],
)
def test_after_failure(error: ApiError, attempts: int, state: State, wait: int | None) -> None:
    got_state, when = decisions.after_failure(
        error, attempts=attempts, max_attempts=3, backoff=timedelta(seconds=5), now=T0
    )
    assert got_state is state
    assert when == (T0 + timedelta(seconds=wait) if wait is not None else None)


def _item(media_id: str, caption: str | None, at: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {"id": media_id, "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S+0000")}
    if caption is not None:
        item["caption"] = caption
    return item


HASH = drafts.caption_hash("Hello #world")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([_item("1", "Hello #world", T0 + timedelta(seconds=2))], ["1"]),
        ([_item("1", "  Hello #world\n", T0)], ["1"]),  # stripped like the draft's
        ([_item("1", "Hello #world", T0 - timedelta(seconds=30))], ["1"]),  # clock skew
        ([_item("1", "Hello #world", T0 - timedelta(minutes=5))], []),  # older post
        ([_item("1", "Other", T0 + timedelta(seconds=2))], []),
        (
            [
                _item("1", "Hello #world", T0 + timedelta(seconds=2)),
                _item("2", "Hello #world", T0 + timedelta(seconds=9)),
            ],
            ["1", "2"],
        ),
        ([{"id": "1", "caption": "Hello #world"}], []),  # no timestamp: never a guess
    ],
)
def test_matching_media(items: list[dict[str, Any]], expected: list[str]) -> None:
    found = decisions.matching_media(items, HASH, T0)
    assert [item["id"] for item in found] == expected


def test_matching_a_caption_read_back_without_the_at_of_its_mentions() -> None:
    # Meta leaves the "@" out unless the app user is an admin of the app (IG Media, caption).
    kept = captions.fingerprint("Thanks @jane for the light #sunrise")
    items = [
        _item("1", "Thanks jane for the light #sunrise", T0 + timedelta(seconds=2)),
        _item("2", "Thanks joe for the light #sunrise", T0 + timedelta(seconds=3)),
    ]
    assert [item["id"] for item in decisions.matching_media(items, kept, T0)] == ["1"]


def test_matching_a_story_without_caption() -> None:
    items = [_item("9", None, T0 + timedelta(seconds=1))]
    assert decisions.matching_media(items, drafts.caption_hash(""), T0) == items


def _container(cid: str, role: str, *, item: int | None = None, **extra: Any) -> Container:
    values: dict[str, Any] = {"created_at": T0, "fingerprint": FP, **extra}
    return Container(id=cid, role=role, item=item, **values)


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([_container("1", "single")], {("single", None): "1"}),
        ([_container("1", "single", status_code="EXPIRED")], {}),
        ([_container("1", "single", status_code="PUBLISHED")], {}),
        ([_container("1", "single", fingerprint="old")], {}),  # the draft was edited
        ([_container("1", "single", created_at=T0 - timedelta(hours=23, minutes=1))], {}),
        (
            [_container("1", "single", status_code="IN_PROGRESS"), _container("2", "single")],
            {("single", None): "2"},
        ),
        (
            [
                _container("1", "child", item=0),
                _container("2", "child", item=1, status_code="ERROR"),
                _container("3", "child", item=1),
            ],
            {("child", 0): "1", ("child", 1): "3"},
        ),
        (  # children of a dead parent are not reused
            [
                _container("1", "child", item=0),
                _container("2", "parent", status_code="EXPIRED"),
                _container("3", "child", item=0),
            ],
            {("child", 0): "3"},
        ),
    ],
)
def test_live_containers(containers: list[Container], expected: dict[Any, str]) -> None:
    job = Job(draft="d.yaml", containers=tuple(containers))
    live = decisions.live_containers(job, FP, T0)
    assert {key: container.id for key, container in live.items()} == expected


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ([], T0 + timedelta(hours=1)),
        ([T0 - timedelta(hours=23, minutes=50)], T0 + timedelta(minutes=10)),
        ([T0 - timedelta(hours=23, minutes=59)], T0 + timedelta(minutes=5)),
        ([T0 - timedelta(hours=2)], T0 + timedelta(hours=1)),
        ([T0 - timedelta(hours=25)], T0 + timedelta(hours=1)),  # out of the window
    ],
)
def test_quota_retry_at(published: list[datetime], expected: datetime) -> None:
    assert decisions.quota_retry_at(T0, published, timedelta(hours=24)) == expected


@pytest.mark.parametrize(
    ("read_timeout", "expected"),
    [(30.0, 60), (5.0, 10), (0.0, 0), (None, 60)],  # None: the client's default, 30 s
)
def test_settle_time_is_twice_the_read_timeout(read_timeout: float | None, expected: int) -> None:
    assert decisions.settle_time(read_timeout) == timedelta(seconds=expected)


REQUESTED = T0 + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("doubt", "expected"),
    [
        # Meta answered (a 5xx): the request is over, a few seconds after the answer
        (Doubt(kind="answered", at=REQUESTED + timedelta(seconds=2)), timedelta(seconds=7)),
        # no answer (timeout, dropped connection): 2 x the read timeout after the request
        (Doubt(kind="no_answer", at=REQUESTED + timedelta(seconds=30)), timedelta(seconds=60)),
        # unknown (the process died waiting for the answer): the long wait too
        (None, timedelta(seconds=60)),
        # an answer about an earlier request says nothing of this one
        (Doubt(kind="answered", at=REQUESTED - timedelta(seconds=1)), timedelta(seconds=60)),
    ],
)
def test_settle_at_depends_on_the_kind_of_doubt(doubt: Doubt | None, expected: timedelta) -> None:
    assert decisions.settle_at(REQUESTED, doubt, 30.0) == REQUESTED + expected


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (Ambiguous("bad gateway", step="publish", http_status=502), "answered"),
        (Ambiguous("unknown error", step="publish", http_status=500, code=2), "answered"),
        (Ambiguous("an id of null", step="publish", http_status=200), "answered"),
        (Ambiguous("ReadTimeout after sending", step="publish"), "no_answer"),
    ],
)
def test_the_kind_of_doubt_is_whether_an_answer_came(error: Ambiguous, kind: str) -> None:
    assert decisions.doubt_kind(error) == kind


@pytest.mark.parametrize(
    ("checks", "retry_after", "expected"),
    [
        (1, None, timedelta(seconds=5)),
        (3, None, timedelta(seconds=20)),
        (3, 120.0, timedelta(seconds=120)),
        (20, None, timedelta(hours=1)),  # capped: a container is looked at hourly at least
    ],
)
def test_check_again_backs_off_up_to_an_hour(
    checks: int, retry_after: float | None, expected: timedelta
) -> None:
    assert decisions.check_again_at(T0, timedelta(seconds=5), checks, retry_after) == T0 + expected


def _comment(cid: str, text: str, username: str, at: datetime) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {"id": cid, "text": text, "username": username, "timestamp": stamp}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], None),
        ([_comment("1", "Link in bio", "shop", T0 + timedelta(seconds=3))], "1"),
        ([_comment("1", " Link in bio\n", "shop", T0)], "1"),  # compared like captions
        ([_comment("1", "Link in bio", "shop", T0 - timedelta(seconds=30))], "1"),  # skew
        ([_comment("1", "Link in bio", "shop", T0 - timedelta(minutes=5))], None),  # older
        ([_comment("1", "Link in bio", "a_fan", T0 + timedelta(seconds=3))], None),  # not ours
        ([_comment("1", "Link in bio!", "shop", T0 + timedelta(seconds=3))], None),
        ([{"id": "1", "text": "Link in bio", "username": "shop"}], None),  # no timestamp
        (
            [
                _comment("2", "Link in bio", "shop", T0 + timedelta(seconds=9)),
                _comment("1", "Link in bio", "shop", T0 + timedelta(seconds=3)),
            ],
            "1",  # the oldest: the first that was made
        ),
    ],
)
def test_own_comment(items: list[dict[str, Any]], expected: str | None) -> None:
    found = decisions.own_comment(items, "shop", "Link in bio", T0)
    assert (found["id"] if found is not None else None) == expected


def test_no_comment_is_ours_without_a_username() -> None:
    items = [_comment("1", "Link in bio", "shop", T0)]
    assert decisions.own_comment(items, None, "Link in bio", T0) is None
