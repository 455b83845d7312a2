"""The sandbox answers like Meta where running unattended meets Meta: captions read back
without "@", throttling with usage headers, comments, and Instagram Login's token refresh."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest

from publisher.sandbox.faults import Faults
from publisher.sandbox.server import SandboxServer
from tests.support.daemon import ManualClock

TOKEN = "EAAB-sandbox-unattended-4c3b2a19"
IG = "17841400000000000"
VERSION = "v25.0"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
URL = "https://media.example.invalid/photo.jpg"  # never fetched: offline sandboxes only


@pytest.fixture
def make_sandbox(start_sandbox: Callable[..., SandboxServer]) -> Callable[..., SandboxServer]:
    """No media fetching; containers FINISHED at the first read."""
    return partial(start_sandbox, fetch_media=False, faults=Faults(processing_polls=0))


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return make_sandbox()


def graph(server: SandboxServer, token: str = TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.base_url}/{VERSION}",
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
        timeout=10,
    )


def post(api: httpx.Client, caption: str) -> str:
    container = api.post(f"/{IG}/media", data={"image_url": URL, "caption": caption})
    assert container.status_code == 200, container.text
    published = api.post(f"/{IG}/media_publish", data={"creation_id": container.json()["id"]})
    assert published.status_code == 200, published.text
    return str(published.json()["id"])


def code_of(response: httpx.Response) -> int:
    return int(response.json()["error"]["code"])


# --- captions read back ------------------------------------------------------------------------


def test_captions_read_back_whole_by_default(sandbox: SandboxServer) -> None:
    with graph(sandbox) as api:
        media_id = post(api, "Thanks @jane.doe and @joe! mail a@b.c")
        read = api.get(f"/{media_id}", params={"fields": "caption"}).json()
    assert read["caption"] == "Thanks @jane.doe and @joe! mail a@b.c"


def test_captions_read_back_without_at_when_set(sandbox: SandboxServer) -> None:
    with graph(sandbox) as api, httpx.Client(trust_env=False) as control:
        media_id = post(api, "Thanks @jane.doe and @joe! mail a@b.c")
        answer = control.post(
            f"{sandbox.base_url}/_sandbox/faults", json={"captions_without_at": True}
        )
        assert answer.status_code == 200
        node = api.get(f"/{media_id}", params={"fields": "caption"}).json()
        listing = api.get(f"/{IG}/media", params={"fields": "caption"}).json()
    assert node["caption"] == "Thanks jane.doe and joe! mail a@b.c"
    assert listing["data"][0]["caption"] == node["caption"]
    assert sandbox.posts()[0]["caption"] == "Thanks @jane.doe and @joe! mail a@b.c"  # as sent


def test_the_constructor_flag_strips_the_at_too(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(captions_without_at=True)
    with graph(server) as api:
        media_id = post(api, "Hi @jane")
        assert api.get(f"/{media_id}", params={"fields": "caption"}).json()["caption"] == "Hi jane"


# --- throttling ----------------------------------------------------------------------------


def test_every_answer_carries_usage_headers(sandbox: SandboxServer) -> None:
    sandbox.faults.usage_percent = 85
    with graph(sandbox) as api:
        answer = api.get(f"/{IG}", params={"fields": "id"})
    assert answer.status_code == 200
    assert json.loads(answer.headers["X-App-Usage"])["call_count"] == 85
    [entry] = json.loads(answer.headers["X-Business-Use-Case-Usage"])["sandbox"]
    assert (entry["type"], entry["call_count"]) == ("instagram", 85)
    assert entry["estimated_time_to_regain_access"] == 0


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
def test_throttled_calls_are_refused_with_full_usage_headers(
    sandbox: SandboxServer, code: int
) -> None:
    sandbox.faults.rate_limited_calls = 1
    sandbox.faults.rate_limit_code = code
    sandbox.faults.rate_limit_regain_minutes = 7
    with graph(sandbox) as api:
        refused = api.post(f"/{IG}/media", data={"image_url": URL})
        after = api.post(f"/{IG}/media", data={"image_url": URL})
    assert refused.status_code == 400
    assert code_of(refused) == code
    assert json.loads(refused.headers["X-App-Usage"])["call_count"] == 100
    [entry] = json.loads(refused.headers["X-Business-Use-Case-Usage"])["sandbox"]
    assert (entry["call_count"], entry["estimated_time_to_regain_access"]) == (100, 7)
    assert after.status_code == 200  # one call refused, then as usual
    assert sandbox.faults.rate_limited_calls == 0


# --- comments ------------------------------------------------------------------------------


def test_comments_are_made_and_listed(sandbox: SandboxServer) -> None:
    with graph(sandbox) as api:
        media_id = post(api, "A post")
        made = api.post(f"/{media_id}/comments", data={"message": "Link in bio"})
        assert made.status_code == 200, made.text
        other = api.post(f"/{media_id}/comments", data={"message": "Second"})
        listing = api.get(
            f"/{media_id}/comments", params={"fields": "id,text,username,timestamp"}
        ).json()
        count = api.get(f"/{media_id}", params={"fields": "comments_count"}).json()
        page = api.get(f"/{media_id}/comments", params={"fields": "text", "limit": "1"}).json()
        rest = api.get(
            f"/{media_id}/comments",
            params={"fields": "text", "after": page["paging"]["cursors"]["after"]},
        ).json()
    assert [item["id"] for item in listing["data"]] == [other.json()["id"], made.json()["id"]]
    first = listing["data"][1]
    assert first["text"] == "Link in bio"
    assert first["username"] == f"sandbox_{IG[-4:]}"
    assert first["timestamp"] == "2026-12-01T08:00:00+0000"
    assert count["comments_count"] == 2
    assert [item["text"] for item in page["data"] + rest["data"]] == ["Second", "Link in bio"]


@pytest.mark.parametrize(
    ("where", "form", "code"),
    [
        ("unknown", {"message": "hi"}, 100),
        ("post", {}, 100),
        ("post", {"message": "x" * 2201}, 100),
    ],
)
def test_bad_comments_are_refused(
    sandbox: SandboxServer, where: str, form: dict[str, str], code: int
) -> None:
    with graph(sandbox) as api:
        real = post(api, "A post")
        media_id = real if where == "post" else "17999999999999999"
        answer = api.post(f"/{media_id}/comments", data=form)
        assert answer.status_code == 400 and code_of(answer) == code
        assert api.get(f"/{real}/comments").json()["data"] == []  # nothing was made


def test_a_comment_write_with_fields_is_made_and_then_refused(sandbox: SandboxServer) -> None:
    # What one scheduler met (LESSONS.md): three retries of such a write left four comments.
    with graph(sandbox) as api:
        media_id = post(api, "A post")
        answer = api.post(
            f"/{media_id}/comments", params={"fields": "id"}, data={"message": "Link in bio"}
        )
        listing = api.get(f"/{media_id}/comments", params={"fields": "text"}).json()
    assert answer.status_code == 400
    assert [item["text"] for item in listing["data"]] == ["Link in bio"]


@pytest.mark.parametrize("how", ["drop", "502"])
def test_a_lost_comment_answer_leaves_the_comment_made(sandbox: SandboxServer, how: str) -> None:
    with graph(sandbox) as api:
        media_id = post(api, "A post")
        sandbox.faults.lose_comment_responses = 1
        sandbox.faults.lose_publish_with = how
        if how == "drop":
            with pytest.raises(httpx.TransportError):
                api.post(f"/{media_id}/comments", data={"message": "Link in bio"})
        else:
            assert (
                api.post(f"/{media_id}/comments", data={"message": "Link in bio"}).status_code
                == 502
            )
    with graph(sandbox) as api:
        listing = api.get(f"/{media_id}/comments", params={"fields": "text"}).json()
    assert [item["text"] for item in listing["data"]] == ["Link in bio"]
    assert sandbox.faults.lose_comment_responses == 0


# --- reel options ----------------------------------------------------------------------------

VIDEO_URL = "https://media.example.invalid/clip.mp4"  # never fetched: offline sandbox


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"image_url": URL, "trial_params": '{"graduation_strategy":"MANUAL"}'}, 100),
        ({"image_url": URL, "audio_name": "Song"}, 100),
        ({"media_type": "REELS", "video_url": VIDEO_URL, "trial_params": "{}"}, 100),
        ({"media_type": "REELS", "video_url": VIDEO_URL, "trial_params": "MANUAL"}, 100),
    ],
)
def test_reel_options_are_checked(sandbox: SandboxServer, form: dict[str, str], code: int) -> None:
    with graph(sandbox) as api:
        answer = api.post(f"/{IG}/media", data=form)
    assert answer.status_code == 400 and code_of(answer) == code


def test_a_trial_reel_keeps_its_options(sandbox: SandboxServer) -> None:
    trial = '{"graduation_strategy":"SS_PERFORMANCE"}'
    form = {"media_type": "REELS", "video_url": VIDEO_URL, "trial_params": trial}
    with graph(sandbox) as api:
        container = api.post(f"/{IG}/media", data={**form, "audio_name": "Original sound"})
        assert container.status_code == 200, container.text
        for _ in range(5):
            api.get(f"/{container.json()['id']}", params={"fields": "status_code"})
        published = api.post(f"/{IG}/media_publish", data={"creation_id": container.json()["id"]})
        assert published.status_code == 200, published.text
    [kept] = sandbox.posts()
    assert kept["extras"]["trial_params"] == trial
    assert kept["extras"]["audio_name"] == "Original sound"


# --- token refresh -------------------------------------------------------------------------


def refresh(server: SandboxServer, token: str, grant: str = "ig_refresh_token") -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10) as http:
        return http.get(
            f"{server.base_url}/refresh_access_token",
            params={"grant_type": grant, "access_token": token},
        )


def test_a_token_is_refreshed_once_it_is_a_day_old(
    make_sandbox: Callable[..., SandboxServer], clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="publisher.sandbox")
    server = make_sandbox(token=TOKEN)
    with graph(server) as api:
        assert api.get(f"/{IG}", params={"fields": "id"}).status_code == 200
    too_new = refresh(server, TOKEN)
    assert too_new.status_code == 400 and code_of(too_new) == 100
    assert "24 hours" in too_new.json()["error"]["message"]

    clock.now += timedelta(hours=24)
    answer = refresh(server, TOKEN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 59 * 86400
    new = body["access_token"]
    assert new != TOKEN

    with graph(server) as old_api, graph(server, new) as new_api:
        refused = old_api.get(f"/{IG}", params={"fields": "id"})
        assert refused.status_code == 400 and code_of(refused) == 190
        assert new_api.get(f"/{IG}", params={"fields": "id"}).status_code == 200
    again = refresh(server, TOKEN)
    assert again.status_code == 400 and code_of(again) == 190
    assert refresh(server, new, grant="fb_exchange_token").status_code == 400
    # the refresh's URL is logged without its query
    time.sleep(0.05)
    assert TOKEN not in caplog.text and new not in caplog.text


def test_a_refreshed_token_stays_replaced_across_restarts(
    make_sandbox: Callable[..., SandboxServer], tmp_path: Path, clock: ManualClock
) -> None:
    state = tmp_path / "sandbox.json"
    faults = Faults(processing_polls=0, refresh_min_age_s=0)
    server = make_sandbox(state_path=state, faults=faults)
    with graph(server) as api:
        media_id = post(api, "A post")
        api.post(f"/{media_id}/comments", data={"message": "kept"})
    new = refresh(server, TOKEN).json()["access_token"]
    server.close()
    assert TOKEN not in state.read_text() and new not in state.read_text()

    again = make_sandbox(state_path=state, faults=Faults(processing_polls=0))
    with graph(again) as old_api, graph(again, new) as new_api:
        assert code_of(old_api.get(f"/{IG}", params={"fields": "id"})) == 190
        listing = new_api.get(f"/{media_id}/comments", params={"fields": "text"}).json()
    assert [item["text"] for item in listing["data"]] == ["kept"]
