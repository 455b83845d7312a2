"""Where a draft's media are: each `media:` entry as a `MediaItem`, or why it cannot be used.

`resolve(source, draft_dir, content_dir)` turns one entry into a `MediaItem` (an http(s) URL
used as it is, or a local file that must stay inside `content_dir`), or a sentence saying
why it cannot be used and how to fix it. Whether Instagram takes a file is for `images`
and `videos`, which report `Finding`s.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["image", "video"]
# How a file is used decides which rules apply: feed images have an aspect-ratio range.
Role = Literal["post", "carousel", "reel", "story", "cover"]

# MP4/MOV are sent as they are when they keep Meta's rules; the others are transcoded.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"})
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".tif", ".tiff", ".bmp"}
)


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
    """Given a path or URL as written, return "video" for a video suffix, else `default`."""
    name = source.split("?", 1)[0].split("#", 1)[0]
    suffix = os.path.splitext(name)[1].lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
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
