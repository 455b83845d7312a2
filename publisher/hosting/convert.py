"""The JPEG that is sent: an image converted into what Instagram takes, never in place (SPEC §7).

`convert(source, cache_dir, fit=..., target=...)` returns the path of a JPEG Instagram takes, or
a sentence saying why the image cannot be sent (it reads after the file's name: the caller adds
the draft and the field). An image that needs no change is returned as it is; any other is
converted once into `cache_dir` (state_dir/cache/), keyed by the sha256 of its bytes and the
options, and that copy is reused. `sweep(cache_dir, keep)` removes the copies no job needs
(images and videos alike: `cache`).

What Meta takes (instagram-api.md §6, §7.2; Meta's pages read 2026-09):

| rule | value here | source |
| --- | --- | --- |
| format | baseline JPEG, 3 colour components; not MPO | [CP] content-publishing, [MEDIA] |
| size | < 8,000,000 bytes | [MEDIA] says "8 MB"; error 2207004 [ERR] says "8 MiB": both hold |
| colour | sRGB ("other colour spaces are converted": we do it, with the ICC) | [MEDIA] |
| width | 320..1440 px (Meta rescales outside); we scale down to 1440 | [MEDIA] |
| feed ratio | 4:5..1.91:1, exact (`ratio.py`); error 36003 / 2207009 | [MEDIA], [ERR] |
| story ratio | none: 9:16 only recommended | [MEDIA] |

[CP] https://developers.facebook.com/docs/instagram-platform/content-publishing
[MEDIA] https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
[ERR] https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/error-codes

Decided for stories (target "story", also right for a reel's cover): every rule above but the
ratio; `fit` is ignored, since Instagram shows any story ratio (with a background).

Memory: a JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still gives twice
the pixels sent (`Image.draft`), so a 50-megapixel photo stays well under 300 MB; other formats
decode whole, then `resize(reducing_gap=...)` shrinks with `reduce()` before Lanczos. Pillow's
decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`) is kept; over it is a sentence.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Literal

import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from publisher.hosting import cache, ratio
from publisher.hosting.ratio import Fit
from publisher.store import atomicfile

log = logging.getLogger(__name__)

# "feed": posts and carousel items (the ratio rule applies); "story": stories and reel covers.
Target = Literal["feed", "story"]

MAX_BYTES = 8_000_000
MAX_WIDTH = 1440
MAX_SOURCE_BYTES = 200 * 1000 * 1000  # read whole into memory: bounded, like the decode
QUALITIES = (90, 84, 76, 66, 55)  # tried in turn until the JPEG is under MAX_BYTES
REDUCING_GAP = 2.0  # decode/reduce to at least twice the size sent, then Lanczos
RECIPE = 1  # bump when the output of a given source changes: old copies are then swept
ORIENTATION = 0x0112
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "HEIF", "TIFF", "BMP")
FORMAT_NAMES = "JPEG, PNG, WebP, GIF, HEIC/HEIF, TIFF or BMP"
HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
EXIF_TURNED = frozenset({"JPEG", "MPO", "PNG", "WEBP"})  # orientation only a hint to viewers
WHITE = (255, 255, 255)

# HEIC/HEIF (phone photos) through Pillow; depth maps and auxiliary images are never needed.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
_SRGB = ImageCms.createProfile("sRGB")


def convert(
    source: Path,
    cache_dir: Path,
    *,
    fit: Fit | None = None,
    target: Target = "feed",
    opener: Callable[[Path], BinaryIO] | None = None,
) -> Path | str:
    """Given the path of an image (already checked to be a regular file inside content_dir; a
    path, not an open file, so that an image needing no change can be sent as it is), the cache
    folder (state_dir/cache/, made if missing), the draft's `fit` and the target, return the
    path of a JPEG Instagram takes, or a sentence saying what is wrong and how to fix it.

    The returned path is `source` itself, no copy made, when the image needs no change: a
    baseline JPEG, RGB, at most 1440 px wide and 8 MB, no EXIF rotation, no ICC profile but
    sRGB, in ratio for a feed image. Otherwise it is a copy in `cache_dir` named after the
    source's sha256 and the options, made once (atomically) and reused by later calls. The
    source file is only read. Hostile files (bombs, truncated, mislabelled) give a sentence,
    never an exception; an OSError writing the cache is raised. `opener` opens the source
    (the publish flow passes one that refuses a link swapped in to lead out of content_dir);
    by default the path is opened as it is.
    """
    data = _read(source, opener)
    if isinstance(data, str):
        return data
    started = time.monotonic()
    with _opened(data) as image:
        if isinstance(image, str):
            return image
        orientation = orientation_to_apply(image)
        shown = image.size[::-1] if orientation in (5, 6, 7, 8) else image.size
        feed = target == "feed"
        geometry = ratio.plan(*shown, fit=fit, max_width=MAX_WIDTH, feed=feed)
        if geometry is None:
            return (
                f"is {shown[0]}x{shown[1]}: its aspect ratio {ratio.describe(*shown)} is outside "
                f"{ratio.RANGE_TEXT} (feed images); set `fit: crop` (centre crop) or `fit: pad` "
                "(white bars) in the draft, or crop the image"
            )
        if _sendable(image, orientation, len(data)):
            problem = _decodes(image)
            return problem if problem else source
        reshaped = feed and not ratio.within(*shown)
        entry = cache_dir / _entry_name(data, target, fit if reshaped else None)
        if entry.exists():
            return entry
        encoded = _render(image, orientation, shown, geometry)
    if isinstance(encoded, str):
        return encoded
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomicfile.write_bytes(entry, encoded)
    log.info(
        "converted %s to %s (%dx%d, %d KB) in %.0f ms",
        source,
        entry.name,
        *geometry.canvas,
        len(encoded) // 1024,
        (time.monotonic() - started) * 1000,
    )
    return entry


def sweep(cache_dir: Path, keep: set[str]) -> int:
    """The sweep of every converted copy, images and videos: `cache.sweep`."""
    return cache.sweep(cache_dir, keep)


def _entry_name(data: bytes, target: Target, fit: Fit | None) -> str:
    return cache.image_name(hashlib.sha256(data).hexdigest(), target, fit, RECIPE)


_NOT_REGULAR = "is not a regular file (a folder, a pipe?); use a real file"


def _read(path: Path, opener: Callable[[Path], BinaryIO] | None) -> bytes | str:
    """The file's bytes, read once (the hash and the decode see the same bytes), or why not.
    O_NONBLOCK: a FIFO swapped in after validation must not hang us."""
    try:
        if opener is not None:
            handle = opener(path)
        else:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses folders
                os.close(fd)
                return _NOT_REGULAR
            handle = os.fdopen(fd, "rb")
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return _NOT_REGULAR
        if info.st_size == 0:
            return "is empty (0 bytes); export the image again"
        if info.st_size > MAX_SOURCE_BYTES:
            return (
                f"is {info.st_size / 1e6:.0f} MB, more than publisher converts "
                f"({MAX_SOURCE_BYTES // 10**6} MB); export it as a JPEG at most {MAX_WIDTH} px wide"
            )
        return handle.read()


@contextmanager
def _opened(data: bytes) -> Iterator[Image.Image | str]:
    """Open the image's header (no pixels decoded yet), or yield why it cannot be opened."""
    try:
        with warnings.catch_warnings():
            # Over MAX_IMAGE_PIXELS Pillow only warns (it raises past twice that): we refuse
            # both below, so the warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        yield _bomb()
        return
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, IndexError):
        yield _unreadable(data)
        return
    with image:
        limit = Image.MAX_IMAGE_PIXELS
        yield _bomb() if limit and image.width * image.height > limit else image


def _bomb() -> str:
    return (
        f"claims more pixels than the {Image.MAX_IMAGE_PIXELS:,} publisher decodes (a "
        f"decompression bomb?); export it smaller, at most {MAX_WIDTH} px wide"
    )


def _unreadable(data: bytes) -> str:
    if data[4:8] == b"ftyp" and _brands(data) & HEIF_BRANDS:
        return (
            "is a HEIC/HEIF image in a codec this machine cannot decode; "
            "export it as JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible)"
        )
    return f"is not an image publisher can read ({FORMAT_NAMES}); export it again as JPEG"


def _brands(data: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO-BMFF `ftyp` box (HEIF, MP4, MOV)."""
    size = min(int.from_bytes(data[0:4], "big"), len(data), 4096)
    brands = {data[8:12]}
    brands.update(data[offset : offset + 4] for offset in range(16, size - 3, 4))
    return brands


def orientation_to_apply(image: Image.Image) -> int:
    """The EXIF orientation (1..8) still to apply. Pillow's TIFF plugin and libheif (HEIC)
    apply theirs while decoding and already report the turned size: 1 for them."""
    if image.format not in EXIF_TURNED:
        return 1
    try:
        value = image.getexif().get(ORIENTATION, 1)
    except Exception:  # a damaged EXIF block only loses the rotation hint
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _sendable(image: Image.Image, orientation: int, size: int) -> bool:
    """True if Instagram takes the file as it is (its ratio was checked by the caller)."""
    return (
        image.format == "JPEG"
        and image.mode == "RGB"
        and image.width <= MAX_WIDTH
        and size < MAX_BYTES
        and orientation == 1
        and "progressive" not in image.info
        and _is_srgb(image.info.get("icc_profile"))
    )


def _is_srgb(icc: bytes | None) -> bool:
    """True without a profile (sRGB is assumed) or with an sRGB one."""
    if not icc:
        return True
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False  # a broken profile: converting drops it
    return "srgb" in description.lower()


def _decodes(image: Image.Image) -> str | None:
    """Decode a JPEG sent as it is at 1/8 scale (fast, yet it reads every entropy-coded
    byte), so that a truncated file is refused here and not by Meta; None if it decodes."""
    image.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
    try:
        image.load()
    except Exception:  # "image file is truncated", broken Huffman data, ...
        return _damaged(image)
    return None


def _damaged(image: Image.Image) -> str:
    return f"is a truncated or damaged {image.format or 'image'} file; export it again"


def _render(
    image: Image.Image, orientation: int, shown: ratio.Size, geometry: ratio.Geometry
) -> bytes | str:
    """Decode at the scale needed, orient, cut, scale, make sRGB RGB, pad; return the JPEG."""
    if image.format in ("JPEG", "MPO"):
        factor = geometry.content[0] / (geometry.region[2] - geometry.region[0]) * REDUCING_GAP
        wanted = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image.draft(None, wanted)  # DCT scaling: the full-size pixels never exist
    icc = image.info.get("icc_profile")
    try:
        image.load()
    except Exception as exc:  # truncated files, codec failures (HEIC), broken TIFF strips
        log.debug("decoding failed: %r", exc)
        if image.format == "HEIF":  # libheif's reason says which: a cut file, a codec
            reason = (str(exc).strip().splitlines() or ["?"])[0][:120]
            return (
                "is a damaged HEIC/HEIF file, or one this machine cannot decode "
                f"({reason}); export it as JPEG"
            )
        return _damaged(image)
    if orientation != 1:
        ImageOps.exif_transpose(image, in_place=True)
    picture = _plain_mode(image)
    # The geometry is in the size the image is shown at; a JPEG may have been decoded smaller.
    scale_x, scale_y = picture.width / shown[0], picture.height / shown[1]
    left, top, right, bottom = geometry.region
    box = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
    if geometry.content != picture.size or box != (0, 0, *picture.size):
        picture = picture.resize(
            geometry.content, Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP
        )
    picture = _srgb(_flatten(picture), icc)
    if geometry.canvas != geometry.content:
        canvas = Image.new("RGB", geometry.canvas, WHITE)
        canvas.paste(
            picture,
            (
                (geometry.canvas[0] - geometry.content[0]) // 2,
                (geometry.canvas[1] - geometry.content[1]) // 2,
            ),
        )
        picture = canvas
    return _encode(picture)


def _plain_mode(image: Image.Image) -> Image.Image:
    """The image in a mode that can be resized: L, LA, RGB, RGBA or CMYK (kept for its ICC)."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    if mode.startswith("I"):  # 16-bit greyscale (PNG, TIFF): 0..65535 down to 0..255
        return image.convert("I").point(lambda value: value / 256).convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in ("1", "F"):
        return image.convert("L")
    if mode == "La":
        return image.convert("LA")
    if mode == "RGBa":
        return image.convert("RGBA")
    return image.convert("RGB")  # YCbCr, LAB, HSV, RGBX


def _flatten(image: Image.Image) -> Image.Image:
    """Transparent pixels on white (Instagram has no alpha): LA to L, RGBA to RGB."""
    if image.mode not in ("LA", "RGBA"):
        return image
    flat = Image.new(image.mode[:-1], image.size, 255 if image.mode == "LA" else WHITE)
    flat.paste(image, mask=image.getchannel("A"))
    return flat


def _srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """The image in sRGB RGB: through its embedded ICC profile when it has one (CMYK from a
    print workflow, Display P3 from a phone), else by Pillow's plain conversion."""
    if icc and not _is_srgb(icc):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            # A profile that does not fit the pixels: plain conversion, colours slightly off.
            log.warning("ignored an ICC profile that cannot be applied: %s", exc)
        else:
            if converted is not None:
                return converted
    return image if image.mode == "RGB" else image.convert("RGB")


def _encode(image: Image.Image) -> bytes | str:
    """A baseline JPEG (no EXIF, no profile: sRGB is assumed) under MAX_BYTES, or why not."""
    for quality in QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=False)
        if buffer.tell() < MAX_BYTES:
            return buffer.getvalue()
    return (
        f"stays over {MAX_BYTES // 10**6} MB even as a JPEG of quality {QUALITIES[-1]} "
        f"({image.width}x{image.height}); export it smaller"
    )
