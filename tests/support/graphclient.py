"""A Graph API client under test: the account it talks for, on a clock that ticks, a recorder
of its calls and sleeps, and Meta's error bodies (shared by the tests of
`instagram.client` and `instagram.session`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx

from publisher.clock import Clock, Sleep
from publisher.instagram.client import Client
from publisher.instagram.usage import Pacer
from publisher.job import ApiCall
from tests.support.clock import TickClock

BASE = "https://graph.facebook.com"
VERSION = "v25.0"
IG = "17841400000000000"
TOKEN = "EAAB-canary-token-5f4e3d2c1b0a9z"
TRACE = "AbCdEfTrace"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.sleeps: list[float] = []


def make_client(
    http: httpx.Client,
    seen: Recorder,
    *,
    api: str | None = None,
    token: str | None = TOKEN,
    pacer: Pacer | None = None,
    clock: Clock | None = None,
    sleep: Sleep | None = None,
) -> Client:
    """A client for IG on BASE recording its calls in `seen`; its sleeps too, unless `sleep`
    is given (and then `clock` should move with it)."""
    return Client(
        http=http,
        base_url=BASE,
        api_version=VERSION,
        ig_user_id=IG,
        token=token,
        on_call=seen.calls.append,
        sleep=sleep or seen.sleeps.append,
        clock=clock or TickClock(T0),
        retry_wait=0,
        max_retries=3,
        api=api,
        pacer=pacer,
    )


def graph_error(
    status: int, code: int, subcode: int | None = None, message: str = "Meta says no"
) -> httpx.Response:
    """Meta's error answer: HTTP `status` with {"error": {code, error_subcode, message,
    fbtrace_id}}."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = TRACE
    return httpx.Response(status, json={"error": error})


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def assert_token_only_in_header(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    assert TOKEN.encode() not in request.content
