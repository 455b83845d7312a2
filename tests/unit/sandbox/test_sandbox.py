"""The Graph API sandbox over real loopback HTTP: every endpoint, every fault, Meta's error
shapes, durable state, and media really fetched from the built-in media server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from publisher.errors import StoreCorrupt
from publisher.hosting.mediahost import ServeHost
from publisher.sandbox import faults as faults_module
from publisher.sandbox import params
from publisher.sandbox.faults import Faults
from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock
from tests.support.paths import REPO
from tests.support.videos import write_video

TOKEN = "EAAB-sandbox-canary-7d1e9c2b"
IG = "17841400000000000"
OTHER_IG = "17841499999999999"
VERSION = "v25.0"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
URL = "https://media.example.invalid/photo.jpg"  # never fetched: offline sandboxes only
VIDEO_URL = "https://media.example.invalid/clip.mp4"
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 150_000
AVI = b"RIFF\x00\x10\x00\x00AVI LIST" + b"\x00" * 20_000


def jpeg(path: Path, size: tuple[int, int]) -> None:
    Image.new("RGB", size, (200, 40, 40)).save(path, "JPEG", quality=70)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Tiny real videos, made once for the module."""
    folder = tmp_path_factory.mktemp("videos")
    small: dict[str, Any] = {"seconds": 1, "fps": 24, "size": (32, 32)}
    made = {
        "clip.mp4": write_video(folder / "clip.mp4", **small),
        "clip.mov": write_video(folder / "clip.mov", **small, audio=None),
        "vp9.mp4": write_video(folder / "vp9.mp4", **small, codec="libvpx-vp9", audio=None),
        "moov-last.mp4": write_video(folder / "moov-last.mp4", **small, moov_first=False),
    }
    return {name: path.read_bytes() for name, path in made.items()}


@pytest.fixture
def media(tmp_path: Path, videos: dict[str, bytes]) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    jpeg(folder / "square.jpg", (1080, 1080))
    jpeg(folder / "portrait.jpg", (1080, 1350))
    jpeg(folder / "tall.jpg", (1080, 1920))
    jpeg(folder / "wide.jpg", (1920, 1000))
    Image.new("RGB", (1080, 1080)).save(folder / "image.png", "PNG")
    (folder / "page.jpg").write_bytes(b"<html><body>Please log in</body></html>")
    (folder / "huge.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * (8 * 1024 * 1024 + 1))
    # real videos: the sandbox reads their codecs and moov atom with PyAV (sandbox.videocheck)
    for name, data in videos.items():
        (folder / name).write_bytes(data)
    (folder / "ftyp-only.mp4").write_bytes(MP4)
    (folder / "movie.mp4").write_bytes(AVI)
    (folder / "gone.jpg").write_bytes(b"")
    return folder


@pytest.fixture
def host(media: Path, tmp_path: Path, clock: ManualClock) -> Iterator[ServeHost]:
    served = ServeHost(
        content_dir=media,
        state_dir=tmp_path / "state",
        listen=("127.0.0.1", 0),
        public_url="http://127.0.0.1:0",
        link_ttl=timedelta(hours=2),
        clock=clock,
    )
    served.start()
    yield served
    served.stop()


@pytest.fixture
def make_sandbox(start_sandbox: Callable[..., SandboxServer]) -> Callable[..., SandboxServer]:
    return partial(start_sandbox, token=TOKEN)


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer], tmp_path: Path) -> SandboxServer:
    """Fetches media, keeps state in a file, containers need the default 2 polls."""
    return make_sandbox(state_path=tmp_path / "sandbox.json")


@pytest.fixture
def offline(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    """No media fetching, containers FINISHED at the first read."""
    return make_sandbox(fetch_media=False, faults=Faults(processing_polls=0))


def client(server: SandboxServer, token: str = TOKEN, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("timeout", 10)
    return httpx.Client(
        base_url=f"{server.base_url}/{VERSION}",
        headers={"Authorization": f"Bearer {token}"} if token else {},
        trust_env=False,
        **kwargs,
    )


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with client(sandbox) as http:
        yield http


@pytest.fixture
def off(offline: SandboxServer) -> Iterator[httpx.Client]:
    with client(offline) as http:
        yield http


def create(api: httpx.Client, ig: str = IG, **form: str) -> str:
    response = api.post(f"/{ig}/media", data=form)
    assert response.status_code == 200, response.text
    container_id = response.json()["id"]
    assert re.fullmatch(r"\d{17}", container_id)
    return str(container_id)


def status(api: httpx.Client, container_id: str) -> dict[str, Any]:
    response = api.get(f"/{container_id}", params={"fields": "status_code,status"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def finish(api: httpx.Client, container_id: str, max_polls: int = 20) -> tuple[str, int]:
    """Poll until the container leaves IN_PROGRESS; return its status and the IN_PROGRESS
    reads seen."""
    for polls in range(max_polls):
        code = status(api, container_id)["status_code"]
        if code != "IN_PROGRESS":
            return str(code), polls
    raise AssertionError(f"{container_id} still IN_PROGRESS after {max_polls} reads")


def publish(api: httpx.Client, container_id: str, ig: str = IG) -> httpx.Response:
    return api.post(f"/{ig}/media_publish", data={"creation_id": container_id})


def error_of(response: httpx.Response) -> dict[str, Any]:
    """Meta's error object of a response, after checking its shape."""
    assert response.status_code in (400, 500), (response.status_code, response.text)
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] in ("OAuthException", "GraphMethodException")
    assert isinstance(error["code"], int)
    assert isinstance(error["is_transient"], bool)
    assert re.fullmatch(r"A[A-Za-z0-9_-]{22}", error["fbtrace_id"])
    return error


def codes(response: httpx.Response) -> tuple[int, int | None]:
    error = error_of(response)
    return error["code"], error.get("error_subcode")


def poll_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


# --- the whole flow, each type, media fetched from the media server ---------------------------


def _build(api: httpx.Client, host: ServeHost, media: Path, kind: str) -> str:
    def link(name: str) -> str:
        return host.url_for(media / name)

    if kind == "post":
        return create(api, image_url=link("square.jpg"), caption="Sunrise #sky @jane")
    if kind == "reel":
        return create(
            api,
            media_type="REELS",
            video_url=link("clip.mp4"),
            cover_url=link("square.jpg"),
            share_to_feed="true",
            caption="A reel",
        )
    if kind == "story image":
        return create(api, media_type="STORIES", image_url=link("tall.jpg"))
    if kind == "story video":
        return create(api, media_type="STORIES", video_url=link("clip.mov"))
    children = [
        create(api, image_url=link("portrait.jpg"), is_carousel_item="true"),
        create(api, media_type="VIDEO", video_url=link("clip.mp4"), is_carousel_item="true"),
    ]
    assert [finish(api, child)[0] for child in children] == ["FINISHED", "FINISHED"]
    return create(api, media_type="CAROUSEL", children=",".join(children), caption="Two")


@pytest.mark.parametrize(
    ("kind", "polls", "media_type", "product", "permalink"),
    [
        ("post", 2, "IMAGE", "FEED", r"https://www\.instagram\.com/p/[\w-]{11}/"),
        ("reel", 4, "VIDEO", "REELS", r"https://www\.instagram\.com/reel/[\w-]{11}/"),
        ("story image", 2, "IMAGE", "STORY", r"https://www\.instagram\.com/stories/sandbox_0000/\d{17}/"),
        ("story video", 4, "VIDEO", "STORY", r"https://www\.instagram\.com/stories/sandbox_0000/\d{17}/"),
        ("carousel", 2, "CAROUSEL_ALBUM", "FEED", r"https://www\.instagram\.com/p/[\w-]{11}/"),
    ],
)  # fmt: skip
def test_each_type_publishes_from_the_media_server(
    sandbox: SandboxServer,
    api: httpx.Client,
    host: ServeHost,
    media: Path,
    kind: str,
    polls: int,
    media_type: str,
    product: str,
    permalink: str,
) -> None:
    container_id = _build(api, host, media, kind)
    assert finish(api, container_id) == ("FINISHED", polls)
    response = publish(api, container_id)
    assert response.status_code == 200, response.text
    media_id = response.json()["id"]
    assert re.fullmatch(r"\d{17}", media_id) and media_id != container_id
    assert status(api, container_id)["status_code"] == "PUBLISHED"

    fields = "id,caption,media_type,media_product_type,permalink,shortcode,timestamp"
    post = api.get(f"/{media_id}", params={"fields": fields}).json()
    assert post["id"] == media_id
    assert (post["media_type"], post["media_product_type"]) == (media_type, product)
    assert re.fullmatch(permalink, post["permalink"])
    assert post["timestamp"] == "2026-12-01T08:00:00+0000"
    if product != "STORY":
        assert post["permalink"].endswith(f"/{post['shortcode']}/")
    (recorded,) = sandbox.posts()
    assert recorded["id"] == media_id and recorded["container_id"] == container_id
    assert sandbox.publish_calls() == {container_id: 1}


# --- POST /media parameters ------------------------------------------------------------------

CAPTION_OK = [
    "x" * 2200,
    " ".join(f"#tag{i}" for i in range(30)),
    " ".join(f"@user{i}" for i in range(20)),
    "write to jane@example.org #one",
]


@pytest.mark.parametrize("caption", CAPTION_OK)
def test_captions_at_the_limits_are_taken(off: httpx.Client, caption: str) -> None:
    create(off, image_url=URL, caption=caption)


@pytest.mark.parametrize(
    ("form", "code", "subcode"),
    [
        ({"image_url": URL, "media_type": "PHOTO"}, 100, 2207023),
        ({"video_url": VIDEO_URL, "media_type": "VIDEO"}, 100, 2207023),
        ({"media_type": "CAROUSEL", "children": "18000000000000001"}, 100, 2207028),
        ({"media_type": "CAROUSEL", "children": ",".join(["18000000000000001"] * 11)},
         100, 2207028),
        ({"media_type": "CAROUSEL"}, 100, 2207028),
        ({"image_url": URL, "caption": "x" * 2201}, 36004, 2207010),
        ({"image_url": URL, "caption": " ".join(f"#t{i}" for i in range(31))}, 100, 2207040),
        ({"image_url": URL, "caption": " ".join(f"@u{i}" for i in range(21))}, 100, 2207040),
        ({"image_url": URL, "is_carousel_item": "true", "caption": "hi"}, 100, None),
        ({"media_type": "REELS"}, 100, None),
        ({"media_type": "REELS", "image_url": URL}, 100, None),
        ({"media_type": "STORIES", "image_url": URL, "is_carousel_item": "true"}, 100, None),
        ({"image_url": URL, "collaborators": '["@jane"]'}, 100, None),
        ({"image_url": URL, "collaborators": '["a","b","c","d"]'}, 100, None),
        ({"image_url": URL, "video_url": VIDEO_URL}, 100, None),
        ({"video_url": VIDEO_URL}, 100, None),
        ({"image_url": URL, "share_to_feed": "true"}, 100, None),
        ({"image_url": URL, "is_carousel_item": "maybe"}, 100, None),
        ({"media_type": "REELS", "video_url": VIDEO_URL, "thumb_offset": "-5"}, 1, 2207057),
        ({"image_url": URL, "user_tags": "[{\"username\": \"jane\"}]"}, 100, None),
        ({"media_type": "STORIES", "image_url": URL, "collaborators": "jane"}, 100, None),
        ({}, 100, None),
    ],
)  # fmt: skip
def test_container_parameters_are_checked_like_meta(
    off: httpx.Client, form: dict[str, str], code: int, subcode: int | None
) -> None:
    assert codes(off.post(f"/{IG}/media", data=form)) == (code, subcode)


def test_a_json_body_is_taken_too(off: httpx.Client) -> None:
    response = off.post(f"/{IG}/media", json={"image_url": URL, "caption": "json body"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("caption", "hashtags", "mentions"),
    [
        ("#a #b c#d ##e", 2, 0),
        ("@jane @john.doe mail@example.org", 0, 2),
        ("Ünïcödé #çà @ñ", 1, 0),
        ("it&#39;s #ok", 1, 0),
        ("", 0, 0),
    ],
)
def test_tag_counting(caption: str, hashtags: int, mentions: int) -> None:
    assert (params.hashtags(caption), params.mentions(caption)) == (hashtags, mentions)


@pytest.mark.parametrize(
    ("setup", "code", "subcode"),
    [
        ("unknown child", 24, 2207006),
        ("child of another account", 24, 2207006),
        ("child not made as an item", 100, None),
        ("child still processing", 9007, 2207027),
        ("child in ERROR", 100, None),
    ],
)
def test_carousel_children_must_exist_and_be_finished(
    offline: SandboxServer, off: httpx.Client, setup: str, code: int, subcode: int | None
) -> None:
    good = create(off, image_url=URL, is_carousel_item="true")
    if setup == "unknown child":
        other = "18999999999999999"
    elif setup == "child of another account":
        other = create(off, ig=OTHER_IG, image_url=URL, is_carousel_item="true")
    elif setup == "child not made as an item":
        other = create(off, image_url=URL)
    elif setup == "child still processing":
        offline.faults.processing_polls = 1
        other = create(off, image_url=URL, is_carousel_item="true")
    else:
        offline.faults.error_containers = 1
        other = create(off, image_url=URL, is_carousel_item="true")
    response = off.post(
        f"/{IG}/media", data={"media_type": "CAROUSEL", "children": f"{good},{other}"}
    )
    assert codes(response) == (code, subcode)


def test_carousel_children_as_a_json_list(off: httpx.Client) -> None:
    children = [create(off, image_url=URL, is_carousel_item="true") for _ in range(2)]
    parent = create(off, media_type="CAROUSEL", children=json.dumps(children))
    assert finish(off, parent) == ("FINISHED", 0)
    assert publish(off, parent).status_code == 200
    assert codes(publish(off, children[0])) == (100, None)  # an item is not published alone


# --- media fetched and refused like Instagram ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "form", "code", "subcode"),
    [
        ("image.png", {}, 36001, 2207005),
        ("page.jpg", {}, 36001, 2207005),
        ("huge.jpg", {}, 36000, 2207004),
        ("tall.jpg", {}, 36003, 2207009),
        ("wide.jpg", {}, 36003, 2207009),
        ("tall.jpg", {"is_carousel_item": "true"}, 36003, 2207009),
        ("image.png", {"media_type": "STORIES"}, 36001, 2207005),
        ("tall.jpg", {"media_type": "STORIES"}, None, None),
        ("portrait.jpg", {}, None, None),
        ("square.jpg", {"is_carousel_item": "true"}, None, None),
    ],
)
def test_images_are_fetched_and_checked(
    api: httpx.Client,
    host: ServeHost,
    media: Path,
    name: str,
    form: dict[str, str],
    code: int | None,
    subcode: int | None,
) -> None:
    response = api.post(f"/{IG}/media", data={**form, "image_url": host.url_for(media / name)})
    if code is None:
        assert response.status_code == 200, response.text
    else:
        assert codes(response) == (code, subcode)


def test_a_reel_cover_is_checked_as_a_jpeg(api: httpx.Client, host: ServeHost, media: Path) -> None:
    form = {
        "media_type": "REELS",
        "video_url": host.url_for(media / "clip.mp4"),
        "cover_url": host.url_for(media / "image.png"),
    }
    assert codes(api.post(f"/{IG}/media", data=form)) == (36001, 2207005)


def test_an_unreachable_image_names_its_url(
    api: httpx.Client, host: ServeHost, media: Path
) -> None:
    url = host.url_for(media / "gone.jpg")
    (media / "gone.jpg").unlink()
    for broken in (url, "http://127.0.0.1:9/nothing.jpg", "ftp://127.0.0.1/x.jpg"):
        error = error_of(api.post(f"/{IG}/media", data={"image_url": broken}))
        assert (error["code"], error["error_subcode"]) == (9004, 2207052)
        assert error["error_user_msg"] == f"The media could not be fetched from this URI: {broken}"


class _NoRangeHandler(SimpleHTTPRequestHandler):
    """A file server without Range support (python -m http.server)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def no_range_server(media: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_NoRangeHandler, directory=str(media)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("source", "subcode"),
    [
        ("movie.mp4", 2207026),  # an AVI named .mp4
        ("vp9.mp4", 2207026),  # an MP4 in a codec Instagram does not take
        ("moov-last.mp4", 2207026),  # not streamable: the index at the end
        ("ftyp-only.mp4", 2207026),  # the first bytes of an MP4, and nothing after
        ("page.jpg", 2207026),  # HTML served as image/jpeg
        ("gone", 2207052),
        ("no-range", 2207077),
        ("clip.mp4", None),
    ],
)
def test_videos_are_fetched_with_a_range_request_and_checked(
    api: httpx.Client,
    host: ServeHost,
    media: Path,
    no_range_server: str,
    source: str,
    subcode: int | None,
) -> None:
    if source == "gone":
        url = host.url_for(media / "gone.jpg")
        (media / "gone.jpg").unlink()
    elif source == "no-range":
        url = f"{no_range_server}/clip.mp4"
    else:
        url = host.url_for(media / source)
    container_id = create(api, media_type="REELS", video_url=url)
    final, polls = finish(api, container_id)
    assert polls == 4  # processing takes its polls whatever the outcome
    if subcode is None:
        assert final == "FINISHED"
    else:
        assert final == "ERROR"
        assert status(api, container_id)["status"] == (
            f"Error: Media upload has failed with error code {subcode}"
        )
        assert codes(publish(api, container_id)) == (9007, 2207027)


# --- publishing rules ----------------------------------------------------------------------------


def test_publishing_too_early_is_9007_and_posts_nothing(
    sandbox: SandboxServer, api: httpx.Client, host: ServeHost, media: Path
) -> None:
    container_id = create(api, image_url=host.url_for(media / "square.jpg"))
    error = error_of(publish(api, container_id))
    assert (error["code"], error["error_subcode"]) == (9007, 2207027)
    assert (
        error["error_user_msg"] == "The media is not ready for publishing, please wait for a moment"
    )
    assert sandbox.posts() == []
    finish(api, container_id)
    assert publish(api, container_id).status_code == 200


def test_a_published_container_is_never_published_again(
    offline: SandboxServer, off: httpx.Client
) -> None:
    container_id = create(off, image_url=URL, caption="once")
    finish(off, container_id)
    assert publish(off, container_id).status_code == 200
    for _ in range(3):
        assert codes(publish(off, container_id)) == (100, None)
    assert len(offline.posts()) == 1
    assert offline.publish_calls() == {container_id: 4}


@pytest.mark.parametrize(
    ("form", "code", "subcode"),
    [
        ({"creation_id": "18999999999999999"}, 24, 2207006),
        ({}, 100, None),
    ],
)
def test_publishing_an_unknown_container(
    off: httpx.Client, form: dict[str, str], code: int, subcode: int | None
) -> None:
    assert codes(off.post(f"/{IG}/media_publish", data=form)) == (code, subcode)


def test_a_container_of_another_account_cannot_be_published(off: httpx.Client) -> None:
    container_id = create(off, ig=OTHER_IG, image_url=URL)
    finish(off, container_id)
    assert codes(publish(off, container_id, ig=IG)) == (24, 2207006)


def test_error_containers_fault(offline: SandboxServer, off: httpx.Client) -> None:
    offline.faults.error_containers = 1
    failed = create(off, image_url=URL)
    fine = create(off, image_url=URL)
    assert status(off, failed) == {
        "id": failed,
        "status_code": "ERROR",
        "status": "Error: Media upload has failed with error code 2207026",
    }
    assert status(off, fine)["status_code"] == "FINISHED"
    assert offline.faults.error_containers == 0
    assert codes(publish(off, failed)) == (9007, 2207027)
    assert offline.posts() == []


def test_expire_containers_fault(offline: SandboxServer, off: httpx.Client) -> None:
    offline.faults.expire_containers = 1
    expired = create(off, image_url=URL)
    assert status(off, expired)["status_code"] == "EXPIRED"
    assert codes(publish(off, expired)) == (-2, 2207020)
    assert status(off, create(off, image_url=URL))["status_code"] == "FINISHED"


def test_containers_expire_after_24_hours(off: httpx.Client, clock: ManualClock) -> None:
    container_id = create(off, image_url=URL)
    assert status(off, container_id)["status_code"] == "FINISHED"
    clock.now = T0 + timedelta(hours=24, seconds=1)
    assert status(off, container_id)["status_code"] == "EXPIRED"
    assert codes(publish(off, container_id)) == (-2, 2207020)


def test_processing_polls_is_read_when_a_container_is_made(
    offline: SandboxServer, off: httpx.Client
) -> None:
    offline.faults.processing_polls = 3
    image = create(off, image_url=URL)
    video = create(off, media_type="REELS", video_url=VIDEO_URL)
    offline.faults.processing_polls = 0
    assert finish(off, image) == ("FINISHED", 3)
    assert finish(off, video) == ("FINISHED", 5)


def test_quota_exhausted_fault(offline: SandboxServer, off: httpx.Client) -> None:
    offline.faults.quota_used_extra = offline.faults.quota_total
    container_id = create(off, image_url=URL)
    finish(off, container_id)
    assert codes(publish(off, container_id)) == (9, 2207042)
    assert offline.posts() == []
    limit = off.get(f"/{IG}/content_publishing_limit", params={"fields": "config,quota_usage"})
    assert limit.json() == {
        "data": [{"quota_usage": 100, "config": {"quota_total": 100, "quota_duration": 86400}}]
    }


def test_the_quota_counts_posts_of_the_last_24_hours(
    offline: SandboxServer, off: httpx.Client, clock: ManualClock
) -> None:
    offline.faults.quota_total = 2
    for _ in range(2):
        assert publish(off, create(off, image_url=URL)).status_code == 200
    assert codes(publish(off, create(off, image_url=URL))) == (9, 2207042)
    other = create(off, ig=OTHER_IG, image_url=URL)  # quotas are per account
    assert publish(off, other, ig=OTHER_IG).status_code == 200
    quota = off.get(f"/{IG}/content_publishing_limit").json()
    assert quota == {"data": [{"quota_usage": 2}]}  # without fields: only quota_usage
    clock.now = T0 + timedelta(hours=24)
    assert publish(off, create(off, image_url=URL)).status_code == 200


# --- lost answers, delays, transient errors, tokens ---------------------------------------------


@pytest.mark.parametrize("lose_with", ["drop", "502", "500"])
def test_a_lost_publish_answer_still_makes_exactly_one_post(
    make_sandbox: Callable[..., SandboxServer], tmp_path: Path, lose_with: str
) -> None:
    state = tmp_path / "lost.json"
    sandbox = make_sandbox(state_path=state, fetch_media=False, faults=Faults(processing_polls=0))
    sandbox.faults.lose_publish_responses = 1
    sandbox.faults.lose_publish_with = lose_with
    with client(sandbox) as http:
        container_id = create(http, image_url=URL)
        if lose_with == "drop":
            with pytest.raises(httpx.RemoteProtocolError):
                publish(http, container_id)
        elif lose_with == "500":  # Meta's transient error, although the post was made
            response = publish(http, container_id)
            assert response.status_code == 500
            assert codes(response) == (2, None)
        else:
            response = publish(http, container_id)
            assert response.status_code == 502
            with pytest.raises(ValueError):
                response.json()
        (post,) = sandbox.posts()
        # Committed to disk before the answer was lost.
        saved = json.loads(state.read_text())
        assert [p["id"] for p in saved["posts"]] == [post["id"]]
        assert status(http, container_id)["status_code"] == "PUBLISHED"
        assert codes(publish(http, container_id)) == (100, None)
        assert len(sandbox.posts()) == 1
        assert sandbox.faults.lose_publish_responses == 0
        assert publish(http, create(http, image_url=URL)).status_code == 200


def test_a_slow_publish_times_out_after_the_post_is_made(offline: SandboxServer) -> None:
    offline.faults.publish_delay_s = 1.0
    timeout = httpx.Timeout(5.0, read=0.1)
    with client(offline, timeout=timeout) as http:
        container_id = create(http, image_url=URL)
        with pytest.raises(httpx.ReadTimeout):
            publish(http, container_id)
    poll_until(lambda: len(offline.posts()) == 1)
    assert offline.publish_calls() == {container_id: 1}


def test_transient_5xx_fault(offline: SandboxServer, off: httpx.Client) -> None:
    container_id = create(off, image_url=URL)
    offline.faults.transient_5xx_rate = 1.0
    response = publish(off, container_id)
    assert response.status_code == 500
    error = error_of(response)
    assert (error["code"], error["is_transient"]) == (2, True)
    assert offline.posts() == [] and offline.publish_calls() == {}

    offline.faults.transient_5xx_rate = 0.5
    answers = [off.get(f"/{container_id}").status_code for _ in range(30)]
    assert set(answers) == {200, 500}
    offline.faults.transient_5xx_rate = 0.0
    assert publish(off, container_id).status_code == 200
    # The control endpoints never fail: tests must be able to switch the fault off.
    offline.faults.transient_5xx_rate = 1.0
    with httpx.Client(trust_env=False) as control:
        assert control.get(f"{offline.base_url}/_sandbox/posts").status_code == 200


def test_transient_5xx_is_repeatable_from_the_seed(
    make_sandbox: Callable[..., SandboxServer],
) -> None:
    runs = []
    for _ in range(2):
        server = make_sandbox(fetch_media=False, faults=Faults(transient_5xx_rate=0.5))
        with client(server) as http:
            runs.append(
                [http.get(f"/{IG}", params={"fields": "id"}).status_code for _ in range(20)]
            )
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 500}


def test_invalid_token_fault(offline: SandboxServer, off: httpx.Client) -> None:
    offline.faults.invalid_token = True
    for response in (
        off.get("/me", params={"fields": "user_id,username"}),
        off.post(f"/{IG}/media", data={"image_url": URL}),
        off.get(f"/{IG}/content_publishing_limit"),
    ):
        assert codes(response) == (190, 463)
        assert response.status_code == 400


@pytest.mark.parametrize(
    ("headers", "code", "subcode"),
    [
        ({}, 190, None),
        ({"Authorization": "Bearer"}, 190, None),
        ({"Authorization": f"Basic {TOKEN}"}, 190, None),
        ({"Authorization": "Bearer someone-elses-token"}, 190, 467),
        ({"Authorization": f"OAuth {TOKEN}"}, None, None),
        ({"Authorization": f"Bearer {TOKEN}"}, None, None),
    ],
)
def test_the_token_goes_in_the_authorization_header(
    offline: SandboxServer, headers: dict[str, str], code: int | None, subcode: int | None
) -> None:
    with httpx.Client(base_url=f"{offline.base_url}/{VERSION}", trust_env=False) as http:
        response = http.get(f"/{IG}", params={"fields": "id,username"}, headers=headers)
    if code is None:
        assert response.json() == {"id": IG, "username": "sandbox_0000"}
    else:
        assert response.status_code == 400
        assert codes(response) == (code, subcode)
        if subcode is None:
            assert error_of(response)["message"] == (
                "Invalid OAuth access token - Cannot parse access token"
            )


def test_any_token_passes_when_none_is_set(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(fetch_media=False, token=None)
    with client(server, token="anything-at-all") as http:
        assert http.get(f"/{IG}", params={"fields": "id"}).status_code == 200
    with client(server, token="") as http:
        assert codes(http.get(f"/{IG}", params={"fields": "id"})) == (190, None)


@pytest.mark.parametrize("where", ["query", "body"])
def test_a_token_outside_the_header_is_refused(off: httpx.Client, where: str) -> None:
    if where == "query":
        response = off.get(f"/{IG}", params={"fields": "id", "access_token": TOKEN})
    else:
        response = off.post(f"/{IG}/media", data={"image_url": URL, "access_token": TOKEN})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 100
    assert "Authorization header" in error["message"]
    assert TOKEN not in response.text


def test_every_error_has_its_own_fbtrace_id(off: httpx.Client) -> None:
    ids = {error_of(off.get("/18999999999999999"))["fbtrace_id"] for _ in range(5)}
    assert len(ids) == 5


# --- reads ----------------------------------------------------------------------------------------


def _publish_at(
    off: httpx.Client, clock: ManualClock, minutes: int, ig: str = IG, **form: str
) -> str:
    clock.now = T0 + timedelta(minutes=minutes)
    response = publish(off, create(off, ig, **form), ig=ig)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_media_listing_is_newest_first_with_cursor_paging(
    offline: SandboxServer, off: httpx.Client, clock: ManualClock
) -> None:
    posts = [_publish_at(off, clock, i, image_url=URL, caption=f"p{i}") for i in range(5)]
    story = _publish_at(off, clock, 6, media_type="STORIES", image_url=URL)
    _publish_at(off, clock, 7, ig=OTHER_IG, image_url=URL)  # another account's post

    seen: list[str] = []
    query = {"fields": "id,caption,timestamp", "limit": "2"}
    pages = 0
    while True:
        body = off.get(f"/{IG}/media", params=query).json()
        pages += 1
        seen += [item["id"] for item in body["data"]]
        assert all(set(item) == {"id", "caption", "timestamp"} for item in body["data"])
        if "next" not in body["paging"]:
            break
        assert "access_token" not in body["paging"]["next"]
        query = {**query, "after": body["paging"]["cursors"]["after"]}
    assert seen == posts[::-1] and pages == 3

    first = off.get(f"/{IG}/media", params={"fields": "id", "limit": "2"}).json()
    following = off.get(first["paging"]["next"]).json()  # the next URL works as it is
    assert [item["id"] for item in following["data"]] == posts[2:0:-1]

    stories = off.get(f"/{IG}/stories", params={"fields": "id,media_product_type"}).json()
    assert stories["data"] == [{"id": story, "media_product_type": "STORY"}]
    since = int((T0 + timedelta(minutes=3)).timestamp())
    recent = off.get(f"/{IG}/media", params={"since": str(since)}).json()
    assert [item["id"] for item in recent["data"]] == [posts[4], posts[3]]

    clock.now = T0 + timedelta(hours=25)
    assert off.get(f"/{IG}/stories").json() == {"data": []}
    assert len(off.get(f"/{IG}/media").json()["data"]) == 5


@pytest.mark.parametrize(
    "query", [{"after": "bm90LWEtY3Vyc29y"}, {"limit": "0"}, {"limit": "x"}, {"fields": "nope"}]
)
def test_bad_listing_queries(off: httpx.Client, query: dict[str, str]) -> None:
    _ = create(off, image_url=URL)
    assert codes(off.get(f"/{IG}/media", params=query)) == (100, None)


def test_account_reads(offline: SandboxServer, off: httpx.Client) -> None:
    account = off.get(f"/{IG}", params={"fields": "id,username,media_count"}).json()
    assert account == {"id": IG, "username": "sandbox_0000", "media_count": 0}
    me = off.get("/me", params={"fields": "id,user_id,username"}).json()
    assert (me["user_id"], me["username"]) == (IG, "sandbox_0000")
    assert me["id"] != IG  # app-scoped, like Instagram Login: use user_id
    token = off.get("/debug_token").json()["data"]
    assert token["is_valid"] is True
    assert token["expires_at"] == int((T0 + timedelta(days=60)).timestamp())


@pytest.mark.parametrize(
    ("path", "query", "code", "subcode"),
    [
        ("/18999999999999999", {"fields": "status_code"}, 100, 33),
        ("/18999999999999999", {}, 100, 33),
        (f"/{IG}/nonsense", {}, 2500, None),
        ("/not-a-node", {}, 100, 33),
    ],
)
def test_unknown_reads(
    off: httpx.Client, path: str, query: dict[str, str], code: int, subcode: int | None
) -> None:
    assert codes(off.get(path, params=query)) == (code, subcode)


def test_unknown_fields_are_refused(off: httpx.Client) -> None:
    container_id = create(off, image_url=URL)
    media_id = publish(off, container_id).json()["id"]
    for node in (container_id, media_id):
        error = error_of(off.get(f"/{node}", params={"fields": "id,bogus"}))
        assert error["code"] == 100 and "nonexisting field (bogus)" in error["message"]


def test_a_path_without_version_is_unknown(offline: SandboxServer) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, trust_env=False) as http:
        response = http.get(f"{offline.base_url}/{IG}/media")
    assert codes(response) == (2500, None)


# --- state, control, logs, lifecycle ------------------------------------------------------------


def test_state_survives_a_restart(
    make_sandbox: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    first = make_sandbox(state_path=state, fetch_media=False, faults=Faults(processing_polls=0))
    with client(first) as http:
        published = create(http, image_url=URL, caption="kept")
        waiting = create(http, image_url=URL)
        media_id = publish(http, published).json()["id"]
    first.close()

    second = make_sandbox(state_path=state, fetch_media=False)
    with client(second) as http:
        assert [post["id"] for post in second.posts()] == [media_id]
        assert status(http, published)["status_code"] == "PUBLISHED"
        assert codes(publish(http, published)) == (100, None)
        assert publish(http, waiting).status_code == 200
        listed = http.get(f"/{IG}/media", params={"fields": "caption"}).json()["data"]
        assert [item.get("caption") for item in listed] == [None, "kept"]
    assert second.publish_calls() == {published: 2, waiting: 1}
    assert TOKEN not in state.read_text()


def test_a_damaged_state_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(StoreCorrupt, match="state.json"):
        SandboxServer(state_path=state, fetch_media=False)
    assert state.read_text() == "{not json"


def test_control_endpoints(offline: SandboxServer, off: httpx.Client) -> None:
    base = offline.base_url
    with httpx.Client(trust_env=False) as control:  # no token needed
        assert control.get(f"{base}/_sandbox/faults").json() == faults_module.to_json(
            offline.faults
        )
        changed = control.post(
            f"{base}/_sandbox/faults", json={"processing_polls": 0, "quota_total": 7}
        )
        assert changed.status_code == 200
        assert (offline.faults.processing_polls, offline.faults.quota_total) == (0, 7)
        for bad in ({"nope": 1}, {"processing_polls": -1}, {"invalid_token": "yes"}, [1]):
            assert control.post(f"{base}/_sandbox/faults", json=bad).status_code == 400
        container_id = create(off, image_url=URL)
        media_id = publish(off, container_id).json()["id"]
        assert [p["id"] for p in control.get(f"{base}/_sandbox/posts").json()] == [media_id]
        assert control.get(f"{base}/_sandbox/publish_calls").json() == {container_id: 1}
        assert control.post(f"{base}/_sandbox/reset").status_code == 200
        assert control.get(f"{base}/_sandbox/posts").json() == []
        assert offline.faults == Faults()
        assert control.get(f"{base}/_sandbox/nothing").status_code == 404


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nope": 1}, "unknown fault"),
        ({"processing_polls": 1.5}, "whole number"),
        ({"processing_polls": True}, "whole number"),
        ({"latency_s": -1}, ">= 0"),
        ({"transient_5xx_rate": 1.5}, "between 0 and 1"),
        ({"invalid_token": 1}, "true or false"),
        ({"lose_publish_with": "reset"}, "drop, 502, 500"),
    ],
)
def test_fault_values_are_checked(changes: dict[str, Any], message: str) -> None:
    faults = Faults()
    with pytest.raises(ValueError, match=message):
        faults_module.apply(faults, {"quota_total": 5, **changes})
    assert faults == Faults()  # nothing changed


def test_requests_are_logged_without_query_or_token(
    off: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="publisher.sandbox")
    container_id = create(off, image_url=URL)
    off.get(f"/{container_id}", params={"fields": "status_code"})
    off.get(f"/{IG}", params={"fields": "id", "access_token": TOKEN})
    expected = {
        f"POST /{VERSION}/{IG}/media 200",
        f"GET /{VERSION}/{container_id} 200",
        f"GET /{VERSION}/{IG} 400",
    }
    # The server thread logs after the answer is out: wait for the lines, with a deadline.
    poll_until(lambda: expected <= {record.getMessage() for record in caplog.records})
    assert TOKEN not in caplog.text and "fields=" not in caplog.text


def test_stop_closes_kept_alive_connections(make_sandbox: Callable[..., SandboxServer]) -> None:
    server = make_sandbox(fetch_media=False)
    with client(server) as http:
        assert http.get(f"/{IG}", params={"fields": "id"}).status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            http.get(f"/{IG}", params={"fields": "id"})


def test_latency_fault_delays_answers(offline: SandboxServer, off: httpx.Client) -> None:
    offline.faults.latency_s = 0.2
    started = time.monotonic()
    off.get(f"/{IG}", params={"fields": "id"})
    assert time.monotonic() - started >= 0.2


@pytest.mark.slow
def test_a_separate_sandbox_process_keeps_posts_across_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "publisher.sandbox.server", "--port", "0"]
    command += ["--state", str(state), "--no-fetch"]

    def start() -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        return process, match.group(0)

    process, base = start()
    try:
        with httpx.Client(
            base_url=f"{base}/{VERSION}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            trust_env=False,
            timeout=10,
        ) as http:
            assert http.post(f"{base}/_sandbox/faults", json={"processing_polls": 0}).is_success
            container_id = create(http, image_url=URL)
            media_id = publish(http, container_id).json()["id"]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    process, base = start()
    try:
        with httpx.Client(trust_env=False, timeout=10) as http:
            posts = http.get(f"{base}/_sandbox/posts").json()
            assert [post["id"] for post in posts] == [media_id]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
