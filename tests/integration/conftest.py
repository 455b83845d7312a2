"""Fixtures shared by the integration tests (publisher in-process, over real loopback HTTP).

Each sandbox runs once per module (starting and stopping servers adds up) and is reset for
every test that asks for it:

- the publish flow: `sandbox`, on `fake_time`, a clock that moves only when the flow sleeps
  (polling, backoff and the reconciliation's wait take no time), and `site`, whose media
  the real media host serves for the sandbox to fetch;
- the daemon: `posts`, the sandbox reading the hand-moved `clock` of the running test;
  `config`, a site whose media are not fetched; `daemon`, running on them;
- `graph_env`: the publish flow against a scriptable Graph API behind respx.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock, SleepClock
from tests.support.daemon import open_daemon, site_config
from tests.support.fakegraph import Env, open_env
from tests.support.site import load_config, make_site

# --- the publish flow ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_time() -> SleepClock:
    return SleepClock()


@pytest.fixture(scope="module")
def sandbox_server(fake_time: SleepClock) -> Iterator[SandboxServer]:
    server = SandboxServer(clock=fake_time)
    server.start()
    yield server
    server.close()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def site(tmp_path: Path, sandbox: SandboxServer) -> Config:
    return load_config(make_site(tmp_path, account={"base_url": sandbox.base_url}))


@pytest.fixture
def graph_env(tmp_path: Path) -> Iterator[Env]:
    yield from open_env(tmp_path)


# --- the daemon ---------------------------------------------------------------------------


class _Now:
    """The module's sandbox reads the time of whichever test runs."""

    clock = ManualClock()

    def __call__(self) -> datetime:
        return self.clock()


@pytest.fixture(scope="module")
def daemon_sandbox() -> Iterator[tuple[SandboxServer, _Now]]:
    # Media are not fetched, so no media server runs either (media.host: base_url).
    now = _Now()
    with SandboxServer(clock=now, fetch_media=False) as running:
        yield running, now


@pytest.fixture
def clock(daemon_sandbox: tuple[SandboxServer, _Now]) -> ManualClock:
    running, now = daemon_sandbox
    running.reset()
    now.clock = ManualClock()
    return now.clock


@pytest.fixture
def posts(daemon_sandbox: tuple[SandboxServer, _Now]) -> SandboxServer:
    return daemon_sandbox[0]


@pytest.fixture
def config(tmp_path: Path, posts: SandboxServer) -> Config:
    return site_config(tmp_path, posts.base_url, publishing={"prepare_ahead": "10m"})


@pytest.fixture
def daemon(config: Config, clock: ManualClock) -> Iterator[Daemon]:
    running = open_daemon(config, clock)
    yield running
    running.shutdown()
