"""Queue drafts (no publish_at) take the next free slot of their account's queue, and only the
queue's time is theirs. In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import draft, jobs_by_draft, open_daemon, settle, site_config
from tests.support.site import load_config


@pytest.mark.parametrize(
    ("out", "state"),
    [
        (("type: post\n", "type: post\npaused: true\n"), State.PAUSED),
        (("[sunrise.jpg]", "[missing.jpg]"), State.INVALID),
    ],
)
def test_a_queue_draft_back_after_its_slot_takes_the_next_slot(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer, out: tuple[str, str], state: State
) -> None:
    """A queue draft (no publish_at) paused (or invalid) over its slot kept that slot, now
    hours ago: once back it was missed at once, though its time was only ever the queue's."""
    config = site_config(tmp_path, posts.base_url)
    document = json.loads(config.config_path.read_text())
    document["schedule"] = {"slots": [{"days": "daily", "times": ["09:00"]}]}
    config.config_path.write_text(json.dumps(document))
    config = load_config(config.config_path)
    running = open_daemon(config, clock)
    try:
        path = draft(config, "queued.yaml")
        running.on_paths({path})
        settle(running)
        assert jobs_by_draft(config)["queued.yaml"].scheduled_for == START.replace(hour=9)

        text = path.read_text()
        path.write_text(text.replace(*out))
        running.on_paths({path})
        settle(running)
        assert jobs_by_draft(config)["queued.yaml"].state is state
        clock.advance(timedelta(hours=4))  # 12:00: today's 09:00 is gone
        settle(running)
        path.write_text(text)
        running.on_paths({path})
        settle(running)

        job = jobs_by_draft(config)["queued.yaml"]
        assert job.state is State.SCHEDULED, job.error
        assert job.scheduled_for == START.replace(hour=9) + timedelta(days=1)
        assert posts.posts() == []
    finally:
        running.shutdown()
