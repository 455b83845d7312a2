"""Processing takes time at Meta, not a number of status reads (issue 8, point 6): with
`processing_s` / `video_processing_s` set, a container stays IN_PROGRESS until that much
time has passed on the sandbox's clock, however often it is read, and cannot be published
before. Left at 0 (the default), only `processing_polls` count, which keeps tests fast."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial

import httpx
import pytest

from publisher.sandbox.faults import Faults
from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock

TOKEN = "EAAB-sandbox-processing-5c1d"
IG = "17841400000000000"
IMAGE_URL = "https://media.example.invalid/photo.jpg"  # never fetched (fetch_media=False)
VIDEO_URL = "https://media.example.invalid/clip.mp4"


@pytest.fixture
def sandbox(start_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    start = partial(start_sandbox, token=TOKEN, fetch_media=False)
    return start(faults=Faults(processing_polls=0, processing_s=5.0, video_processing_s=30.0))


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sandbox.base_url}/v25.0",
        headers={"Authorization": f"Bearer {TOKEN}"},
        trust_env=False,
        timeout=10,
    ) as http:
        yield http


def create(api: httpx.Client, **form: str) -> str:
    response = api.post(f"/{IG}/media", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def status_code(api: httpx.Client, container_id: str) -> str:
    response = api.get(f"/{container_id}", params={"fields": "status_code"})
    assert response.status_code == 200, response.text
    return str(response.json()["status_code"])


def publish(api: httpx.Client, container_id: str) -> httpx.Response:
    return api.post(f"/{IG}/media_publish", data={"creation_id": container_id})


def test_an_image_is_in_progress_until_its_time_whatever_the_reads(
    api: httpx.Client, clock: ManualClock
) -> None:
    container_id = create(api, image_url=IMAGE_URL)
    assert [status_code(api, container_id) for _ in range(10)] == ["IN_PROGRESS"] * 10
    refused = publish(api, container_id)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == 9007  # not ready: nothing published
    clock.advance(timedelta(seconds=4.9))
    assert status_code(api, container_id) == "IN_PROGRESS"
    clock.advance(timedelta(seconds=0.1))
    assert status_code(api, container_id) == "FINISHED"
    assert publish(api, container_id).status_code == 200


def test_a_video_takes_its_own_longer_time(api: httpx.Client, clock: ManualClock) -> None:
    video = create(api, media_type="REELS", video_url=VIDEO_URL)
    image = create(api, image_url=IMAGE_URL)
    clock.advance(timedelta(seconds=10))
    assert status_code(api, image) == "FINISHED"
    # a video also needs its 2 extra reads (processing_polls + 2), then its 30 s
    assert [status_code(api, video) for _ in range(3)] == ["IN_PROGRESS"] * 3
    clock.advance(timedelta(seconds=20))
    assert status_code(api, video) == "FINISHED"


def test_time_can_be_set_over_http(sandbox: SandboxServer, api: httpx.Client) -> None:
    answer = httpx.post(
        f"{sandbox.base_url}/_sandbox/faults", json={"processing_s": 0, "video_processing_s": 0}
    )
    assert answer.status_code == 200, answer.text
    container_id = create(api, image_url=IMAGE_URL)
    assert status_code(api, container_id) == "FINISHED"
