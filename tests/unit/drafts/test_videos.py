"""drafts.videos: probing videos in-process with PyAV, and the checks made from what it reads
against Meta's video rules (hosting.videospec): a rule a transcode mends is a warning with
`media.transcode: auto` and an error naming the rule with `never`.

The videos are made here, at run time, with PyAV (a few frames each): H.264/AAC and HEVC
MP4/MOV, 15 fps, moov at the end, Matroska and AVI, too short and too long.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pytest
from PIL import Image

from publisher.drafts import videos
from publisher.drafts.media import Finding, Role
from publisher.drafts.videos import NOT_MP4, Transcode, VideoInfo
from tests.support.paths import CLIP
from tests.support.videos import write_video

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"  # FFmpeg's one demuxer for MP4 and MOV

MADE: dict[str, dict[str, object]] = {
    # name -> write_video options
    "ok.mp4": {},
    "fps15.mp4": {"fps": 15},
    "moov-last.mp4": {"moov_first": False},
    "hevc.mov": {"codec": "hevc", "audio": None},
    "silent.mp4": {"audio": None},
    "short.mp4": {"seconds": 2.5},
    "story-long.mp4": {"seconds": 61, "fps": 1, "audio": None},
    "vp9.mp4": {"codec": "libvpx-vp9", "audio": None},
    "sound-only.mp4": {"codec": None},
    "matroska.mkv": {},
    "avi.avi": {"codec": "mpeg4", "audio": None},
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    for name, options in MADE.items():
        write_video(folder / name, **options)  # type: ignore[arg-type]
    return folder


PROBED = [
    # (file, container, video codec, audio codec, seconds, fps, width x height, moov first)
    ("ok.mp4", MP4, "h264", "aac", 3.5, 24.0, (64, 112), True),
    ("fps15.mp4", MP4, "h264", "aac", 3.5, 15.0, (64, 112), True),
    ("moov-last.mp4", MP4, "h264", "aac", 3.5, 24.0, (64, 112), False),
    ("hevc.mov", MP4, "hevc", None, 3.5, 24.0, (64, 112), True),
    ("vp9.mp4", MP4, "vp9", None, 3.5, 24.0, (64, 112), True),
    ("matroska.mkv", "matroska,webm", "h264", "aac", None, 24.0, (64, 112), None),
    ("avi.avi", "avi", "mpeg4", None, 3.5, 24.0, (64, 112), None),
]


@pytest.mark.parametrize(
    ("name", "container", "codec", "audio", "seconds", "fps", "size", "moov_first"),
    PROBED,
    ids=[case[0] for case in PROBED],
)
def test_probe_reads_what_the_checks_need(
    made: Path,
    name: str,
    container: str,
    codec: str,
    audio: str | None,
    seconds: float | None,
    fps: float,
    size: tuple[int, int],
    moov_first: bool | None,
) -> None:
    info = videos.probe(made / name)
    assert isinstance(info, VideoInfo), info
    assert (info.container, info.video_codec, info.audio_codec) == (container, codec, audio)
    assert info.fps == fps and (info.width, info.height) == size
    assert info.moov_first is moov_first
    assert info.duration is not None
    if seconds is not None:  # Matroska rounds its duration up to its own time base
        assert info.duration == pytest.approx(seconds, abs=0.05)
    assert info.is_mp4 is (container == MP4)


def test_probe_the_repository_clip() -> None:
    assert videos.probe(CLIP) == VideoInfo(
        MP4, "h264", "aac", 4.0, 24.0, 540, 960, True, "yuv420p", 44100, 1, CLIP.stat().st_size
    )


def sent_transcoded(*rules: str) -> Finding:
    return Finding(
        f"breaks Instagram's video rules ({', '.join(rules)}): publisher sends a transcoded "
        "copy (H.264, AAC, moov first; media.transcode: auto)",
        "warning",
    )


def refused(rule: str, message: str) -> Finding:
    return Finding(
        f"breaks Instagram's {rule} rule: it {message}; export it again, or set "
        "media.transcode: auto to let publisher transcode it"
    )


SHORT_REEL = "lasts 2.5 s; a reel video lasts 3 s to 15 min: trim or extend it"
CHECKS = [
    # (file, role, media.transcode, expected findings)
    ("ok.mp4", "reel", "never", []),
    ("ok.mp4", "story", "never", []),
    ("ok.mp4", "carousel", "never", []),
    ("hevc.mov", "reel", "never", []),
    ("silent.mp4", "reel", "never", []),
    ("fps15.mp4", "reel", "auto", [sent_transcoded("frame rate")]),
    (
        "fps15.mp4",
        "reel",
        "never",
        [refused("frame rate", "has 15 fps; Instagram takes 23 to 60 fps")],
    ),
    ("moov-last.mp4", "story", "auto", [sent_transcoded("moov atom")]),
    (
        "moov-last.mp4",
        "reel",
        "never",
        [refused("moov atom", "has its moov atom at the end; Instagram needs it at the front")],
    ),
    ("short.mp4", "reel", "auto", [Finding(SHORT_REEL)]),
    (
        "short.mp4",
        "carousel",
        "never",
        [Finding("lasts 2.5 s; a carousel video lasts 3 s to 15 min: trim or extend it")],
    ),
    (
        "story-long.mp4",
        "story",
        "auto",
        [Finding("lasts 61.0 s; a story video lasts 3 s to 60 s: trim or extend it")],
    ),
    ("story-long.mp4", "reel", "auto", [sent_transcoded("frame rate")]),
    ("vp9.mp4", "reel", "auto", [sent_transcoded("video codec")]),
    (
        "vp9.mp4",
        "reel",
        "never",
        [refused("video codec", "uses the vp9 codec; Instagram takes H.264 or HEVC")],
    ),
    ("matroska.mkv", "reel", "auto", [sent_transcoded("container")]),
    (
        "matroska.mkv",
        "reel",
        "never",
        [refused("container", "is a matroska file; Instagram takes MP4 or MOV")],
    ),
    ("avi.avi", "story", "auto", [sent_transcoded("container", "video codec")]),
    ("sound-only.mp4", "reel", "auto", [Finding(NOT_MP4)]),
    ("ok.mp4", "post", "auto", []),  # the caller says a post is one image
    ("ok.mp4", "cover", "auto", []),  # and that a cover is a JPEG
]


@pytest.mark.parametrize(
    ("name", "role", "transcode", "expected"),
    CHECKS,
    ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CHECKS],
)
def test_check(
    made: Path, name: str, role: Role, transcode: Transcode, expected: list[Finding]
) -> None:
    assert videos.check(made / name, role, transcode=transcode) == expected


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32)).save(out, "JPEG")
    return out.getvalue()


def cut(path: Path, keep: int) -> bytes:
    return path.read_bytes()[:keep]


UNREADABLE = [
    # (id, bytes or a function of the folder of made videos, expected sentence)
    ("text", b"not really a video\n", NOT_MP4),
    ("jpeg", jpeg(), NOT_MP4),
    ("zeros", b"\x00" * 4096, NOT_MP4),
    # FFmpeg's playlist and concat demuxers would open the files and URLs named inside:
    # they are not among the demuxers a draft's video may use.
    (
        "hls-playlist",
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n",
        NOT_MP4,
    ),
    ("concat-list", b"ffconcat version 1.0\nfile /etc/passwd\n", NOT_MP4),
    (
        "ftyp-only",
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
        "cannot be read as a video (moov atom not found); export it as MP4",
    ),
    (
        "cut-before-moov",
        lambda made: cut(made / "moov-last.mp4", 1000),
        "cannot be read as a video (moov atom not found); export it as MP4",
    ),
]


@pytest.mark.parametrize(
    ("content", "sentence"), [c[1:] for c in UNREADABLE], ids=[c[0] for c in UNREADABLE]
)
def test_a_file_ffmpeg_cannot_read_is_a_sentence(
    made: Path, tmp_path: Path, content: object, sentence: str
) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(content(made) if callable(content) else content)  # type: ignore[arg-type]
    info = videos.probe(path)
    assert isinstance(info, str) and info.startswith(sentence), info
    assert len(info) < 300
    assert videos.check(path, "reel") == [Finding(info)]


def test_a_damaged_index_leaves_no_video_to_publish(made: Path, tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes((made / "ok.mp4").read_bytes()[:40] + b"\xff" * 200)
    info = videos.probe(path)
    assert isinstance(info, VideoInfo) and info.video_codec is None
    assert videos.check(path, "reel") == [Finding(NOT_MP4)]


def test_probe_never_blocks_on_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.mp4")
    assert videos.probe(tmp_path / "pipe.mp4") == "cannot be read: not a regular file"


@pytest.mark.parametrize(
    ("role", "size", "transcode", "part"),
    [
        ("story", 100_000_001, "never", "file size rule: it is 100.0 MB; at most 100 MB"),
        ("reel", 300_000_001, "never", "file size rule: it is 300.0 MB; at most 300 MB"),
        ("carousel", 300_000_001, "never", "at most 300 MB"),
        ("reel", 0, "never", "empty (0 bytes)"),
        ("reel", 0, "auto", "empty (0 bytes)"),
        # with auto a big file is transcoded under the limit, if it is a video at all
        ("reel", 300_000_001, "auto", NOT_MP4),
    ],
)
def test_size_is_checked_before_opening(
    tmp_path: Path, role: Role, size: int, transcode: Transcode, part: str
) -> None:
    video = tmp_path / "v.mp4"
    with video.open("wb") as handle:
        handle.truncate(size)  # sparse: no disk used, and not a video either
    findings = videos.check(video, role, transcode=transcode)
    assert len(findings) == 1 and part in findings[0].message
    assert findings[0].severity == "error"


def box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


BOXES = [
    # (id, file bytes, top-level boxes found)
    (
        "moov-first",
        box(b"ftyp", b"isom") + box(b"moov") + box(b"mdat", b"x" * 9),
        [b"ftyp", b"moov", b"mdat"],
    ),
    (
        "moov-last",
        box(b"ftyp") + box(b"free") + box(b"mdat") + box(b"moov"),
        [b"ftyp", b"free", b"mdat", b"moov"],
    ),
    (
        "large-size",
        box(b"ftyp") + struct.pack(">I4sQ", 1, b"mdat", 16 + 4) + b"data" + box(b"moov"),
        [b"ftyp", b"mdat", b"moov"],
    ),
    (
        "to-the-end",
        box(b"ftyp") + struct.pack(">I4s", 0, b"mdat") + b"rest of file",
        [b"ftyp", b"mdat"],
    ),
    ("damaged-size", box(b"ftyp") + struct.pack(">I4s", 3, b"moov") + b"???", [b"ftyp"]),
    ("past-the-end", box(b"ftyp") + struct.pack(">I4s", 999, b"mdat"), [b"ftyp", b"mdat"]),
    ("cut-large-size", box(b"ftyp") + struct.pack(">I4s", 1, b"mdat") + b"\x00", [b"ftyp"]),
    ("not-mp4", b"RIFF\x00\x00\x00\x00AVI LIST", None),
    ("empty", b"", None),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in BOXES], ids=[c[0] for c in BOXES])
def test_top_boxes(tmp_path: Path, data: bytes, expected: list[bytes] | None) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    with path.open("rb") as handle:
        assert videos.top_boxes(handle) == expected


def test_top_boxes_stop_after_a_bounded_number(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(box(b"ftyp") + box(b"free") * 100_000)
    with path.open("rb") as handle:
        assert len(videos.top_boxes(handle) or []) == 64
