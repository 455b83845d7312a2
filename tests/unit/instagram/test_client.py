"""`instagram.client` against respx: each Graph API call's request (the token only in its
header), and how its answer is read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from publisher import errors
from publisher.instagram.client import Client, ContainerStatus, Quota
from publisher.instagram.session import USER_AGENT
from tests.support.graphclient import (
    BASE,
    IG,
    T0,
    TOKEN,
    VERSION,
    Recorder,
    assert_token_only_in_header,
    form,
    graph_error,
    make_client,
)

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
    router.get(f"/{IG}").mock(return_value=graph_error(400, 190, 463))
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
