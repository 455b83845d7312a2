"""`instagram.session` against respx, through the client: the HTTP client it is given, what
is retried (and what never is: a media_publish that may have gone out), the record of
each call, and the token that never leaves the Authorization header."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from publisher import errors
from publisher.instagram import usage
from publisher.instagram.client import Client
from publisher.instagram.session import USER_AGENT, make_http, timeouts
from publisher.job import ApiCall
from tests.support.graphclient import (
    BASE,
    IG,
    T0,
    TOKEN,
    TRACE,
    VERSION,
    Recorder,
    graph_error,
    make_client,
)

# --- the HTTP client ------------------------------------------------------------------------


def test_without_a_token_no_authorization_header_is_sent(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    route = router.get("/178").respond(200, json={"status_code": "FINISHED"})
    make_client(http, seen, token=None).container_status("178")
    assert "Authorization" not in route.calls.last.request.headers


def test_make_http_has_explicit_timeouts_and_no_redirects() -> None:
    with make_http() as client:
        assert client.timeout == httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
        assert client.timeout == timeouts()
        assert client.follow_redirects is False
        assert client.headers["User-Agent"] == USER_AGENT


def test_a_redirect_is_not_followed(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    router.post(f"/{IG}/media").respond(302, headers={"Location": "https://elsewhere/"})
    with pytest.raises(errors.Permanent, match="HTTP 302"):
        make_client(http, seen).create_container({"image_url": "https://m/x.jpg"})
    assert len(seen.calls) == 1


# --- retries -------------------------------------------------------------------------------


def test_a_400_is_tried_once(router: respx.MockRouter, http: httpx.Client, seen: Recorder) -> None:
    route = router.post(f"/{IG}/media").mock(return_value=graph_error(400, 36004, 2207010))
    with pytest.raises(errors.Permanent) as caught:
        make_client(http, seen).create_container({"image_url": "https://m/x.jpg"})
    assert route.call_count == 1
    assert seen.sleeps == []
    assert (caught.value.code, caught.value.subcode, caught.value.step) == (
        36004,
        2207010,
        "create",
    )
    assert caught.value.fbtrace_id == TRACE
    assert seen.calls[0].error == "36004/2207010"
    assert seen.calls[0].status == 400


def test_a_429_is_not_retried_inline_and_holds_the_account_back(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    # A rate-limit answer goes back to the caller (the job waits, issue 9); the account's
    # pacer keeps its next call back until Meta's Retry-After has passed.
    route = router.post(f"/{IG}/media").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"id": "c1"}),
        ]
    )
    pacer = usage.Pacer()
    client = make_client(http, seen, pacer=pacer)
    with pytest.raises(errors.RateLimited) as caught:
        client.create_container({"image_url": "https://m/x.jpg"})
    assert caught.value.retry_after == 7.0
    assert route.call_count == 1
    assert seen.sleeps == []
    assert [call.status for call in seen.calls] == [429]
    assert seen.calls[0].error == "HTTP 429"

    assert client.create_container({"image_url": "https://m/x.jpg"}) == "c1"
    assert route.call_count == 2
    assert len(seen.sleeps) == 1 and 6.9 < seen.sleeps[0] <= 7.0  # the clock ticked meanwhile


def test_a_long_rate_limit_goes_back_to_the_caller(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    usage = json.dumps({"1784": [{"type": "instagram", "estimated_time_to_regain_access": 30}]})
    route = router.post(f"/{IG}/media").mock(
        return_value=httpx.Response(
            400,
            json={"error": {"message": "throttled", "code": 80002}},
            headers={"X-Business-Use-Case-Usage": usage},
        )
    )
    with pytest.raises(errors.RateLimited) as caught:
        make_client(http, seen).create_container({"image_url": "https://m/x.jpg"})
    assert caught.value.retry_after == 1800.0
    assert route.call_count == 1
    assert seen.sleeps == []


@pytest.mark.parametrize(
    "first",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow read"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(500),
        httpx.Response(503, text="<html>busy</html>"),
        graph_error(500, 1),
        graph_error(400, -1, 2207001),
        graph_error(400, 9004, 2207052),
    ],
)
def test_container_creation_is_retried_on_transient_failures(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder, first: object
) -> None:
    route = router.post(f"/{IG}/media").mock(
        side_effect=[first, httpx.Response(200, json={"id": "c2"})]
    )
    assert make_client(http, seen).create_container({"image_url": "https://m/x.jpg"}) == "c2"
    assert route.call_count == 2
    assert seen.sleeps == [0.0]
    assert len(seen.calls) == 2


def test_retries_are_bounded(router: respx.MockRouter, http: httpx.Client, seen: Recorder) -> None:
    route = router.get("/178").respond(502)
    with pytest.raises(errors.Transient):
        make_client(http, seen).container_status("178")
    assert route.call_count == 4  # the first attempt and max_retries=3 retries
    assert len(seen.sleeps) == 3


def test_backoff_is_scaled_by_retry_wait(router: respx.MockRouter, http: httpx.Client) -> None:
    sleeps: list[float] = []
    router.get("/178").respond(500)
    client = Client(
        http=http,
        base_url=BASE,
        api_version=VERSION,
        ig_user_id=IG,
        token=TOKEN,
        sleep=sleeps.append,
        retry_wait=0.5,
        max_retries=3,
    )
    with pytest.raises(errors.Transient):
        client.container_status("178")
    assert sleeps == [0.5, 1.0, 2.0]


def test_an_intermittent_100_33_on_a_read_is_retried(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    route = router.get("/179").mock(
        side_effect=[graph_error(400, 100, 33), httpx.Response(200, json={"id": "179"})]
    )
    assert make_client(http, seen).media("179") == {"id": "179"}
    assert route.call_count == 2


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.ReadTimeout("read"),
        httpx.WriteTimeout("write"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.Response(500),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"ok": True}),  # no id
        httpx.Response(200, json={"id": None}),  # an id that is not one
        graph_error(500, 1),
        graph_error(400, -1, 2207001),
    ],
)
def test_publish_is_not_retried_when_it_may_have_gone_out(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder, outcome: object
) -> None:
    route = router.post(f"/{IG}/media_publish").mock(side_effect=[outcome])
    with pytest.raises(errors.Ambiguous) as caught:
        make_client(http, seen).publish("178")
    assert route.call_count == 1
    assert seen.sleeps == []
    assert caught.value.step == "publish"
    assert caught.value.container_id == "178"
    assert "never publishes it twice" in caught.value.hint
    assert len(seen.calls) == 1


@pytest.mark.parametrize(
    "first",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("connect"), httpx.PoolTimeout("pool")],
)
def test_publish_is_retried_when_the_request_never_left(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder, first: Exception
) -> None:
    route = router.post(f"/{IG}/media_publish").mock(
        side_effect=[first, httpx.Response(200, json={"id": "m1"})]
    )
    assert make_client(http, seen).publish("178") == "m1"
    assert route.call_count == 2
    assert seen.calls[0].error == type(first).__name__
    assert seen.calls[0].status is None


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (graph_error(400, 9007, 2207027), errors.Transient),
        (graph_error(400, 4, 2207051), errors.Permanent),
        (graph_error(400, 9, 2207042), errors.QuotaExhausted),
        (graph_error(400, 190, 467), errors.AuthFailed),
        (graph_error(400, -2, 2207020), errors.RebuildContainer),
        (graph_error(400, 4), errors.RateLimited),
    ],
)
def test_publish_refusals_are_raised_once_and_not_ambiguous(
    router: respx.MockRouter,
    http: httpx.Client,
    seen: Recorder,
    response: httpx.Response,
    expected: type[errors.ApiError],
) -> None:
    route = router.post(f"/{IG}/media_publish").mock(side_effect=[response])
    with pytest.raises(expected):
        make_client(http, seen).publish("178")
    assert route.call_count == 1


def test_a_failing_on_call_does_not_lose_the_media_id(
    router: respx.MockRouter, http: httpx.Client
) -> None:
    def broken(call: ApiCall) -> None:
        raise OSError("disk full")

    router.post(f"/{IG}/media_publish").respond(200, json={"id": "m1"})
    client = Client(
        http=http,
        base_url=BASE,
        api_version=VERSION,
        ig_user_id=IG,
        token=TOKEN,
        on_call=broken,
        retry_wait=0,
    )
    assert client.publish("178") == "m1"


def test_errors_do_not_leak_httpx(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    router.get("/178").mock(side_effect=httpx.ReadError("reset"))
    with pytest.raises(errors.ApiError) as caught:
        make_client(http, seen).container_status("178")
    assert not isinstance(caught.value, httpx.HTTPError)
    assert "ReadError" in caught.value.message
    assert caught.value.hint


def test_base_url_with_a_path_prefix(http: httpx.Client, seen: Recorder) -> None:
    with respx.mock(base_url=f"http://proxy.local/graph/{VERSION}") as proxy:
        route = proxy.get("/178").respond(200, json={"status_code": "IN_PROGRESS"})
        client = Client(
            http=http,
            base_url="http://proxy.local/graph/",
            api_version=VERSION,
            ig_user_id=IG,
            token=TOKEN,
            on_call=seen.calls.append,
            retry_wait=0,
        )
        assert client.container_status("178").status_code == "IN_PROGRESS"
    assert route.called
    assert seen.calls[0].endpoint == f"/graph/{VERSION}/178"


# --- the canary ----------------------------------------------------------------------------


def test_canary_token_never_leaves_the_header(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Failing calls of every kind at DEBUG: the token is in no log record, no exception's
    str/repr/cause text, and no ApiCall."""
    router.post(f"/{IG}/media").mock(
        side_effect=[httpx.ConnectError("x"), httpx.Response(500), graph_error(400, 190, 467)]
    )
    router.post(f"/{IG}/media_publish").mock(side_effect=httpx.ReadTimeout("x"))
    router.get("/178").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "0"})] * 9)
    router.get(f"/{IG}/media").respond(
        200,
        json={
            "data": [],
            "paging": {"cursors": {"after": "A"}, "next": f"https://g/?access_token={TOKEN}"},
        },
    )
    client = make_client(http, seen)
    raised: list[BaseException] = []
    # Other tests may have run logs.setup(), which holds httpx at WARNING: lower them all.
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),
        caplog.at_level(logging.DEBUG, logger="httpcore"),
        caplog.at_level(logging.DEBUG, logger="publisher"),
    ):
        for action in (
            lambda: client.create_container({"image_url": "https://m/x.jpg"}),
            lambda: client.publish("178"),
            lambda: client.container_status("178"),
            lambda: client.recent_media(T0, max_pages=2),
        ):
            try:
                action()
            except errors.ApiError as exc:
                raised.append(exc)
    assert len(raised) == 3
    assert caplog.records, "the calls were logged at DEBUG"
    assert any(record.name == "httpx" for record in caplog.records)
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    assert TOKEN not in caplog.text
    for exc in raised:
        chain: BaseException | None = exc
        while chain is not None:
            assert TOKEN not in str(chain) and TOKEN not in repr(chain)
            chain = chain.__cause__ or chain.__context__
    assert seen.calls
    for call in seen.calls:
        assert TOKEN not in call.model_dump_json()
    assert TOKEN not in repr(client)
