"""An invalid or expired token puts the account's drafts in `blocked`; they move on by
themselves once the token works (README "What the daemon does, and when"). In-process
daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, jobs_by_draft, open_daemon, settle, site_config, write
from tests.support.site import load_config, make_site
from tests.support.wait import wait_for


def test_a_blocked_account_moves_on_once_its_token_works(
    tmp_path: Path, clock: ManualClock
) -> None:
    with SandboxServer(clock=clock, token="right-token-123456") as server:
        url = server.base_url
        config_path = make_site(
            tmp_path, account={"base_url": url, "access_token": "wrong-token-1"}
        )
        config = load_config(config_path)
        running = open_daemon(config, clock, account_check_every=3600.0)
        try:
            path = draft(config, "blocked.yaml", publish_at="now")
            other = draft(config, "later.yaml", publish_at=at(START + timedelta(hours=2)))
            running.on_paths({path, other})
            settle(running)
            jobs = jobs_by_draft(config)
            assert jobs["blocked.yaml"].state is State.BLOCKED
            assert jobs["later.yaml"].state is State.BLOCKED
            assert server.posts() == []

            document = json.loads(config_path.read_text())
            document["accounts"]["main"]["access_token"] = "right-token-123456"
            config_path.write_text(json.dumps(document))
            assert running.reload("test")
            settle(running)
            jobs = jobs_by_draft(config)
            assert jobs["blocked.yaml"].state is State.PUBLISHED
            assert jobs["later.yaml"].state is State.SCHEDULED
        finally:
            running.shutdown()


def test_a_blocked_account_moves_on_when_its_token_file_is_fixed(
    tmp_path: Path, clock: ManualClock
) -> None:
    """The token in `access_token_file` was read once, with the config: fixing the file left
    the account's drafts blocked until a reload, though they "move on by themselves"."""
    token = write(tmp_path / "main-token", "wrong-token-1\n")
    with SandboxServer(clock=clock, token="right-token-123456", fetch_media=False) as server:
        config = site_config(tmp_path, server.base_url, account={"access_token_file": str(token)})
        running = open_daemon(config, clock, account_check_every=0.0)
        try:
            running.on_paths({draft(config, "blocked.yaml", publish_at="now")})

            def state() -> State:
                running.step()  # the account is checked at every step here
                running.workers.wait(5.0)
                return jobs_by_draft(config)["blocked.yaml"].state

            wait_for(lambda: state() is State.BLOCKED)
            for _ in range(5):
                assert state() is State.BLOCKED  # checked again and again: still wrong

            token.write_text("right-token-123456\n")
            wait_for(lambda: state() is State.PUBLISHED, timeout=5)
            assert len(server.posts()) == 1
        finally:
            running.shutdown()
