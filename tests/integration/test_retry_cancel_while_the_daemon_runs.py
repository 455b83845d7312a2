"""`publisher retry` / `publisher cancel` while the daemon runs: handed over through
state_dir/requests/, answered by the daemon, and never leaving a job it keeps looking at.
In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from publisher.commands import retry_cancel
from publisher.config import Config
from publisher.daemon import inbox
from publisher.daemon.loop import Daemon
from publisher.errors import UserError
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, jobs_by_draft, settle
from tests.support.wait import wait_for


def through_daemon(daemon: Daemon, config: Config, action: str, path: Path) -> str:
    """`publisher <action> DRAFT` while the daemon runs: the answer, or the refusal."""
    answer: list[str] = []

    def ask() -> None:
        try:
            answer.append(retry_cancel.submit(config, action, path))  # type: ignore[arg-type]
        except UserError as exc:
            answer.append("refused: " + "; ".join(p.message for p in exc.problems))

    thread = threading.Thread(target=ask)
    thread.start()
    wait_for(lambda: bool(inbox.pending(config.state_dir)))
    settle(daemon)
    thread.join(5)
    assert answer, "no answer from the daemon"
    return answer[0]


def test_retry_of_a_draft_whose_file_is_gone_is_refused_not_stranded(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    """A missed draft deleted, then `publisher retry`: the job used to become `scheduled` for
    now with no draft to publish from, and the dispatcher looked at it again on every step,
    forever (the job never left `scheduled`)."""
    path = draft(config, "gone.yaml", publish_at=at(START + timedelta(minutes=10)))
    daemon.on_paths({path})
    settle(daemon)
    clock.advance(timedelta(hours=2))
    settle(daemon)
    assert jobs_by_draft(config)["gone.yaml"].state is State.MISSED
    path.unlink()
    daemon.on_paths({path})
    settle(daemon)

    said = through_daemon(daemon, config, "retry", path)
    daemon.step()

    job = jobs_by_draft(config)["gone.yaml"]
    assert said.startswith("refused:") and "gone" in said, said
    assert job.state is State.MISSED
    assert not daemon.dispatcher.dirty  # nothing left that it keeps looking at
    assert posts.posts() == []
