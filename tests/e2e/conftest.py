"""Fixtures of the kill -9 tests: a sandbox in its own process (so that what it made
outlives a killed publisher), reset before each test, and a site whose account talks to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from publisher.config import Config
from tests.support.processes import SandboxProcess
from tests.support.site import load_config, make_site


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    running = SandboxProcess(tmp_path_factory.mktemp("sandbox") / "sandbox.json")
    try:
        yield running.url
    finally:
        running.stop()


@pytest.fixture
def sandbox(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_url, timeout=10) as control:
        control.post("/_sandbox/reset").raise_for_status()
        yield control


@pytest.fixture
def site(tmp_path: Path, sandbox_url: str) -> Config:
    # poll_interval 0s: the subprocess polls the sandbox's few IN_PROGRESS answers at once
    return load_config(
        make_site(tmp_path, account={"base_url": sandbox_url}, publishing={"poll_interval": "0s"})
    )
