"""Whether an image can be sent to Instagram (SPEC §4, §7), read with Pillow: headers only,
plus a cheap check that a JPEG is not cut short. Nothing is converted here.

`check(path, role, fit=...)` returns the `Finding`s. An image that `hosting.convert` makes
acceptable when the job publishes is fine: PNG, WebP, GIF, HEIC/HEIF, TIFF, CMYK, over 8 MB,
wider than 1440 px. What stays an error: not an image, truncated, a decompression bomb, too
big to convert, and a feed image outside 4:5..1.91:1 (exact, `hosting.ratio`) without `fit`.
Hostile files (bombs, FIFOs, truncated or mislabelled files) give findings, never exceptions.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from publisher.confined import open_regular
from publisher.drafts import limits
from publisher.drafts.media import Finding, Role
from publisher.hosting import convert, ratio
from publisher.hosting.ratio import Fit

# Pillow warns (over MAX_IMAGE_PIXELS) or raises (over twice that) when a header claims a
# decompression bomb. `check` refuses both itself, so the warning is only noise; a filter
# cannot be relied on to turn it into an error (test runners reset filters).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# What `convert` opens (HEIC/HEIF through pillow-heif, registered when it is imported); an
# MPO is a JPEG with extra pictures, sent as its first one.
CONVERTIBLE = frozenset({*convert.FORMATS, "MPO"})


def check(path: Path, role: Role, *, fit: Fit | None = None) -> list[Finding]:
    """Given a local image file, its role and the draft's `fit`, return the problems that
    would stop it being sent: unreadable, truncated, a bomb, too big to convert, aspect ratio
    outside 4:5..1.91:1 without `fit` (post/carousel), width outside 320-1440 px (a
    warning: Instagram rescales a narrow one, publisher scales a wide one). Reads headers
    only, plus the tail of a JPEG."""
    try:
        handle = open_regular(path)
    except OSError as exc:
        return [Finding(f"cannot be read: {exc.strerror}")]
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return [Finding("is empty (0 bytes); export the image again")]
        if size > convert.MAX_SOURCE_BYTES:
            return [
                Finding(
                    f"is {size / 1e6:.0f} MB, more than publisher converts "
                    f"({convert.MAX_SOURCE_BYTES // 10**6} MB); export it as a JPEG at most "
                    f"{limits.FEED_WIDTH_MAX} px wide"
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
            return _image_findings(image, handle, size, role, fit)


def _image_findings(
    image: Image.Image, handle: BinaryIO, size: int, role: Role, fit: Fit | None
) -> list[Finding]:
    if image.format not in CONVERTIBLE:
        kind = f"a {image.format} image" if image.format else "not an image publisher reads"
        return [Finding(f"is {kind}; publisher converts {convert.FORMAT_NAMES}: export it as JPEG")]
    width, height = image.size
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        return [_bomb()]
    if convert.orientation_to_apply(image) in (5, 6, 7, 8):  # shown rotated by 90 degrees
        width, height = height, width
    if image.format in ("JPEG", "MPO") and _truncated(image, handle, size):
        return [Finding("is a truncated or damaged JPEG; export it again")]
    findings: list[Finding] = []
    if role in ("post", "carousel") and width and height:
        if fit is None and not ratio.within(width, height):
            findings.append(
                Finding(
                    f"has the aspect ratio {ratio.describe(width, height)} ({width}x{height}), "
                    f"outside what feed posts allow, {ratio.RANGE_TEXT}; set fit: crop or "
                    "fit: pad in the draft (or crop the image)"
                )
            )
        if width < limits.FEED_WIDTH_MIN:
            findings.append(
                Finding(
                    f"is {width} px wide; Instagram rescales images to "
                    f"{limits.FEED_WIDTH_MIN}-{limits.FEED_WIDTH_MAX} px wide",
                    "warning",
                )
            )
        elif width > limits.FEED_WIDTH_MAX:
            findings.append(
                Finding(
                    f"is {width} px wide; publisher sends a copy scaled to "
                    f"{limits.FEED_WIDTH_MAX} px wide",
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
