"""`token_expiring` (SPEC §8) through the running daemon: an Instagram Login token that could
not be refreshed and has fewer than 7 days left is told once through Apprise to a loopback
receiver (json://), without the token, and not again within the day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.config import Config, tokens
from publisher.daemon import loop
from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock
from tests.support.daemon import open_daemon
from tests.support.receiver import Receiver
from tests.support.site import load_config, make_site
from tests.support.wait import wait_for

OLD = "IGAA-configured-expiring-token-0123456789"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock, token=OLD) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def site(root: Path, sandbox: SandboxServer, receiver: Receiver) -> Config:
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
    config = site(tmp_path, sandbox, receiver)
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
