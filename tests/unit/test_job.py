"""The job-state sets: what each promises, and `is_final` over any value a status block may
hold."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.job import (
    CANCELLABLE,
    DONE,
    FINAL,
    GAVE_UP,
    HOLDING_A_TIME,
    QUEUED,
    RETRYABLE,
    WAITING,
    Job,
    State,
    is_final,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("published", True),
        ("unconfirmed", True),
        (State.PUBLISHED, True),
        ("failed", False),
        ("PUBLISHED", False),
        ("", False),
        (None, False),
        (1, False),
        (["published"], False),  # a hand-edited block: unhashable, never an error
        ({"state": "published"}, False),
    ],
)
def test_is_final_reads_any_status_block_value(value: Any, expected: bool) -> None:
    assert is_final(value) is expected


def test_what_is_out_is_never_queued_retried_or_cancelled_again() -> None:
    assert FINAL.isdisjoint(QUEUED | RETRYABLE | CANCELLABLE)
    assert FINAL <= DONE


def test_a_job_being_sent_cannot_be_cancelled_or_archived() -> None:
    assert State.PUBLISHING in QUEUED
    assert State.PUBLISHING not in CANCELLABLE | DONE | WAITING


def test_the_queue_and_the_finished_jobs_are_apart() -> None:
    assert QUEUED.isdisjoint(DONE)
    assert WAITING < QUEUED < HOLDING_A_TIME
    assert GAVE_UP <= RETRYABLE and GAVE_UP <= DONE


def test_the_status_block_shows_the_comment_id_null_until_made() -> None:
    job = Job(draft="a.yaml", state=State.PUBLISHED, media_id="17", permalink="https://x/p/")
    assert list(job.status_block()) == [
        "state",
        "scheduled_for",
        "attempts",
        "media_id",
        "permalink",
        "comment_id",
        "published_at",
        "error",
        "updated_at",
    ]
    assert job.status_block()["comment_id"] is None
    assert job.model_copy(update={"comment_id": "178"}).status_block()["comment_id"] == "178"


@pytest.mark.parametrize(
    ("changes", "pending", "unfinished"),
    [
        ({}, False, False),
        ({"first_comment": "Link in bio"}, True, True),
        ({"first_comment": "Link in bio", "comment_id": "1"}, False, False),
        ({"first_comment": "Link in bio", "comment_error": "refused"}, False, False),
        ({"permalink": None}, False, True),
        ({"first_comment": "Link in bio", "state": State.FAILED}, True, False),
    ],
)
def test_what_a_published_job_still_has_to_do(
    changes: dict[str, Any], pending: bool, unfinished: bool
) -> None:
    job = Job(draft="a.yaml", state=State.PUBLISHED, media_id="17", permalink="https://x/p/")
    job = job.model_copy(update=changes)
    assert job.comment_pending is pending
    assert job.unfinished is unfinished
