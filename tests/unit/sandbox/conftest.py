"""Fixtures of the sandbox tests: a clock the test moves by hand, and sandboxes started on a
loopback port that are closed after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """Starts at 2026-12-01 08:00 UTC; set `now` to move it."""
    return ManualClock()


@pytest.fixture
def start_sandbox(clock: ManualClock) -> Iterator[Callable[..., SandboxServer]]:
    """Start a SandboxServer with these keyword arguments (its clock: `clock`)."""
    started: list[SandboxServer] = []

    def start(**kwargs: Any) -> SandboxServer:
        kwargs.setdefault("clock", clock)
        server = SandboxServer(**kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
