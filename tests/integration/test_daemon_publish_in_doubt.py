"""The daemon and a media_publish in doubt (issue 8, fault 11): while one draft waits for its
doubtful publish to settle, the account's other drafts go out (each with its own container;
the doubtful one is never sent again before it is settled), and a stop cuts the wait short
(the job is settled at the next start, exactly once)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from publisher.clock import system_sleep
from publisher.commands import calendar
from publisher.daemon.loop import Daemon
from publisher.job import Job, State
from publisher.publishing.runtime import Runtime
from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock
from tests.support.daemon import draft, jobs_by_draft, open_daemon, settle, site_config
from tests.support.wait import wait_for


class HeldClock(ManualClock):
    """A ManualClock whose long sleeps (the settle wait) block until the test releases them."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if seconds >= 5:
            self.holding.set()
            self.release.wait(20)


def in_doubt(config_jobs: dict[str, Job]) -> list[Job]:
    return [
        job
        for job in config_jobs.values()
        if job.publish_requested_at is not None and job.media_id is None
    ]


def use_clock(daemon_sandbox: tuple[SandboxServer, object], clock: ManualClock) -> SandboxServer:
    sandbox, now = daemon_sandbox
    sandbox.reset()
    now.clock = clock  # type: ignore[attr-defined]
    sandbox.faults.processing_polls = 0
    sandbox.faults.lose_publish_responses = 1  # posted, then the connection is dropped
    sandbox.faults.lose_publish_with = "drop"
    return sandbox


def test_the_accounts_other_drafts_go_while_one_waits_to_reconcile(
    tmp_path: Path, daemon_sandbox: tuple[SandboxServer, object]
) -> None:
    clock = HeldClock()
    sandbox = use_clock(daemon_sandbox, clock)
    config = site_config(tmp_path, sandbox.base_url)
    running = open_daemon(config, clock)
    try:
        running.on_paths(
            {draft(config, f"{name}.yaml", publish_at="now") for name in ("first", "second")}
        )

        def other_one_out() -> bool:
            running.step()
            jobs = jobs_by_draft(config)
            return len(jobs) == 2 and any(j.state is State.PUBLISHED for j in jobs.values())

        wait_for(other_one_out, timeout=10, every=0.01, what="the other draft published")
        assert clock.holding.is_set()  # ... while the first one still waits to reconcile
        [doubtful] = in_doubt(jobs_by_draft(config))
        assert doubtful.state is State.PUBLISHING
        assert doubtful.publish_doubt is not None and doubtful.publish_doubt.kind == "no_answer"
        assert [t.kind for t in running.workers.tasks() if t.key == doubtful.id] == ["aside"]
        assert len(sandbox.posts()) == 2  # the lost answer's post, and the other draft's

        clock.release.set()
        settle(running)
        jobs = jobs_by_draft(config)
        assert {job.state for job in jobs.values()} == {State.PUBLISHED}
        assert len({job.media_id for job in jobs.values()}) == 2
        assert len(sandbox.posts()) == 2  # none twice
    finally:
        clock.release.set()
        running.shutdown()


def test_a_stop_cuts_the_settle_wait_short_and_the_next_start_settles_it(
    tmp_path: Path, daemon_sandbox: tuple[SandboxServer, object]
) -> None:
    clock = ManualClock()
    sandbox = use_clock(daemon_sandbox, clock)
    config = site_config(tmp_path, sandbox.base_url)
    # the real sleep: the settle wait (60 s after a dropped connection) really waits
    runtime = Runtime.open(config, clock=clock, sleep=system_sleep, retry_wait=0.0)
    running = Daemon(
        config, runtime, plan_feed=calendar.plan_feed, clock=clock, quiet=0.05, heartbeat=0.2
    )
    running.start()
    try:
        running.on_paths({draft(config, "post.yaml", publish_at="now")})

        def waiting() -> bool:
            running.step()
            return any(task.kind == "aside" for task in running.workers.tasks())

        wait_for(waiting, timeout=10, every=0.01, what="the settle wait")
    finally:
        started = time.monotonic()
        running.shutdown()
        stopped_in = time.monotonic() - started
    assert stopped_in < 5  # not the rest of the 60 s wait
    [job] = jobs_by_draft(config).values()
    assert (job.state, job.media_id) == (State.PUBLISHING, None)  # left as a kill -9 would
    assert job.publish_requested_at is not None

    clock.now = datetime.fromtimestamp(clock().timestamp() + 61, tz=clock().tzinfo)
    again = open_daemon(config, clock)
    try:
        settle(again)
    finally:
        again.shutdown()
    [job] = jobs_by_draft(config).values()
    assert job.state is State.PUBLISHED
    assert job.media_id == sandbox.posts()[0]["id"]
    assert len(sandbox.posts()) == 1
