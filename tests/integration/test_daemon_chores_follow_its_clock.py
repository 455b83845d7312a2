"""The daemon's periodic chores run on its injected clock: moving a hand-moved clock runs
them (the rescan, the archive, the account check), and no real minutes have to pass.
In-process daemon, real files in tmp_path, a loopback sandbox."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.daemon import loop
from publisher.daemon.loop import Daemon
from publisher.job import Job, State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, jobs_by_draft, open_daemon, site_config, watched, write
from tests.support.site import load_config
from tests.support.wait import wait_for

TOKEN = "right-token-123456"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock, token=TOKEN, fetch_media=False) as running:
        yield running


def site(tmp_path: Path, sandbox: SandboxServer, **account: str) -> Config:
    return site_config(tmp_path, sandbox.base_url, account=account or {"access_token": TOKEN})


def stepped(daemon: Daemon, condition: bool) -> bool:
    daemon.workers.wait(5.0)
    return condition


def test_the_rescan_runs_every_rescan_every_seconds_of_the_daemons_clock(
    tmp_path: Path, clock: ManualClock, sandbox: SandboxServer
) -> None:
    """An edit no file event reported (written through a hard link outside content_dir) is
    found by the rescan the daemon asks for every rescan_every seconds of its clock."""
    config = site(tmp_path, sandbox)
    path = draft(config, "later.yaml", publish_at=at(START + timedelta(hours=2)))
    daemon = open_daemon(config, clock, rescan_every=180.0)
    try:
        watched(daemon, config, "first.yaml")  # past the events of our own status write-back
        before = jobs_by_draft(config)["later.yaml"].fingerprint
        alias = tmp_path / "alias.yaml"
        os.link(path, alias)
        with open(alias, "a", encoding="utf-8") as file:
            file.write("# edited where no one watches\n")
        watched(daemon, config, "second.yaml")
        assert jobs_by_draft(config)["later.yaml"].fingerprint == before  # the clock stood

        clock.advance(timedelta(seconds=180))
        wait_for(
            lambda: (daemon.step(), jobs_by_draft(config)["later.yaml"].fingerprint != before)[1]
        )
    finally:
        daemon.shutdown()


def test_the_archive_runs_on_the_daemons_clock(
    tmp_path: Path, clock: ManualClock, sandbox: SandboxServer
) -> None:
    """A finished job older than archive_after leaves jobs.json at the first archive, a
    minute of the daemon's clock after start, and not before."""
    config = site(tmp_path, sandbox)
    document = json.loads(config.config_path.read_text())
    document["archive_after"] = "10s"
    config.config_path.write_text(json.dumps(document))
    config = load_config(config.config_path)
    daemon = open_daemon(config, clock)
    try:
        old = daemon.store.add(Job(draft="old.yaml", state=State.PUBLISHED, account="main"))
        clock.advance(timedelta(seconds=loop.FIRST_ARCHIVE - 1))
        daemon.step()
        assert [job.id for job in daemon.store.all()] == [old.id]  # old enough, not due yet

        clock.advance(timedelta(seconds=1))
        daemon.step()
        assert daemon.store.all() == []
        assert (config.state_dir / "archive").is_dir()
    finally:
        daemon.shutdown()


def test_a_blocked_account_is_asked_about_again_when_the_daemons_clock_says_so(
    tmp_path: Path, clock: ManualClock, sandbox: SandboxServer
) -> None:
    """The token file is fixed; the account's drafts move on at the next account check,
    ACCOUNT_CHECK_EVERY seconds of the daemon's clock later, not at the next step."""
    token = write(tmp_path / "main-token", "wrong-token-1\n")
    config = site(tmp_path, sandbox, access_token_file=str(token))
    daemon = open_daemon(config, clock)
    try:
        daemon.on_paths({draft(config, "blocked.yaml", publish_at="now")})
        wait_for(
            lambda: (
                stepped(daemon, daemon.step() is None)
                and jobs_by_draft(config)["blocked.yaml"].state is State.BLOCKED
            )
        )
        token.write_text(TOKEN + "\n")
        clock.advance(timedelta(seconds=loop.ACCOUNT_CHECK_EVERY - 1))
        for _ in range(3):
            daemon.step()
            daemon.workers.wait(5.0)
        assert jobs_by_draft(config)["blocked.yaml"].state is State.BLOCKED

        clock.advance(timedelta(seconds=1))
        wait_for(
            lambda: (
                stepped(daemon, daemon.step() is None)
                and jobs_by_draft(config)["blocked.yaml"].state is State.PUBLISHED
            )
        )
        assert len(sandbox.posts()) == 1
    finally:
        daemon.shutdown()
