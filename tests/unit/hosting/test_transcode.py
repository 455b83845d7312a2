"""Videos transcoded into what Instagram takes (SPEC §7), made at run time with PyAV.

Each video is tiny (160x284, a little over 3 s, the shortest a reel may be) so the whole
file runs in seconds. Every transcode checks that the user's file is byte-identical with the
same mtime, and probes the output like Meta would: MP4, H.264 High, AAC or no sound, 23..60
fps, moov atom first.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from publisher.hosting import cache as cache_module
from publisher.hosting import convert, transcode, videoinfo, videospec
from publisher.hosting.videoinfo import VideoInfo
from tests.support.videos import write_video

SMALL = (160, 284)
SECONDS = 3.2


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "state" / "cache"


def video(folder: Path, name: str, **options: Any) -> Path:
    options.setdefault("size", SMALL)
    options.setdefault("seconds", SECONDS)
    return write_video(folder / name, **options)


def run(source: Path, cache: Path, use: videospec.Use = "reel", **options: Any) -> Path | str:
    """`transcode.transcode`, checking that the user's file is byte-identical with its mtime."""
    data, mtime = source.read_bytes(), source.stat().st_mtime_ns
    result = transcode.transcode(source, cache, use=use, **options)
    assert source.read_bytes() == data
    assert source.stat().st_mtime_ns == mtime
    return result


def probed(path: Path | str) -> VideoInfo:
    assert isinstance(path, Path), path
    with path.open("rb") as handle:
        info = videoinfo.read(handle)
    assert isinstance(info, VideoInfo), info
    return info


def assert_sendable(path: Path | str, use: videospec.Use = "reel") -> VideoInfo:
    info = probed(path)
    assert info.is_mp4 and info.video_codec == "h264" and info.moov_first is True
    assert info.fps is not None and videospec.FPS_MIN <= info.fps <= videospec.FPS_MAX
    assert info.pixel_format == "yuv420p"
    assert info.audio_codec in (None, "aac")
    assert videospec.breaches(info, use) == []
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.profile == "High"
    return info


OUT_OF_SPEC = [
    # (name, write_video options, the rule it breaks)
    ("vp9.webm", {"codec": "libvpx-vp9", "audio": "libopus", "container": "webm"}, "container"),
    ("fps15.mp4", {"fps": 15}, "frame rate"),
    ("moov-last.mp4", {"moov_first": False}, "moov atom"),
    ("fps75.mp4", {"fps": 75, "audio": None}, "frame rate"),
    ("mpeg4.avi", {"codec": "mpeg4", "audio": None}, "container"),
]


@pytest.mark.parametrize(
    ("name", "options", "rule"), OUT_OF_SPEC, ids=[case[0] for case in OUT_OF_SPEC]
)
def test_a_video_out_of_spec_is_transcoded_into_one_instagram_takes(
    tmp_path: Path, cache: Path, name: str, options: dict[str, Any], rule: str
) -> None:
    source = video(tmp_path, name, **options)
    with source.open("rb") as handle:
        before = videoinfo.read(handle)
    assert isinstance(before, VideoInfo)
    assert rule in [breach.rule for breach in videospec.breaches(before, "reel")]

    seen: list[float] = []
    result = run(source, cache, progress=seen.append)

    assert isinstance(result, Path) and result.parent == cache
    assert cache_module.ENTRY.match(result.name), result.name
    info = assert_sendable(result)
    assert (info.width, info.height) == SMALL
    assert info.duration == pytest.approx(SECONDS, abs=0.15)
    expected_fps = before.fps if before.fps and 23 <= before.fps <= 60 else 30
    assert info.fps == pytest.approx(expected_fps)
    assert (info.audio_codec is None) == (before.audio_codec is None)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 2
    assert not [name for name in os.listdir(cache) if name.endswith(".publisher-tmp")]


def test_a_video_in_spec_is_sent_as_it_is(tmp_path: Path, cache: Path) -> None:
    source = video(tmp_path, "ok.mp4")
    assert run(source, cache) == source
    assert not cache.exists()


def test_the_copy_is_made_once_and_reused(tmp_path: Path, cache: Path) -> None:
    source = video(tmp_path, "fps15.mp4", fps=15)
    first = run(source, cache)
    assert isinstance(first, Path)
    made = first.stat()
    seen: list[float] = []
    again = run(source, cache, progress=seen.append)
    assert again == first and seen == []  # nothing transcoded the second time
    assert (again.stat().st_ino, again.stat().st_mtime_ns) == (made.st_ino, made.st_mtime_ns)
    # the same bytes under another name are the same copy (keyed by content)
    twin = tmp_path / "twin.mp4"
    twin.write_bytes(source.read_bytes())
    assert run(twin, cache) == first
    # a story has its own limits: its own copy
    story = run(source, cache, use="story")
    assert isinstance(story, Path) and story != first and ".story." in story.name


@pytest.mark.slow
def test_wider_than_1920_is_scaled_down(tmp_path: Path, cache: Path) -> None:
    source = video(tmp_path, "wide.mp4", size=(1940, 200), fps=24, audio=None)
    info = assert_sendable(run(source, cache))
    assert (info.width, info.height) == (1920, 198)


@pytest.mark.parametrize(
    ("options", "use", "part"),
    [
        ({"seconds": 2.0}, "reel", "lasts 2.0 s; a reel video lasts 3 s to 15 min"),
        ({"seconds": 61, "fps": 1, "audio": None}, "story", "a story video lasts 3 s to 60 s"),
        ({"size": (16, 320), "audio": None}, "story", "is 16x320; a story video is from 0.1:1"),
    ],
)
def test_what_no_transcode_mends_is_a_sentence(
    tmp_path: Path, cache: Path, options: dict[str, Any], use: videospec.Use, part: str
) -> None:
    source = video(tmp_path, "v.mp4", **{"fps": 15, **options})
    result = run(source, cache, use=use)
    assert isinstance(result, str) and part in result, result
    assert not cache.exists()


def test_a_file_ffmpeg_cannot_read_is_a_sentence(tmp_path: Path, cache: Path) -> None:
    source = tmp_path / "v.mp4"
    source.write_bytes(b"not a video at all\n" * 50)
    assert run(source, cache) == videoinfo.NOT_MP4
    assert not cache.exists()


def test_a_fifo_never_blocks(tmp_path: Path, cache: Path) -> None:
    os.mkfifo(tmp_path / "pipe.mp4")
    result = transcode.transcode(tmp_path / "pipe.mp4", cache, use="reel")
    assert isinstance(result, str) and result.startswith("cannot be read")


def test_the_sweep_takes_video_copies_no_job_needs(tmp_path: Path, cache: Path) -> None:
    kept = run(video(tmp_path, "a.mp4", fps=15), cache)
    gone = run(video(tmp_path, "b.mp4", fps=15, size=(160, 288)), cache)
    assert isinstance(kept, Path) and isinstance(gone, Path) and kept != gone
    fresh_temp = cache / f".{gone.name}.abc.publisher-tmp"  # a writer at work
    fresh_temp.write_bytes(b"partial")
    stale_temp = cache / f".{gone.name}.old.publisher-tmp"  # a writer killed a day ago
    stale_temp.write_bytes(b"partial")
    old = stale_temp.stat().st_mtime - cache_module.STALE_TEMP_S - 60
    os.utime(stale_temp, (old, old))
    assert convert.sweep(cache, {kept.name}) == 1
    assert sorted(os.listdir(cache)) == sorted([kept.name, fresh_temp.name])


def test_the_encoder_is_h264_from_the_wheel() -> None:
    # PyAV's wheels bundle libx264: no ffmpeg, no apt package (README "Media")
    assert transcode.encoder() == "libx264"


def turned_video(path: Path) -> Path:
    """A phone-style video: stored 288x160 (left half red, right half blue) with a display
    matrix that tells players to turn it 90 degrees clockwise (an iPhone held upright)."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("h264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 288, 160, "yuv420p"
        picture = Image.new("RGB", (288, 160), (0, 0, 255))
        picture.paste((255, 0, 0), (0, 0, 144, 160))
        for _ in range(48):
            out.mux(stream.encode(av.VideoFrame.from_image(picture)))
        out.mux(stream.encode())
    data = bytearray(path.read_bytes())
    matrix = data.index(b"tkhd") + 4 + 40  # version 0 tkhd: the matrix after 40 bytes
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))
    return path


def test_a_turned_phone_video_comes_out_upright(tmp_path: Path, cache: Path) -> None:
    result = run(turned_video(tmp_path / "turned.mp4"), cache)  # 15 fps: transcoded
    info = assert_sendable(result)
    assert (info.width, info.height) == (160, 288)
    with av.open(str(result)) as container:
        frame = next(container.decode(video=0)).to_image()
    top, bottom = frame.getpixel((80, 40)), frame.getpixel((80, 250))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60  # the stored left (red) is now on top
    assert bottom[2] > 200 and bottom[0] < 60
