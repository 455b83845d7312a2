"""Fixtures of the Graph API client tests: respx in front of the account, an httpx client,
and a recorder of calls and sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from publisher.instagram.session import make_http
from tests.support.graphclient import BASE, VERSION, Recorder


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=f"{BASE}/{VERSION}", assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def seen() -> Recorder:
    return Recorder()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with make_http() as client:
        yield client
