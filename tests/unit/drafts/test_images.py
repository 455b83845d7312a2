"""drafts.images: whether Instagram takes an image (Pillow, headers only), on hostile files
as well as good ones."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pytest
from PIL import Image

from publisher.drafts import images
from publisher.drafts.media import Finding, Role
from tests.support.images import png_claiming


def jpeg_bytes(size: tuple[int, int] = (1080, 1080), noise: bool = False, **save: object) -> bytes:
    image = Image.effect_noise(size, 80).convert("RGB") if noise else Image.new("RGB", size, "teal")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70, **save)
    return out.getvalue()


def with_dimensions(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF0 header of a baseline JPEG to claim other dimensions."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


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
    ("png", png_claiming(500, 500), "post", ["a PNG image", "convert it to JPEG"]),
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
    ("bomb-png", png_claiming(100000, 100000), "post", ["bomb"]),
]


# Pillow warns about the 100-megapixel header before check_image refuses it.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    ("data", "role", "parts"), [c[1:] for c in IMAGES], ids=[c[0] for c in IMAGES]
)
def test_check_image(tmp_path: Path, data: bytes, role: Role, parts: list[str]) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    findings = images.check(path, role)
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
    assert images.check(path, "post") == [
        Finding(
            "is 9.4 MB; Instagram takes images up to 8 MB: export it smaller (lower JPEG "
            "quality or size)"
        )
    ]


def test_image_that_is_a_fifo_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    assert images.check(path, "post") == [Finding("cannot be read: not a regular file")]
