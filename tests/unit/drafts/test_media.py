"""media: path safety, image checks (Pillow) and video checks (ffprobe, real and fake)."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from publisher.drafts import media
from publisher.drafts.media import Finding, MediaItem
from tests.support.paths import CLIP


def jpeg_bytes(size: tuple[int, int] = (1080, 1080), noise: bool = False, **save: object) -> bytes:
    image = Image.effect_noise(size, 80).convert("RGB") if noise else Image.new("RGB", size, "teal")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70, **save)
    return out.getvalue()


def with_dimensions(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF0 header of a baseline JPEG to claim other dimensions."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def png_bytes(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    frames = [Image.new("RGB", (400, 400), "red"), Image.new("RGB", (400, 400), "blue")]
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:])
    return out.getvalue()


def rotated_jpeg(size: tuple[int, int], orientation: int) -> bytes:
    image = Image.new("RGB", size, "white")
    exif = image.getexif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


NOISE = jpeg_bytes((600, 600), noise=True)

IMAGES = [
    # (id, bytes, role, expected message parts; [] = no finding)
    ("square-post", jpeg_bytes(), "post", []),
    ("square-story", jpeg_bytes(), "story", []),
    ("portrait-4x5", jpeg_bytes((1080, 1350)), "carousel", []),
    ("landscape-1.91", jpeg_bytes((1080, 566)), "post", []),
    ("too-tall-post", jpeg_bytes((1080, 1920)), "post", ["aspect ratio 0.56:1"]),
    ("too-tall-story-ok", jpeg_bytes((1080, 1920)), "story", []),
    ("too-tall-cover-ok", jpeg_bytes((1080, 1920)), "cover", []),
    ("too-wide", jpeg_bytes((1000, 500)), "post", ["aspect ratio 2.00:1"]),
    ("narrow-warning", jpeg_bytes((300, 300)), "post", ["warning:is 300 px wide"]),
    ("wide-warning", jpeg_bytes((1500, 1500)), "carousel", ["warning:is 1500 px wide"]),
    ("wide-story-no-warning", jpeg_bytes((1500, 2000)), "story", []),
    ("exif-rotated-ok", rotated_jpeg((1350, 1080), 6), "post", []),
    ("exif-rotated-tall", rotated_jpeg((1920, 1080), 6), "post", ["(1080x1920)"]),
    ("png", png_bytes(500, 500), "post", ["a PNG image", "convert it to JPEG"]),
    ("gif", image_bytes("GIF"), "post", ["a GIF image", "convert it to JPEG"]),
    ("webp", image_bytes("WEBP"), "post", ["a WEBP image"]),
    ("mpo", image_bytes("MPO"), "post", ["multi-picture JPEG (MPO)"]),
    ("empty", b"", "post", ["empty (0 bytes)"]),
    ("text", b"hello, I am not an image\n", "post", ["not an image"]),
    ("mp4-named-jpg", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "post", ["rename it to .mp4"]),
    ("truncated", NOISE[: len(NOISE) * 2 // 3], "post", ["truncated"]),
    ("header-only", NOISE[:400], "post", ["not an image that can be read"]),
    ("cut-in-scan", NOISE[: len(NOISE) - 2], "post", ["truncated or damaged"]),
    ("trailing-data-ok", jpeg_bytes() + b"vendor trailer " * 50, "post", []),
    ("zero-padding-ok", jpeg_bytes() + b"\x00" * 300, "post", []),
    ("bomb-jpeg", with_dimensions(jpeg_bytes((64, 64)), 65000, 65000), "post", ["bomb"]),
    ("big-jpeg-header", with_dimensions(jpeg_bytes((64, 64)), 10000, 10000), "post", ["bomb"]),
    ("bomb-png", png_bytes(100000, 100000), "post", ["bomb"]),
]


# Pillow warns about the 100-megapixel header before check_image refuses it.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    ("data", "role", "parts"), [c[1:] for c in IMAGES], ids=[c[0] for c in IMAGES]
)
def test_check_image(tmp_path: Path, data: bytes, role: media.Role, parts: list[str]) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    findings = media.check_image(path, role)
    if not parts:
        assert findings == []
        return
    text = " | ".join(f"{f.severity}:{f.message}" for f in findings)
    for part in parts:
        assert part in text
    if not any(p.startswith("warning:") for p in parts):
        assert all(f.severity == "error" for f in findings)


def test_image_over_8_mb_is_refused_before_opening(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    with path.open("wb") as handle:
        handle.truncate(9 * 1024 * 1024)  # sparse: no disk used
    assert media.check_image(path, "post") == [
        Finding(
            "is 9.4 MB; Instagram takes images up to 8 MB: export it smaller (lower JPEG "
            "quality or size)"
        )
    ]


def test_image_that_is_a_fifo_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    assert media.check_image(path, "post") == [Finding("cannot be read: not a regular file")]


RESOLVE = [
    # (id, source, expected (path relative to content, url, kind) or part of the error)
    ("file", "a.jpg", ("a.jpg", None, "image")),
    ("video", "sub/c.MP4", ("sub/c.MP4", None, "video")),
    ("dotdot-inside", "sub/../a.jpg", ("a.jpg", None, "image")),
    ("link-inside", "inside-link.jpg", ("a.jpg", None, "image")),
    (
        "https",
        "https://cdn.example.com/a.jpg?x=1",
        (None, "https://cdn.example.com/a.jpg?x=1", "image"),
    ),
    ("http-video", "HTTP://h/v.mov", (None, "HTTP://h/v.mov", "video")),
    ("url-no-extension", "https://h/media/123", (None, "https://h/media/123", "image")),
    ("empty", "  ", "is empty"),
    ("no-host", "https:///a.jpg", "not a valid URL"),
    ("space-url", "https://h/a b.jpg", "not a valid URL"),
    ("ftp", "ftp://h/a.jpg", "only http(s)"),
    ("data", "data:image/jpeg;base64,AAAA", "only http(s)"),
    ("absolute", "/etc/passwd", "absolute path"),
    ("home", "~/a.jpg", "absolute path"),
    ("windows", "C:\\a.jpg", "absolute path"),
    ("dotdot", "../secret.jpg", "points outside content_dir"),
    ("deep-dotdot", "sub/../../../../etc/passwd", "points outside content_dir"),
    ("link-outside", "outside-link.jpg", "symlink to"),
    ("link-dir-outside", "outside-dir/secret.jpg", "symlink to"),
    ("loop", "loop.jpg", "symlink loop"),
    ("missing", "nope.jpg", "no such file"),
    ("folder", "sub", "is a folder"),
    ("fifo", "pipe.jpg", "not a regular file"),
    ("control", "a\x00.jpg", "control character"),
    ("too-long", "a" * 5000 + ".jpg", "cannot be read: File name too long"),
]


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    (root / "sub").mkdir(parents=True)
    (root / "a.jpg").write_bytes(jpeg_bytes((64, 64)))
    (root / "sub" / "c.MP4").write_bytes(b"x")
    (tmp_path / "secret.jpg").write_bytes(b"secret")
    (root / "inside-link.jpg").symlink_to(root / "a.jpg")
    (root / "outside-link.jpg").symlink_to(tmp_path / "secret.jpg")
    (root / "outside-dir").symlink_to(tmp_path, target_is_directory=True)
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    os.mkfifo(root / "pipe.jpg")
    return root


@pytest.mark.parametrize(
    ("source", "expected"), [c[1:] for c in RESOLVE], ids=[c[0] for c in RESOLVE]
)
def test_resolve(
    content: Path, source: str, expected: tuple[str | None, str | None, str] | str
) -> None:
    item = media.resolve(source, content, content)
    if isinstance(expected, str):
        assert isinstance(item, str)
        assert expected in item
        assert len(item) < 400  # hostile names are cut in messages
        return
    rel, url, kind = expected
    assert item == MediaItem(source, content / rel if rel else None, url, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "default", "kind"),
    [
        ("a.mp4", "image", "video"),
        ("a.MOV", "image", "video"),
        ("a.jpeg", "video", "image"),
        ("https://h/v.mp4?sig=abc#t", "image", "video"),
        ("https://h/v", "video", "video"),
        ("noext", "image", "image"),
    ],
)
def test_kind_of(source: str, default: media.Kind, kind: str) -> None:
    assert media.kind_of(source, default) == kind


def fake_ffprobe(tmp_path: Path, output: object, exit_status: int = 0, stderr: str = "") -> str:
    """An ffprobe stand-in (the program is our boundary) that prints `output`."""
    text = output if isinstance(output, str) else json.dumps(output)
    (tmp_path / "out.txt").write_text(text)
    (tmp_path / "err.txt").write_text(stderr)
    script = tmp_path / "ffprobe"
    script.write_text(
        '#!/bin/sh\nd="$(dirname "$0")"\ncat "$d/out.txt"\ncat "$d/err.txt" >&2\n'
        f"exit {exit_status}\n"
    )
    script.chmod(0o755)
    return str(script)


def probe_output(
    duration: str | None = "4.0", codec: str = "h264", container: str = "mov,mp4,m4a,3gp,3g2,mj2"
) -> dict[str, object]:
    streams = [
        {"codec_type": "video", "codec_name": codec},
        {"codec_type": "audio", "codec_name": "aac"},
    ]
    fmt: dict[str, object] = {"format_name": container}
    if duration is not None:
        fmt["duration"] = duration
    return {"streams": streams, "format": fmt}


VIDEOS = [
    # (id, role, ffprobe output, exit status, expected parts; [] = fine)
    ("reel-ok", "reel", probe_output(), 0, []),
    ("reel-hevc", "reel", probe_output(codec="hevc"), 0, []),
    ("story-ok", "story", probe_output("59.9"), 0, []),
    ("carousel-ok", "carousel", probe_output("3"), 0, []),
    ("reel-short", "reel", probe_output("2.5"), 0, ["lasts 2.5 s", "3 s to 15 min"]),
    ("reel-long", "reel", probe_output("901"), 0, ["lasts 901.0 s"]),
    ("story-long", "story", probe_output("61"), 0, ["3 s to 60 s"]),
    ("vp9", "reel", probe_output(codec="vp9"), 0, ["vp9 codec", "H.264 or HEVC"]),
    ("webm", "reel", probe_output(container="matroska,webm"), 0, ["not an MP4/MOV"]),
    (
        "audio-only",
        "reel",
        {
            "streams": [{"codec_type": "audio"}],
            "format": {"format_name": "mov,mp4", "duration": "4"},
        },
        0,
        ["not an MP4/MOV"],
    ),
    ("no-duration", "reel", probe_output(None), 0, ["no readable duration"]),
    ("nan-duration", "reel", probe_output("N/A"), 0, ["no readable duration"]),
    ("format-not-map", "reel", {"streams": [], "format": 5}, 0, ["not an MP4/MOV"]),
    ("garbage", "reel", "not json", 0, ["not JSON"]),
    ("json-list", "reel", "[1, 2]", 0, ["not JSON"]),
    ("fails", "reel", "", 1, ["cannot be read as a video ([mov] moov atom not found)"]),
]


@pytest.mark.parametrize(
    ("role", "output", "status", "parts"), [c[1:] for c in VIDEOS], ids=[c[0] for c in VIDEOS]
)
def test_check_video_with_fake_ffprobe(
    tmp_path: Path, role: media.Role, output: object, status: int, parts: list[str]
) -> None:
    program = fake_ffprobe(tmp_path, output, status, "[mov] moov atom not found\n")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00" * 100)
    findings = media.check_video(video, role, ffprobe=program)
    text = " | ".join(f.message for f in findings)
    assert all(f.severity == "error" for f in findings)
    if not parts:
        assert findings == []
    for part in parts:
        assert part in text


@pytest.mark.parametrize(
    ("role", "size", "part"),
    [
        ("story", 100_000_001, "at most 100 MB"),
        ("reel", 300_000_001, "at most 300 MB"),
        ("reel", 0, "empty (0 bytes)"),
    ],
)
def test_video_size_is_checked_without_ffprobe(
    tmp_path: Path, role: media.Role, size: int, part: str
) -> None:
    video = tmp_path / "v.mp4"
    with video.open("wb") as handle:
        handle.truncate(size)  # sparse
    findings = media.check_video(video, role, ffprobe=None)
    assert len(findings) == 1 and part in findings[0].message
    assert findings[0].severity == "error"


def test_missing_ffprobe_is_a_warning(tmp_path: Path) -> None:
    assert media.check_video(CLIP, "reel", ffprobe=None) == [
        Finding("was not checked: install ffprobe to check videos (Debian: ffmpeg)", "warning")
    ]


def test_real_ffprobe_on_the_shipped_clip(tmp_path: Path) -> None:
    # Both branches are real checks: CI installs ffmpeg (.ci/run); without it the warning shows.
    program = shutil.which("ffprobe")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else")
    if program is None:
        assert [f.severity for f in media.check_video(CLIP, "reel", ffprobe=None)] == ["warning"]
        return
    assert media.check_video(CLIP, "reel", ffprobe=program) == []
    assert media.check_video(CLIP, "story", ffprobe=program) == []
    findings = media.check_video(broken, "reel", ffprobe=program)
    assert len(findings) == 1 and "cannot be read as a video" in findings[0].message


def test_check_skips_urls() -> None:
    assert (
        media.check(
            MediaItem("https://h/a.png", None, "https://h/a.png", "image"), "post", ffprobe=None
        )
        == []
    )
