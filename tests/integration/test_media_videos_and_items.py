"""End to end against the sandbox (which downloads each video and reads its codecs and moov
atom with PyAV): a video out of Meta's spec goes out transcoded with `media.transcode:
auto`, and is an invalid draft naming the rule with `never`; each carousel item sends its
own alt_text and user_tags (SPEC §7). The user's files are byte-identical afterwards. (The
draft-side rules of item mappings and thumb_offset: tests/unit/drafts/test_media_items.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from publisher import drafts
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.errors import DraftError
from publisher.hosting import mediahost, videoinfo
from publisher.job import Job, State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import SleepClock
from tests.support.site import load_config, make_site, write_draft
from tests.support.videos import write_video

REEL = "type: reel\ncaption: A slow clip\nmedia: [slow.webm]\nthumb_offset: 500\n"


def site_with(tmp_path: Path, sandbox: SandboxServer, **media: Any) -> Config:
    served = {"host": "serve", "listen": "127.0.0.1:0", "public_url": "http://127.0.0.1:0"}
    return load_config(
        make_site(tmp_path, account={"base_url": sandbox.base_url}, media={**served, **media})
    )


def run(config: Config, path: Path, fake_time: SleepClock) -> tuple[Job, list[str]]:
    lines: list[str] = []
    job = publish_draft(config, path, progress=lines.append, clock=fake_time, sleep=fake_time.sleep)
    return job, lines


def slow_webm(folder: Path) -> Path:
    """A VP9/WebM clip at 15 fps: out of Meta's spec by its container, codec and frame rate."""
    return write_video(
        folder / "slow.webm",
        seconds=3.2,
        fps=15,
        size=(160, 284),
        codec="libvpx-vp9",
        audio="libopus",
        container="webm",
    )


@pytest.mark.slow
def test_a_video_out_of_spec_goes_out_transcoded(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    config = site_with(tmp_path, sandbox)
    source = slow_webm(config.content_dir)
    before = source.read_bytes()
    loaded = drafts.load(write_draft(config, "reel", text=REEL), config)
    assert not loaded.errors, loaded.errors
    assert [p.field for p in loaded.warnings] == ["media[0]"]
    assert "transcoded copy" in loaded.warnings[0].message

    job, lines = run(config, config.content_dir / "reel.yaml", fake_time)

    assert job.state is State.PUBLISHED, job.error
    [post] = sandbox.posts()
    assert post["media_product_type"] == "REELS"
    assert [line for line in lines if line.startswith("transcoding slow.webm")] == [
        f"transcoding slow.webm… {percent}%" for percent in range(0, 101, 10)
    ]
    assert source.read_bytes() == before
    [copy] = [p for p in mediahost.cache_dir(config).iterdir() if p.suffix == ".mp4"]
    with copy.open("rb") as handle:
        info = videoinfo.read(handle)
    assert isinstance(info, videoinfo.VideoInfo)
    assert (info.video_codec, info.audio_codec, info.moov_first, info.fps) == (
        "h264",
        "aac",
        True,
        30.0,
    )


def test_with_transcode_never_it_is_an_invalid_draft_naming_the_rule(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    config = site_with(tmp_path, sandbox, transcode="never")
    source = slow_webm(config.content_dir)
    before = source.read_bytes()
    path = write_draft(config, "reel", text=REEL)
    with pytest.raises(DraftError) as raised:
        run(config, path, fake_time)
    messages = [(p.field, p.message) for p in raised.value.problems]
    assert ("media[0]", messages[0][1]) == messages[0]
    assert "breaks Instagram's container rule" in messages[0][1]
    assert "media.transcode: auto" in messages[0][1]
    assert sandbox.posts() == []
    assert source.read_bytes() == before


CAROUSEL = """\
type: carousel
caption: Three looks
alt_text: A look
user_tags: [{username: jane, x: 0.5, y: 0.5}]
media:
  - look1.jpg
  - {file: look2.jpg, alt_text: "Back view", user_tags: [{username: bob, x: 0.3, y: 0.6}]}
  - {file: clip.mp4, user_tags: [{username: ann}]}
"""


@pytest.mark.slow
def test_a_carousel_sends_each_items_own_alt_text(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    config = site_with(tmp_path, sandbox)
    job, _ = run(config, write_draft(config, "carousel", text=CAROUSEL), fake_time)
    assert job.state is State.PUBLISHED, job.error
    [post] = sandbox.posts()
    items = post["items"]
    assert [item.get("alt_text") for item in items] == ["A look", "Back view", None]
    assert [json.loads(item["user_tags"]) for item in items] == [
        [{"username": "jane", "x": 0.5, "y": 0.5}],
        [{"username": "bob", "x": 0.3, "y": 0.6}],
        [{"username": "ann"}],
    ]
