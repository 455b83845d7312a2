"""The converted copies in `state_dir/cache/` (SPEC §7): what is sent in place of a user's file.

One home for both kinds: a JPEG made by `convert` from an image, an MP4 made by `transcode`
from a video. A copy is named after the sha256 of its source's bytes, what it was made for
and the recipe (`image_name`, `video_name`), so it is made once and reused; the media server
serves the folder on its /c/ links. `sweep(cache_dir, keep)` deletes the copies no job
needs, and what a writer killed mid-copy left. The user's file is never written.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from publisher.store import atomicfile

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
STALE_TEMP_S = 24 * 3600
ENTRY = re.compile(
    r"^[0-9a-f]{64}\."
    r"(?:(feed|story)\.(none|crop|pad)\.r[0-9]+\.jpg|(reel|story|carousel)\.r[0-9]+\.mp4)$"
)


def image_name(digest: str, target: str, fit: str | None, recipe: int) -> str:
    """The name of an image's JPEG copy."""
    return f"{digest}.{target}.{fit or 'none'}.r{recipe}.jpg"


def video_name(digest: str, use: str, recipe: int) -> str:
    """The name of a video's MP4 copy."""
    return f"{digest}.{use}.r{recipe}.mp4"


def digest_of(handle: BinaryIO) -> str:
    """Given an open file, return the sha256 of its bytes, read in chunks (bounded memory);
    the file is left at its end."""
    handle.seek(0)
    hasher = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        hasher.update(chunk)
    return hasher.hexdigest()


def sweep(cache_dir: Path, keep: set[str]) -> int:
    """Given the cache folder and the file names that jobs still need, delete every other
    converted copy, and the temp files a writer killed mid-copy left (untouched for
    `STALE_TEMP_S`: a writer at work keeps its temp file fresh); return how many copies were
    deleted. Only names this module and `atomicfile` make are touched."""
    try:
        names = os.listdir(cache_dir)
    except FileNotFoundError:
        return 0
    _remove_stale_temps(cache_dir, names)
    removed = 0
    for name in names:
        if ENTRY.match(name) and name not in keep:
            try:
                os.unlink(cache_dir / name)
            except FileNotFoundError:
                continue
            removed += 1
    return removed


def _remove_stale_temps(cache_dir: Path, names: list[str]) -> None:
    cutoff = time.time() - STALE_TEMP_S
    for name in names:
        if not (name.startswith(".") and name.endswith(atomicfile.TEMP_SUFFIX)):
            continue
        path = cache_dir / name
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


# A converted copy is needed while Instagram may fetch it: a link lives link_ttl. Its mtime
# is the last time a link to it was made (the publish flow touches it), so a copy older than
# link_ttl + this margin has no live link. A job not done that needs it again gets it remade,
# the same bytes (a cache, not a record).
CACHE_MARGIN = timedelta(days=1)


def sweep_unlinked(cache_dir: Path, link_ttl: timedelta, now: datetime) -> None:
    """At start (no conversion is under way yet): delete the converted copies no live link
    can point to. A failure is logged, never fatal: the next start tries again."""
    cutoff = (now - link_ttl - CACHE_MARGIN).timestamp()
    try:
        with os.scandir(cache_dir) as entries:
            keep = {entry.name for entry in entries if entry.stat().st_mtime >= cutoff}
        removed = sweep(cache_dir, keep)
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("media: the converted copies in %s were not swept: %s", cache_dir, exc)
        return
    if removed:
        log.info("media: deleted %d converted cop(ies) no job needs", removed)
