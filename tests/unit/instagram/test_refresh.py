"""instagram.refresh: Meta's refresh call, the one request whose URL carries the token, and
the proof that the token reaches no log line (httpx's own, at DEBUG) and no exception."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import httpx
import pytest
import respx

from publisher import errors
from publisher.instagram import refresh
from publisher.instagram.session import make_http

HOST = "https://graph.instagram.com"
OLD = "IGAA-old-canary-token-0a1b2c3d4e5f"
NEW = "IGAA-new-canary-token-6a7b8c9d0e1f"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=HOST, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with make_http() as client:
        yield client


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # Other tests may have run logs.setup(), which holds httpx at WARNING: lower them all.
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),
        caplog.at_level(logging.DEBUG, logger="httpcore"),
        caplog.at_level(logging.DEBUG, logger="publisher"),
    ):
        yield caplog


def assert_no_token(texts: list[str]) -> None:
    for text in texts:
        assert OLD not in text and NEW not in text, text


def test_a_refresh_returns_the_new_token_and_logs_neither(
    router: respx.MockRouter, http: httpx.Client, everything_logged: pytest.LogCaptureFixture
) -> None:
    route = router.get("/refresh_access_token").respond(
        200, json={"access_token": NEW, "token_type": "bearer", "expires_in": 5183944}
    )
    fresh = refresh.refresh(http, HOST, OLD)

    assert (fresh.token, fresh.expires_in) == (NEW, 5183944)
    assert NEW not in repr(fresh)
    request = route.calls.last.request
    assert request.url.params["grant_type"] == "ig_refresh_token"
    assert request.url.params["access_token"] == OLD  # Meta's definition: in the query
    assert "Authorization" not in request.headers
    assert request.url.path == "/refresh_access_token"  # unversioned, like Meta's
    httpx_lines = [r.getMessage() for r in everything_logged.records if r.name == "httpx"]
    assert any("refresh_access_token" in line for line in httpx_lines), "httpx logged it"
    assert_no_token([r.getMessage() for r in everything_logged.records])
    assert_no_token([everything_logged.text])


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (
            httpx.Response(
                400,
                json={
                    "error": {
                        "message": f"Error validating access token {OLD}: session expired",
                        "code": 190,
                        "error_subcode": 463,
                    }
                },
            ),
            errors.AuthFailed,
        ),
        (
            httpx.Response(400, json={"error": {"message": "too new", "code": 100}}),
            errors.Permanent,
        ),
        (httpx.Response(500, text="<html>busy</html>"), errors.Transient),
        (httpx.Response(200, json={"token_type": "bearer"}), errors.Transient),
        (
            httpx.ConnectError(f"cannot reach {HOST}/refresh_access_token?access_token={OLD}"),
            errors.Transient,
        ),
        (httpx.ReadTimeout(f"slow: access_token={OLD}"), errors.Transient),
    ],
)
def test_a_failed_refresh_says_why_without_the_token(
    router: respx.MockRouter,
    http: httpx.Client,
    everything_logged: pytest.LogCaptureFixture,
    answer: object,
    kind: type[errors.ApiError],
) -> None:
    router.get("/refresh_access_token").mock(side_effect=[answer])
    with pytest.raises(errors.ApiError) as caught:
        refresh.refresh(http, HOST, OLD)
    failure = caught.value
    assert type(failure) is kind
    assert failure.step == "token"
    shown = "".join(traceback.format_exception(failure))
    assert_no_token([str(failure), repr(failure), failure.describe(), shown])
    assert failure.__cause__ is None and failure.__context__ is None
    assert_no_token([r.getMessage() for r in everything_logged.records])
