"""`media.host: s3` end to end: drafts published through the loopback sandbox, which fetches
every media file through a presigned link of a real S3 API (moto's server on loopback); once
each job has ended, no object of it is left in the bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from publisher.commands.publish import publish_draft
from publisher.hosting import mediahost
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import SleepClock
from tests.support.s3 import MotoS3, moto_s3, use_fake_credentials
from tests.support.site import load_config, make_site, write_draft


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer()
    server.start()
    yield server
    server.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["post", "carousel", "reel", "png-post"])
def test_published_through_presigned_links_and_no_object_left(
    kind: str,
    tmp_path: Path,
    moto: MotoS3,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_fake_credentials(monkeypatch)
    bucket = moto.new_bucket()
    media = {
        "host": "s3",
        "s3": {"bucket": bucket, "endpoint_url": moto.endpoint_url, "prefix": "publisher/"},
    }
    path = make_site(tmp_path, account={"base_url": sandbox.base_url}, media=media)
    config = load_config(path)
    clock = SleepClock()

    if kind == "png-post":  # sent as its converted copy from state_dir/cache (SPEC §7)
        Image.new("RGB", (1080, 1080), "teal").save(config.content_dir / "photo.png")
        draft = write_draft(config, "post", text="type: post\nmedia: [photo.png]\n")
    else:
        draft = write_draft(config, kind)

    job = publish_draft(config, draft, progress=print, clock=clock, sleep=clock.sleep)

    assert job.state is State.PUBLISHED, job.error
    # the sandbox downloads and checks every media URL it is given; with host s3 there is
    # no other server, so the post exists only if the presigned links served the files
    assert len(sandbox.posts()) == 1
    assert moto.keys(bucket) == []  # the job's objects are deleted once it is published
    if kind == "png-post":  # what went up was the copy, the user's PNG stays
        assert [p.suffix for p in mediahost.cache_dir(config).iterdir()] == [".jpg"]
