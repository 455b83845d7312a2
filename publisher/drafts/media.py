"""A draft's media: where each file is, and whether Instagram will take it (SPEC §4).

`resolve(source, draft_dir, content_dir)` turns one `media:` entry into a `MediaItem` (an
http(s) URL used as it is, or a local file that must stay inside `content_dir`), or says why
it cannot be used. `check(item, role)` looks at a local file: images with Pillow (headers
only, plus a cheap truncation check), videos with ffprobe when it is installed.

The limits come from instagram-api.md §6 (Meta's IG User Media reference); they live in this
one table-like block so that they do not drift apart (LESSONS.md "limits hard-coded").
Hostile files (bombs, FIFOs, truncated or mislabelled files) give problems, never exceptions.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from PIL import Image

Kind = Literal["image", "video"]
# How a file is used decides which image rules apply: feed images have an aspect-ratio range.
Role = Literal["post", "carousel", "reel", "story", "cover"]

VIDEO_SUFFIXES = frozenset({".mp4", ".mov"})

IMAGE_MAX_BYTES = 8 * 1024 * 1024  # error 2207004 says 8 MiB
FEED_RATIO_MIN = 4 / 5  # portrait limit for post/carousel images
FEED_RATIO_MAX = 1.91  # landscape limit
FEED_WIDTH_MIN, FEED_WIDTH_MAX = 320, 1440  # outside: Instagram rescales (a warning)
VIDEO_CODECS = frozenset({"h264", "hevc"})
# role -> (min seconds, max seconds, max bytes). Carousel videos have no spec of their own:
# the reel spec is the safe one (instagram-api.md §6 "Carousel").
VIDEO_LIMITS: dict[str, tuple[float, float, int]] = {
    "reel": (3.0, 15 * 60.0, 300 * 1000 * 1000),
    "carousel": (3.0, 15 * 60.0, 300 * 1000 * 1000),
    "story": (3.0, 60.0, 100 * 1000 * 1000),
}
FFPROBE_TIMEOUT = 20.0  # seconds; a hostile file must not stall validation for longer

# Pillow warns (over MAX_IMAGE_PIXELS) or raises (over twice that) when a header claims a
# decompression bomb. `check_image` refuses both itself, so the warning is only noise; a
# filter cannot be relied on to turn it into an error (test runners reset filters).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class MediaItem:
    """One `media:` entry. Exactly one of `path` (a resolved local file inside content_dir)
    and `url` (an http(s) URL, used as it is) is set."""

    source: str
    path: Path | None
    url: str | None
    kind: Kind


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a media file. `message` reads after the file's name
    ("'a.jpg' is empty ..."); the caller adds the draft path and field."""

    message: str
    severity: str = "error"


def kind_of(source: str, default: Kind = "image") -> Kind:
    """Given a path or URL as written, return "video" for .mp4/.mov, else `default`."""
    name = source.split("?", 1)[0].split("#", 1)[0]
    suffix = os.path.splitext(name)[1].lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in {".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".tif", ".tiff", ".bmp"}:
        return "image"
    return default


def resolve(
    source: str, draft_dir: Path, content_dir: Path, *, default_kind: Kind = "image"
) -> MediaItem | str:
    """Given a `media:` entry as written, the draft's folder and the (resolved) content_dir,
    return a `MediaItem`, or a sentence saying why the entry cannot be used and how to fix it.

    Checks path safety (no absolute path, no `..` or symlink leaving content_dir) and that a
    local file exists and is a regular file. Never opens the file.
    """
    text = source.strip()
    if not text:
        return "is empty; write a file name relative to the draft, like photo.jpg"
    if any(ord(char) < 32 for char in text):
        return "contains a control character; write a plain file name or URL"
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        host = text.split("://", 1)[1].split("/", 1)[0]
        if not host or any(char.isspace() for char in text):
            return f"{short(text)} is not a valid URL; write it like https://example.com/a.jpg"
        return MediaItem(source, None, text, kind_of(text, default_kind))
    if "://" in text or lowered.startswith(("file:", "data:")):
        return f"{short(text)}: only http(s):// URLs or paths relative to the draft's folder"
    if text.startswith(("/", "\\", "~")) or (len(text) > 1 and text[1] == ":"):
        return (
            f"{short(text)} is an absolute path; write it relative to the draft's folder "
            "(e.g. photos/look1.jpg) and keep the file inside content_dir"
        )
    # Lexical check first: `..` that leaves content_dir is refused even if the file exists.
    joined = Path(os.path.normpath(draft_dir / text))
    if not _inside(joined, content_dir):
        return f"{short(text)} points outside content_dir ({content_dir}); move the file inside it"
    try:
        real = joined.resolve(strict=False)
    except (OSError, RuntimeError):  # a symlink loop
        return f"{short(text)} is a symlink loop; replace it with the file"
    if not _inside(real, content_dir):
        return (
            f"{short(text)} is a symlink to {real}, outside content_dir; "
            "copy the file into content_dir instead"
        )
    try:
        info = os.stat(real)
    except FileNotFoundError:
        return f"{short(text)}: no such file (looked for {joined}); check the name and folder"
    except OSError as exc:
        return f"{short(text)} cannot be read: {exc.strerror}"
    if stat.S_ISDIR(info.st_mode):
        return f"{short(text)} is a folder; name a file in it"
    if not stat.S_ISREG(info.st_mode):
        return f"{short(text)} is not a regular file (a pipe or device?); use a real file"
    return MediaItem(source, real, None, kind_of(text, default_kind))


def short(text: str, limit: int = 80) -> str:
    """`text` quoted for a message, cut to `limit` characters (hostile names can be huge)."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check(item: MediaItem, role: Role, *, ffprobe: str | None) -> list[Finding]:
    """Given a local media item and how it is used (the draft type, or "cover"), return what is
    wrong with the file. `ffprobe` is the ffprobe executable, or None when it is not installed.
    URLs are not fetched here (Instagram fetches them; the media host checks reachability)."""
    if item.path is None:
        return []
    if item.kind == "video":
        return check_video(item.path, role, ffprobe=ffprobe)
    return check_image(item.path, role)


def _open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading without ever blocking on a FIFO; raise OSError if it is not a
    regular file (it may have been swapped since `resolve`)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_image(path: Path, role: Role) -> list[Finding]:
    """Given a local image file and its role, return the problems Instagram would have with
    it: not JPEG, over 8 MB, unreadable or truncated, aspect ratio (post/carousel), width
    outside 320-1440 px (a warning: Instagram rescales). Reads headers only, plus the tail."""
    try:
        handle = _open_regular(path)
    except OSError as exc:
        return [Finding(f"cannot be read: {exc.strerror}")]
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return [Finding("is empty (0 bytes); export the image again")]
        if size > IMAGE_MAX_BYTES:
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
        if not FEED_RATIO_MIN <= ratio <= FEED_RATIO_MAX:
            findings.append(
                Finding(
                    f"has the aspect ratio {ratio:.2f}:1 ({width}x{height}), outside what "
                    "feed posts allow, 4:5 (0.80:1) to 1.91:1; crop it"
                )
            )
        if not FEED_WIDTH_MIN <= width <= FEED_WIDTH_MAX:
            findings.append(
                Finding(
                    f"is {width} px wide; Instagram rescales images to "
                    f"{FEED_WIDTH_MIN}-{FEED_WIDTH_MAX} px wide",
                    "warning",
                )
            )
    return findings


def _bomb() -> Finding:
    return Finding(
        "claims more pixels than any photo needs (a decompression bomb?); "
        f"resize it to at most {FEED_WIDTH_MAX} px wide"
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


def check_video(path: Path, role: Role, *, ffprobe: str | None) -> list[Finding]:
    """Given a local video file and its role (reel, story, carousel), return its problems:
    size, and with ffprobe duration, codec and container. Without ffprobe, a warning says the
    video was not checked."""
    if role in ("post", "cover"):
        return []  # the caller reports the wrong media kind
    min_seconds, max_seconds, max_bytes = VIDEO_LIMITS[role]
    try:
        size = path.stat().st_size
    except OSError as exc:
        return [Finding(f"cannot be read: {exc.strerror}")]
    if size == 0:
        return [Finding("is empty (0 bytes); export the video again")]
    if size > max_bytes:
        return [
            Finding(
                f"is {size / 1e6:.0f} MB; a {role} video may be at most {max_bytes // 10**6} MB: "
                "export it with a lower bitrate"
            )
        ]
    if ffprobe is None:
        return [
            Finding("was not checked: install ffprobe to check videos (Debian: ffmpeg)", "warning")
        ]
    info = probe(path, ffprobe)
    if isinstance(info, str):
        return [Finding(info)]
    findings: list[Finding] = []
    streams = [s for s in info.get("streams", []) if isinstance(s, dict)]
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    fmt = info.get("format")
    fmt = fmt if isinstance(fmt, dict) else {}
    container = str(fmt.get("format_name", ""))
    if video is None or not ({"mp4", "mov"} & set(container.split(","))):
        return [Finding("is not an MP4/MOV video; export it as MP4 (H.264 or HEVC)")]
    codec = str(video.get("codec_name", "?"))
    if codec not in VIDEO_CODECS:
        findings.append(
            Finding(f"uses the {codec} codec; Instagram takes H.264 or HEVC: re-encode it")
        )
    raw_duration: Any = fmt.get("duration") or video.get("duration")
    try:
        duration = float(raw_duration)
    except (TypeError, ValueError):
        findings.append(Finding("has no readable duration; export it again"))
        return findings
    if not min_seconds <= duration <= max_seconds:
        findings.append(
            Finding(
                f"lasts {duration:.1f} s; a {role} video lasts {_seconds(min_seconds)} to "
                f"{_seconds(max_seconds)}: trim or extend it"
            )
        )
    return findings


def _seconds(value: float) -> str:
    return f"{value / 60:g} min" if value >= 60 * 2 else f"{value:g} s"


def probe(path: Path, ffprobe: str) -> dict[str, Any] | str:
    """Run ffprobe on `path`; return its JSON (format + streams), or a sentence on failure."""
    command = [
        ffprobe,
        "-v",
        "error",
        "-show_entries",
        "format=duration,format_name:stream=codec_type,codec_name,duration",
        "-of",
        "json",
        # "file:" keeps ffprobe from reading a protocol or an option out of the name.
        f"file:{path}",
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=FFPROBE_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"made ffprobe time out ({FFPROBE_TIMEOUT:g} s); export the video again"
    except OSError as exc:
        return f"could not be checked: ffprobe did not run ({exc.strerror})"
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = reason[-1] if reason else f"exit status {done.returncode}"
        return f"cannot be read as a video ({detail[:200]}); export it as MP4"
    try:
        info = json.loads(done.stdout)
    except ValueError:
        return "could not be checked: ffprobe's answer was not JSON"
    if not isinstance(info, dict):
        return "could not be checked: ffprobe's answer was not JSON"
    return info
