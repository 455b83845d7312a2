"""The Graph API client against respx: requests, parsing, retries, and the token's path."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from publisher import errors
from publisher.instagram.client import (
    USER_AGENT,
    Client,
    ContainerStatus,
    Quota,
    make_http,
    timeouts,
)
from publisher.job import ApiCall

BASE = "https://graph.facebook.com"
VERSION = "v25.0"
IG = "17841400000000000"
TOKEN = "EAAB-canary-token-5f4e3d2c1b0a9z"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class TickClock:
    """Each reading is 25 ms after the previous one."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=25)
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.sleeps: list[float] = []


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


def make_client(
    http: httpx.Client, seen: Recorder, *, api: str | None = None, token: str | None = TOKEN
) -> Client:
    return Client(
        http=http,
        base_url=BASE,
        api_version=VERSION,
        ig_user_id=IG,
        token=token,
        on_call=seen.calls.append,
        sleep=seen.sleeps.append,
        clock=TickClock(),
        retry_wait=0,
        max_retries=3,
        api=api,
    )


def graph_error(code: int, subcode: int | None = None, status: int = 400) -> httpx.Response:
    error: dict[str, Any] = {"message": "Meta says no", "code": code, "fbtrace_id": "Ftrace"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return httpx.Response(status, json={"error": error})


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def assert_token_only_in_header(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    assert TOKEN.encode() not in request.content


# --- the calls -------------------------------------------------------------------------------


def test_create_container_posts_a_form_with_the_token_only_in_the_header(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    usage = {
        "1784": [{"type": "instagram", "call_count": 12, "estimated_time_to_regain_access": 0}]
    }
    route = router.post(f"/{IG}/media").respond(
        200,
        json={"id": "17900000000000001"},
        headers={
            "X-App-Usage": json.dumps({"call_count": 3, "total_time": 1, "total_cputime": 1}),
            "X-Business-Use-Case-Usage": json.dumps(usage),
        },
    )
    client = make_client(http, seen)

    container_id = client.create_container({"image_url": "https://m/x.jpg", "caption": "#hi"})

    assert container_id == "17900000000000001"
    request = route.calls.last.request
    assert_token_only_in_header(request)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["User-Agent"] == USER_AGENT
    assert form(request) == {"image_url": "https://m/x.jpg", "caption": "#hi"}
    assert request.url.query == b""
    [call] = seen.calls
    assert call.method == "POST"
    assert call.endpoint == f"/{VERSION}/{IG}/media"
    assert call.status == 200
    assert call.step == "create"
    assert call.error is None
    assert call.duration_ms == 25.0
    assert call.at.tzinfo is not None
    assert call.usage == {
        "x-app-usage": {"call_count": 3, "total_time": 1, "total_cputime": 1},
        "x-business-use-case-usage": usage,
    }


def test_create_container_refuses_a_token_in_the_parameters(
    http: httpx.Client, seen: Recorder
) -> None:
    with pytest.raises(ValueError, match="Authorization header") as caught:
        make_client(http, seen).create_container({"access_token": TOKEN})
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status_code": "FINISHED", "id": "178"}, ContainerStatus("FINISHED", None)),
        (
            {"status_code": "ERROR", "status": "Error: error code 2207026", "id": "178"},
            ContainerStatus("ERROR", "Error: error code 2207026"),
        ),
        ({"status_code": "PUBLISHED", "id": "178"}, ContainerStatus("PUBLISHED", None)),
    ],
)
def test_container_status(
    router: respx.MockRouter,
    http: httpx.Client,
    seen: Recorder,
    body: dict[str, str],
    expected: ContainerStatus,
) -> None:
    route = router.get("/178").respond(200, json=body)
    assert make_client(http, seen).container_status("178") == expected
    request = route.calls.last.request
    assert request.url.params["fields"] == "status_code,status"
    assert_token_only_in_header(request)
    assert seen.calls[0].endpoint == f"/{VERSION}/178"  # path only, no query
    assert seen.calls[0].step == "poll"


def test_publish_sends_the_creation_id(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    route = router.post(f"/{IG}/media_publish").respond(200, json={"id": "17920238422030506"})
    assert make_client(http, seen).publish("178") == "17920238422030506"
    request = route.calls.last.request
    assert form(request) == {"creation_id": "178"}
    assert_token_only_in_header(request)
    assert seen.calls[0].step == "publish"


def test_media_reads_the_permalink_fields(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    body = {
        "id": "179",
        "permalink": "https://www.instagram.com/p/C0abc123/",
        "shortcode": "C0abc123",
        "timestamp": "2026-12-01T08:00:07+0000",
        "media_type": "IMAGE",
        "media_product_type": "FEED",
    }
    route = router.get("/179").respond(200, json=body)
    assert make_client(http, seen).media("179") == body
    assert route.calls.last.request.url.params["fields"] == (
        "id,permalink,shortcode,timestamp,media_type,media_product_type"
    )


def item(media_id: str, minutes_after_t0: int, caption: str = "c") -> dict[str, str]:
    stamp = (T0 + timedelta(minutes=minutes_after_t0)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {"id": media_id, "caption": caption, "timestamp": stamp}


def test_recent_media_follows_cursors_not_paging_urls(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    leaky_next = f"{BASE}/{VERSION}/{IG}/media?access_token=LEAKED-IN-NEXT&after=CUR2"
    pages = [
        {
            "data": [item("5", 50), item("4", 40)],
            "paging": {"cursors": {"after": "CUR2"}, "next": leaky_next},
        },
        {
            "data": [item("3", 30), item("2", -5)],
            "paging": {"cursors": {"after": "CUR3"}, "next": leaky_next + "3"},
        },
        {"data": [item("1", -10)]},
    ]
    route = router.get(f"/{IG}/media").mock(
        side_effect=[httpx.Response(200, json=page) for page in pages]
    )

    found = make_client(http, seen).recent_media(T0, limit=2)

    assert [entry["id"] for entry in found] == ["5", "4", "3"]
    assert route.call_count == 2  # page 2 holds an older post: no need for page 3
    first, second = (call.request for call in route.calls)
    assert "after" not in first.url.params
    assert first.url.params["limit"] == "2"
    assert first.url.params["fields"] == "id,caption,timestamp,permalink,media_product_type"
    assert second.url.params["after"] == "CUR2"
    assert "access_token" not in str(second.url)
    assert all(call.step == "reconcile" for call in seen.calls)


def test_recent_stories_and_page_cap(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    page = {"data": [item("9", 5)], "paging": {"cursors": {"after": "X"}, "next": "https://n"}}
    route = router.get(f"/{IG}/stories").respond(200, json=page)
    found = make_client(http, seen).recent_media(T0, stories=True, max_pages=3)
    assert route.call_count == 3
    assert [entry["id"] for entry in found] == ["9", "9", "9"]


def test_recent_media_needs_an_aware_time(http: httpx.Client, seen: Recorder) -> None:
    with pytest.raises(ValueError, match="aware"):
        make_client(http, seen).recent_media(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"data": [{"quota_usage": 2, "config": {"quota_total": 50, "quota_duration": 86400}}]},
            Quota(used=2, total=50, duration_s=86400),
        ),
        (
            {"data": [{"config": {"quota_total": 100, "quota_duration": 86400}}]},
            Quota(used=0, total=100, duration_s=86400),
        ),
    ],
)
def test_publishing_limit(
    router: respx.MockRouter,
    http: httpx.Client,
    seen: Recorder,
    body: dict[str, Any],
    expected: Quota,
) -> None:
    route = router.get(f"/{IG}/content_publishing_limit").respond(200, json=body)
    assert make_client(http, seen).publishing_limit() == expected
    assert route.calls.last.request.url.params["fields"] == "config,quota_usage"


@pytest.mark.parametrize("body", [{"data": []}, {"data": [{"quota_usage": 1}]}])
def test_publishing_limit_with_an_unexpected_shape(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder, body: dict[str, Any]
) -> None:
    router.get(f"/{IG}/content_publishing_limit").respond(200, json=body)
    with pytest.raises(errors.Transient, match="quota_total"):
        make_client(http, seen).publishing_limit()


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"user_id": "17841400000000000", "username": "shop", "id": "app-scoped"}]},
        {"user_id": "17841400000000000", "username": "shop", "id": "app-scoped"},
    ],
)
def test_me_instagram_login_reads_user_id_in_both_shapes(
    http: httpx.Client, seen: Recorder, body: dict[str, Any]
) -> None:
    client = Client(
        http=http,
        base_url="https://graph.instagram.com",
        api_version=VERSION,
        ig_user_id=IG,
        token=TOKEN,
        sleep=seen.sleeps.append,
        retry_wait=0,
    )
    assert client.api == "instagram"
    with respx.mock(base_url=f"https://graph.instagram.com/{VERSION}") as instagram:
        route = instagram.get("/me").respond(200, json=body)
        assert client.me() == {"id": "17841400000000000", "username": "shop"}
    assert route.calls.last.request.url.params["fields"] == "user_id,username"
    assert_token_only_in_header(route.calls.last.request)


def test_me_facebook_login_reads_the_ig_user(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    route = router.get(f"/{IG}").respond(200, json={"id": IG, "username": "shop"})
    assert make_client(http, seen).me() == {"id": IG, "username": "shop"}
    assert route.calls.last.request.url.params["fields"] == "id,username"
    assert seen.calls[0].step == "account"


def test_me_with_an_expired_token_is_auth_failed(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    router.get(f"/{IG}").mock(return_value=graph_error(190, 463))
    with pytest.raises(errors.AuthFailed) as caught:
        make_client(http, seen).me()
    assert caught.value.step == "account"
    assert "expired" in caught.value.hint
    assert seen.calls[0].error == "190/463"


def test_token_info(router: respx.MockRouter, http: httpx.Client, seen: Recorder) -> None:
    assert make_client(http, seen, api="facebook").token_info() is None
    assert make_client(http, seen, api="instagram").token_info() is None
    assert seen.calls == []  # Meta's lookup needs the token in a URL: never called
    router.get("/debug_token").respond(
        200, json={"data": {"is_valid": True, "expires_at": 1798761600, "scopes": ["a", "b"]}}
    )
    info = make_client(http, seen, api="sandbox").token_info()
    assert info == {
        "is_valid": True,
        "expires_at": datetime(2027, 1, 1, tzinfo=UTC),
        "scopes": ["a", "b"],
    }


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
    route = router.post(f"/{IG}/media").mock(return_value=graph_error(36004, 2207010))
    with pytest.raises(errors.Permanent) as caught:
        make_client(http, seen).create_container({"image_url": "https://m/x.jpg"})
    assert route.call_count == 1
    assert seen.sleeps == []
    assert (caught.value.code, caught.value.subcode, caught.value.step) == (
        36004,
        2207010,
        "create",
    )
    assert caught.value.fbtrace_id == "Ftrace"
    assert seen.calls[0].error == "36004/2207010"
    assert seen.calls[0].status == 400


def test_a_429_waits_retry_after_through_the_injected_sleep(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    route = router.post(f"/{IG}/media").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"id": "c1"}),
        ]
    )
    assert make_client(http, seen).create_container({"image_url": "https://m/x.jpg"}) == "c1"
    assert route.call_count == 2
    assert seen.sleeps == [7.0]
    assert [call.status for call in seen.calls] == [429, 200]
    assert seen.calls[0].error == "HTTP 429"


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
        graph_error(1, status=500),
        graph_error(-1, 2207001),
        graph_error(9004, 2207052),
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
        side_effect=[graph_error(100, 33), httpx.Response(200, json={"id": "179"})]
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
        graph_error(1, status=500),
        graph_error(-1, 2207001),
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
        (graph_error(9007, 2207027), errors.Transient),
        (graph_error(4, 2207051), errors.Permanent),
        (graph_error(9, 2207042), errors.QuotaExhausted),
        (graph_error(190, 467), errors.AuthFailed),
        (graph_error(-2, 2207020), errors.RebuildContainer),
        (graph_error(4), errors.RateLimited),
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
        side_effect=[httpx.ConnectError("x"), httpx.Response(500), graph_error(190, 467)]
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
