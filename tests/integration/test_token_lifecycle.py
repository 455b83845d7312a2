"""The token lifecycle (SPEC §8, issue 9) against the sandbox over loopback: an Instagram
Login token refreshed once it is due, kept 0600 in state_dir/tokens and used from then on
(across restarts, while the configured one is unchanged); a token too new or a network
error tried again a day later, never a block; a refused token blocks; a Facebook Login
token checked once a day; a token that cannot be renewed and has fewer than 7 days left told
once (notify `token_expiring`, to a loopback receiver); and the token in no log line, store,
draft or notification on the way."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.commands import accounts
from publisher.commands.publish import publish_draft
from publisher.config import Config, refreshed, tokens
from publisher.daemon import loop
from publisher.daemon import tokens as token_care
from publisher.job import State
from publisher.publishing.runtime import Runtime
from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock
from tests.support.daemon import open_daemon
from tests.support.receiver import Receiver
from tests.support.site import load_config, make_site, write_draft
from tests.support.wait import wait_for

OLD = "IGAA-configured-long-lived-token-0123456789"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock, token=OLD) as running:
        yield running


def site(root: Path, sandbox: SandboxServer, token: str = OLD, api: str = "instagram") -> Config:
    account = {"api": api, "base_url": sandbox.base_url, "access_token": token}
    return load_config(make_site(root, account=account))


def look_after(config: Config, clock: ManualClock) -> token_care.Outcome:
    with Runtime.open(config, clock=clock, sleep=clock.sleep, retry_wait=0) as rt:
        return token_care.look_after(rt, "main")


def test_a_due_token_is_refreshed_kept_0600_and_used_from_then_on(
    tmp_path: Path, sandbox: SandboxServer, clock: ManualClock
) -> None:
    config = site(tmp_path, sandbox)
    sandbox.faults.refresh_min_age_s = 0  # Meta wants a day-old token; no need to wait here
    assert token_care.due(config, "main", clock())  # expiry unknown: refresh at once

    outcome = look_after(config, clock)

    assert outcome.refused is None and "access token refreshed" in outcome.note
    assert outcome.renewed and outcome.expires_at is not None
    file = refreshed.path(config.state_dir, "main")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    new = tokens.token(config, "main")
    assert new is not None and new != OLD
    assert tokens.expires(config, "main") is not None
    # the old token no longer works at the sandbox, and publishing goes on with the new one
    path = write_draft(config, "post")
    job = publish_draft(config, path, progress=lambda _line: None, clock=clock, sleep=clock.sleep)
    assert job.state is State.PUBLISHED, job.error
    # after a restart too (the config still says OLD)
    assert tokens.token(load_config(config.config_path), "main") == new
    # `publisher accounts` shows the days left
    [row] = accounts.check(config, clock=clock)
    assert row.valid and row.days_left == 59
    assert "(59 days left)" in accounts.render([row])
    # asked again only when it comes within 30 days of its end
    assert not token_care.due(config, "main", clock() + timedelta(days=29))
    assert token_care.due(config, "main", clock() + timedelta(days=31))


def test_a_token_too_new_is_tried_again_a_day_later_never_blocked(
    tmp_path: Path, sandbox: SandboxServer, clock: ManualClock
) -> None:
    config = site(tmp_path, sandbox)
    outcome = look_after(config, clock)  # Meta: at least 24 hours old

    assert outcome.refused is None and not outcome.renewed
    assert "not renewed" in outcome.note and "24 hours" in outcome.note
    assert tokens.token(config, "main") == OLD
    assert not token_care.due(config, "main", clock() + timedelta(hours=23))
    clock.advance(timedelta(hours=24))
    assert token_care.due(config, "main", clock())
    sandbox.faults.refresh_min_age_s = 0
    assert look_after(config, clock).refused is None
    assert tokens.token(config, "main") != OLD


def test_a_network_error_is_tried_again_later(tmp_path: Path, clock: ManualClock) -> None:
    account = {"api": "instagram", "base_url": "http://127.0.0.1:9", "access_token": OLD}
    config = load_config(make_site(tmp_path, account=account))
    outcome = look_after(config, clock)
    assert outcome.refused is None and "not renewed" in outcome.note
    assert not token_care.due(config, "main", clock() + timedelta(hours=1))


def test_a_refused_token_blocks_the_account(
    tmp_path: Path, sandbox: SandboxServer, clock: ManualClock
) -> None:
    config = site(tmp_path, sandbox)
    sandbox.faults.invalid_token = True
    outcome = look_after(config, clock)
    assert outcome.refused is not None and "code 190/463" in outcome.refused
    assert OLD not in outcome.refused


def test_a_new_configured_token_wins_and_is_refreshed_in_turn(
    tmp_path: Path, sandbox: SandboxServer, clock: ManualClock
) -> None:
    config = site(tmp_path, sandbox)
    sandbox.faults.refresh_min_age_s = 0
    look_after(config, clock)
    refreshed_once = tokens.token(config, "main")

    pasted = "IGAA-a-token-pasted-by-the-user-42"
    changed = site(tmp_path, sandbox, token=pasted)
    assert tokens.token(changed, "main") == pasted
    assert token_care.due(changed, "main", clock())
    with SandboxServer(clock=clock, token=pasted) as other:  # a sandbox that knows it
        other.faults.refresh_min_age_s = 0
        moved = site(tmp_path, other, token=pasted)
        assert look_after(moved, clock).refused is None
        assert tokens.token(moved, "main") not in (pasted, refreshed_once)


def test_a_facebook_login_token_is_checked_once_a_day(
    tmp_path: Path, sandbox: SandboxServer, clock: ManualClock
) -> None:
    config = site(tmp_path, sandbox, api="facebook")
    assert token_care.due(config, "main", clock())
    outcome = look_after(config, clock)
    assert outcome.refused is None and "the token works" in outcome.note
    assert tokens.token(config, "main") == OLD  # nothing to refresh with Facebook Login
    assert not token_care.due(config, "main", clock() + timedelta(hours=23))
    assert token_care.due(config, "main", clock() + timedelta(hours=24))
    sandbox.faults.invalid_token = True
    clock.advance(timedelta(hours=24))
    assert look_after(config, clock).refused is not None


def test_sandbox_and_unrefreshed_accounts_are_left_alone(
    tmp_path: Path, sandbox: SandboxServer, clock: ManualClock
) -> None:
    config = load_config(make_site(tmp_path, account={"base_url": sandbox.base_url}))
    assert not token_care.due(config, "main", clock())
    account = {"api": "instagram", "base_url": sandbox.base_url, "access_token": OLD}
    off = load_config(make_site(tmp_path / "off", account={**account, "token_refresh": False}))
    assert not token_care.due(off, "main", clock())


def test_the_token_reaches_no_log_store_or_draft(
    tmp_path: Path, sandbox: SandboxServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = site(tmp_path, sandbox)
    sandbox.faults.refresh_min_age_s = 0
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),
        caplog.at_level(logging.DEBUG, logger="httpcore"),
        caplog.at_level(logging.DEBUG, logger="publisher"),
    ):
        look_after(config, clock)
        new = tokens.token(config, "main")
        assert new is not None and new != OLD
        path = write_draft(config, "post")
        publish_draft(config, path, progress=lambda _line: None, clock=clock, sleep=clock.sleep)
    assert any("refresh_access_token" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert OLD not in record.getMessage() and new not in record.getMessage()
    written = [config.state_dir / "jobs.json", path]
    written += [p for p in config.state_dir.rglob("*") if p.is_file() and "tokens" not in p.parts]
    for file in written:
        text = file.read_text(errors="replace")
        assert OLD not in text and new not in text, file


def test_the_daemon_refreshes_by_itself_between_publishes(
    tmp_path: Path, sandbox: SandboxServer, clock: ManualClock
) -> None:
    config = site(tmp_path, sandbox)
    sandbox.faults.refresh_min_age_s = 0
    daemon = open_daemon(config, clock)
    try:
        clock.advance(timedelta(seconds=loop.FIRST_TOKEN_CARE))

        def refreshed_now() -> bool:
            daemon.step()
            return tokens.token(config, "main") != OLD

        wait_for(refreshed_now)
        assert "main" not in daemon.blocked
    finally:
        daemon.request_stop()
        daemon.shutdown()


# --- token_expiring through the running daemon ------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def site_telling(root: Path, sandbox: SandboxServer, receiver: Receiver) -> Config:
    account = {"api": "instagram", "base_url": sandbox.base_url, "access_token": OLD}
    path = make_site(root, account=account)
    document = json.loads(path.read_text())
    document["notify"] = {
        "urls": [f"json://127.0.0.1:{receiver.port}/hook"],
        "on": ["token_expiring"],
    }
    path.write_text(json.dumps(document))
    return load_config(path)


def test_a_token_that_cannot_be_renewed_is_told_once_with_days_left(
    tmp_path: Path, sandbox: SandboxServer, receiver: Receiver, clock: ManualClock
) -> None:
    config = site_telling(tmp_path, sandbox, receiver)
    sandbox.faults.refresh_min_age_s = 0
    daemon = open_daemon(config, clock)
    try:
        clock.advance(timedelta(seconds=loop.FIRST_TOKEN_CARE))
        wait_for(lambda: (daemon.step(), tokens.token(config, "main") != OLD)[1])
        assert daemon.workers.wait(10)  # the refresh's task has ended: the next one can start
        daemon.step()
        renewed = tokens.token(config, "main")
        assert renewed is not None
        expires = tokens.expires(config, "main")
        assert expires is not None

        # From now on Meta refuses to refresh it; 54 days later it has 6 days left.
        sandbox.faults.refresh_min_age_s = 10**9
        clock.now = expires - timedelta(days=6)
        wait_for(lambda: (daemon.step(), len(receiver.requests) >= 1)[1], timeout=20)
        [told] = receiver.requests
        body = json.loads(told.body)
        text = json.dumps(body)
        assert "main" in text and "expir" in text.lower()
        assert renewed not in text and OLD not in text

        # an hour later, tried again (and refused again): not told twice in a day
        clock.advance(timedelta(hours=1))
        for _ in range(5):
            daemon.step()
        daemon.workers.wait(5)
        daemon.step()
        assert len(receiver.requests) == 1
    finally:
        daemon.request_stop()
        daemon.shutdown()
