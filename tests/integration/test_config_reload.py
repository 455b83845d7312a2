"""config.yaml changes are picked up while the daemon runs; a config that cannot be applied
(does not validate, a content_dir that cannot be watched, a state_dir moved) is reported and
the previous one kept. In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, jobs_by_draft, open_daemon, settle, site_config, write
from tests.support.site import DRAFTS, load_config
from tests.support.wait import wait_for


def test_config_edits_replan_and_an_invalid_one_is_ignored(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer
) -> None:
    config_path = site_config(tmp_path, posts.base_url).config_path
    document = json.loads(config_path.read_text())
    document["schedule"] = {"slots": [{"days": "daily", "times": ["09:00"]}]}
    config_path.write_text(json.dumps(document))
    config = load_config(config_path)
    running = open_daemon(config, clock)
    try:
        running.on_paths({draft(config, "q1.yaml"), draft(config, "q2.yaml")})
        settle(running)
        jobs = jobs_by_draft(config)
        assert [jobs[n].scheduled_for for n in ("q1.yaml", "q2.yaml")] == [
            START.replace(hour=9),
            START.replace(hour=9) + timedelta(days=1),
        ]

        document["schedule"]["slots"][0]["times"] = ["09:00", "12:00"]
        document["timezone"] = "Europe/Paris"  # 09:00 Paris is 08:00 UTC: passed today
        config_path.write_text(json.dumps(document))
        settle(running)  # the heartbeat notices the file changed
        jobs = jobs_by_draft(config)
        assert [jobs[n].scheduled_for for n in ("q1.yaml", "q2.yaml")] == [
            START.replace(hour=11),  # 12:00 Paris
            START.replace(hour=8) + timedelta(days=1),  # 09:00 Paris tomorrow
        ]

        config_path.write_text(json.dumps({**document, "timezone": "Mars/Olympus"}))
        settle(running)
        assert running.config.timezone == "Europe/Paris"
        assert jobs_by_draft(config)["q1.yaml"].scheduled_for == START.replace(hour=11)
    finally:
        running.shutdown()


def test_a_reload_to_a_content_dir_that_is_not_there_keeps_the_old_config(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    """The new content_dir could not be watched: the reload raised half way (config swapped,
    drafts forgotten, the old watcher stopped and no new one), so the watchdog keep-alive
    stopped for good and nothing new was seen, instead of keeping the previous config."""
    slot = START + timedelta(hours=1)
    daemon.on_paths({draft(config, "slot.yaml", publish_at=at(slot))})
    settle(daemon)
    document = json.loads(config.config_path.read_text())
    document["content_dir"] = "moved-away"
    config.config_path.write_text(json.dumps(document))

    assert daemon.reload("test") is False
    assert daemon.config.content_dir == config.content_dir
    assert daemon.healthy()
    clock.advance(slot - clock())
    settle(daemon)
    assert jobs_by_draft(config)["slot.yaml"].state is State.PUBLISHED
    assert len(posts.posts()) == 1


def test_a_reload_to_another_content_dir_watches_the_new_one(
    daemon: Daemon, config: Config, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(config.content_dir, other)
    document = json.loads(config.config_path.read_text())
    document["content_dir"] = "other"
    config.config_path.write_text(json.dumps(document))

    assert daemon.reload("test") is True
    assert daemon.healthy()
    write(other / "new.yaml", DRAFTS["post"] + f"publish_at: {at(START + timedelta(hours=3))}\n")

    def seen() -> bool:
        daemon.step()
        return "new.yaml" in jobs_by_draft(config)

    wait_for(seen, timeout=5)  # through the new watcher
    assert jobs_by_draft(config)["new.yaml"].state is State.SCHEDULED


def test_a_reload_that_moves_state_dir_keeps_the_old_config(
    daemon: Daemon, config: Config, tmp_path: Path
) -> None:
    """The daemon holds the old store: a new state_dir while running would let another
    process publish the same drafts from it (two posts). Refused until a restart."""
    document = json.loads(config.config_path.read_text())
    document["state_dir"] = str(tmp_path / "other-state")
    config.config_path.write_text(json.dumps(document))

    assert daemon.reload("test") is False
    assert daemon.config.state_dir == config.state_dir
    assert daemon.healthy()
