"""hosting.videospec: Meta's video rules, one table, applied to what a probe read (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from publisher.hosting import videospec
from publisher.hosting.videoinfo import VideoInfo

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
GOOD = VideoInfo(
    container=MP4,
    video_codec="h264",
    audio_codec="aac",
    duration=10.0,
    fps=30.0,
    width=1080,
    height=1920,
    moov_first=True,
    pixel_format="yuv420p",
    audio_rate=48_000,
    audio_channels=2,
    size=5_000_000,
)


def with_(**changes: Any) -> VideoInfo:
    return dataclasses.replace(GOOD, **changes)


CASES = [
    # (changes, use, [(rule, fixable)])
    ({}, "reel", []),
    ({"video_codec": "hevc", "audio_codec": None}, "story", []),
    ({"fps": 23.0}, "reel", []),
    ({"fps": 60.0, "width": 1920, "height": 1080}, "reel", []),
    ({"fps": 22.99}, "reel", [("frame rate", True)]),
    ({"fps": 120.0}, "carousel", [("frame rate", True)]),
    ({"moov_first": False}, "reel", [("moov atom", True)]),
    ({"moov_first": None}, "reel", [("moov atom", True)]),
    ({"container": "matroska,webm", "moov_first": None}, "reel", [("container", True)]),
    ({"video_codec": "vp9"}, "reel", [("video codec", True)]),
    ({"pixel_format": "yuv420p10le"}, "reel", [("pixel format", True)]),
    ({"audio_codec": "opus"}, "reel", [("audio codec", True)]),
    ({"audio_rate": 96_000}, "reel", [("audio rate", True)]),
    ({"audio_channels": 6}, "reel", [("audio channels", True)]),
    ({"width": 3840, "height": 2160}, "reel", [("width", True)]),
    ({"size": 100_000_001}, "story", [("file size", True)]),
    ({"size": 100_000_001}, "reel", [("bitrate", True)]),  # 80 Mbps over 10 s
    ({"duration": 2.9}, "reel", [("duration", False)]),
    ({"duration": 60.5}, "story", [("duration", False)]),
    ({"duration": 60.5}, "reel", []),
    ({"duration": None}, "reel", [("duration", False)]),
    ({"width": 100, "height": 1080}, "story", [("aspect ratio", False)]),
    ({"width": 100, "height": 1080}, "reel", []),  # reels go down to 0.01:1
    ({"video_codec": None}, "reel", [("container", False)]),
    (
        {"duration": 1.0, "fps": 15.0, "video_codec": "vp9", "size": 100_000},
        "reel",
        [("duration", False), ("video codec", True), ("frame rate", True)],
    ),
]


@pytest.mark.parametrize(("changes", "use", "expected"), CASES)
def test_breaches(changes: dict[str, Any], use: videospec.Use, expected: list[Any]) -> None:
    found = videospec.breaches(with_(**changes), use)
    assert [(breach.rule, breach.fixable) for breach in found] == expected
    assert all(len(breach.message) < 120 for breach in found)


@pytest.mark.parametrize(
    ("fps", "expected"), [(None, 30), (15.0, 30), (23.0, 23.0), (59.94, 59.94), (75.0, 30)]
)
def test_output_fps(fps: float | None, expected: float) -> None:
    assert videospec.output_fps(fps) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1080, 1920), (1080, 1920)),
        ((3840, 2160), (1920, 1080)),
        ((2160, 3840), (1920, 3412)),
        ((161, 285), (160, 284)),  # 4:2:0 needs even sides
        ((4000, 1), (1920, 2)),
    ],
)
def test_output_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert videospec.output_size(*size) == expected
