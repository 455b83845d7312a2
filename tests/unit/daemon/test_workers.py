"""Workers: a task that steps aside (waiting for a doubtful publish to settle, finishing a post
that is out) holds neither its account nor a place among the publishes running; a task cut
short by a stop is noted, not logged as a failure."""

from __future__ import annotations

import logging
import threading

import pytest

from publisher.daemon.workers import Done, Workers
from publisher.publishing.runtime import Stopping
from tests.support.wait import wait_for


def test_a_task_aside_frees_its_account_and_comes_back() -> None:
    ended: list[Done] = []
    release = threading.Event()
    workers = Workers(ended.append)
    workers.start("job1", "publish", "main", release.wait)

    workers.aside("job1", True)
    assert workers.accounts("publish", "reconcile") == set()
    assert workers.count("publish", "reconcile") == 0
    assert workers.busy() == {"job1"}  # still never started twice
    assert workers.wait(0.0, "publish")  # a stop or a start-up does not wait for it

    workers.aside("job1", False)
    assert workers.accounts("publish") == {"main"}
    assert not workers.wait(0.0, "publish")

    release.set()
    wait_for(lambda: ended, timeout=5, what="the task's end")
    assert ended[0].task.kind == "publish"  # reported as what it was started as
    workers.aside("job1", True)  # gone: nothing happens


def test_a_task_cut_short_by_a_stop_is_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    ended: list[Done] = []
    workers = Workers(ended.append)

    def stopped() -> None:
        raise Stopping

    with caplog.at_level(logging.INFO, logger="publisher.daemon.workers"):
        workers.start("job1", "publish", "main", stopped)
        wait_for(lambda: ended, timeout=5, what="the task's end")
    assert isinstance(ended[0].error, Stopping)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert "cut short" in caplog.text
