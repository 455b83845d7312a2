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
