"""Whether Instagram takes an image file (SPEC §4), read with Pillow: headers only, plus a
cheap check that the file is not cut short.

`check(path, role)` returns the `Finding`s: not JPEG, over 8 MB, unreadable or truncated,
aspect ratio (feed images), width (a warning). Hostile files (bombs, FIFOs, truncated or
mislabelled files) give findings, never exceptions.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from publisher.drafts import limits
from publisher.drafts.files import open_regular
from publisher.drafts.media import Finding, Role

# Pillow warns (over MAX_IMAGE_PIXELS) or raises (over twice that) when a header claims a
# decompression bomb. `check` refuses both itself, so the warning is only noise; a filter
# cannot be relied on to turn it into an error (test runners reset filters).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def check(path: Path, role: Role) -> list[Finding]:
    """Given a local image file and its role, return the problems Instagram would have with
    it: not JPEG, over 8 MB, unreadable or truncated, aspect ratio (post/carousel), width
    outside 320-1440 px (a warning: Instagram rescales). Reads headers only, plus the tail."""
    try:
        handle = open_regular(path)
    except OSError as exc:
        return [Finding(f"cannot be read: {exc.strerror}")]
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return [Finding("is empty (0 bytes); export the image again")]
        if size > limits.IMAGE_MAX_BYTES:
            return [
                Finding(
                    f"is {size / 1e6:.1f} MB; Instagram takes images up to 8 MB: "
                    "export it smaller (lower JPEG quality or size)"
                )
            ]
        head = handle.read(16)
        handle.seek(0)
        try:
            image = Image.open(handle)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return [_bomb()]
        except Exception:  # Pillow raises many types on hostile input; none may escape.
            if head[4:8] == b"ftyp":
                return [Finding("is a video (MP4/MOV) with an image name; rename it to .mp4")]
            return [Finding("is not an image that can be read; export it as a JPEG")]
        with image:
            return _image_findings(image, handle, size, role)


def _image_findings(image: Image.Image, handle: BinaryIO, size: int, role: Role) -> list[Finding]:
    if image.format != "JPEG":
        kind = f"a {image.format} image" if image.format else "not a JPEG"
        if image.format == "MPO":
            kind = "a multi-picture JPEG (MPO)"
        return [Finding(f"is {kind}; Instagram takes JPEG only: convert it to JPEG")]
    width, height = image.size
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        return [_bomb()]
    try:
        orientation = image.getexif().get(0x0112)
    except Exception:  # a damaged EXIF block only loses the rotation hint
        orientation = None
    if orientation in (5, 6, 7, 8):  # shown rotated by 90 degrees
        width, height = height, width
    if _truncated(image, handle, size):
        return [Finding("is a truncated or damaged JPEG; export it again")]
    findings: list[Finding] = []
    if role in ("post", "carousel") and width and height:
        ratio = round(width / height, 2)
        if not limits.FEED_RATIO_MIN <= ratio <= limits.FEED_RATIO_MAX:
            findings.append(
                Finding(
                    f"has the aspect ratio {ratio:.2f}:1 ({width}x{height}), outside what "
                    "feed posts allow, 4:5 (0.80:1) to 1.91:1; crop it"
                )
            )
        if not limits.FEED_WIDTH_MIN <= width <= limits.FEED_WIDTH_MAX:
            findings.append(
                Finding(
                    f"is {width} px wide; Instagram rescales images to "
                    f"{limits.FEED_WIDTH_MIN}-{limits.FEED_WIDTH_MAX} px wide",
                    "warning",
                )
            )
    return findings


def _bomb() -> Finding:
    return Finding(
        "claims more pixels than any photo needs (a decompression bomb?); "
        f"resize it to at most {limits.FEED_WIDTH_MAX} px wide"
    )


def _truncated(image: Image.Image, handle: BinaryIO, size: int) -> bool:
    """True if the JPEG is cut short. Cheap in the usual case: the file ends with the EOI
    marker. Otherwise (trailing padding or vendor data, or a real cut), decode at 1/8 scale,
    which reads every entropy-coded byte without building the full-size image."""
    handle.seek(max(0, size - 2048))
    tail = handle.read().rstrip(b"\x00")
    if tail.endswith(b"\xff\xd9"):
        return False
    handle.seek(0)
    try:
        image.draft("RGB", (max(1, image.size[0] // 8), max(1, image.size[1] // 8)))
        image.load()
    except Exception:  # "image file is truncated", broken Huffman data, ...
        return True
    return False
