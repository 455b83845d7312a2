"""What a watched file looks like now: one read of a path, and the walk of a folder.

A draft (`*.yaml`, `*.yml`) is read by its contents, through the watcher's fingerprint; any
other file is media, known by its signature (inode, size, mtime, ctime: videos are too big to
hash twice per change). Nothing here blocks: a FIFO named like a draft is opened
non-blocking and never read, a file too large to be a draft is never read whole.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from publisher import yamlsafe
from publisher.drafts.files import is_draft_name

# Larger files are not drafts (yamlsafe refuses them): watched by signature, never read whole.
MAX_DRAFT_BYTES = yamlsafe.MAX_BYTES

Signature = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns


@dataclass(frozen=True)
class Observation:
    """One read of a path. `fingerprint` None means the path does not exist (as a file)."""

    fingerprint: str | None
    signature: Signature | None = None


GONE = Observation(None)


def sha256_fingerprint(data: bytes) -> str:
    """The default fingerprint: the sha256 hex of the whole file."""
    return hashlib.sha256(data).hexdigest()


def observe(path: Path, fingerprint: Callable[[Path, bytes], str]) -> Observation:
    """Read a path: a draft by `fingerprint(path, its bytes)`, media by its signature. A
    path that cannot be read is still an observation (the daemon reports it), unless gone."""
    try:
        if not is_draft_name(path.name):
            status = os.stat(path)
            if not stat.S_ISREG(status.st_mode):
                return GONE
            sign = signature(status)
            return Observation("stat:" + ":".join(map(str, sign)), sign)
        # O_NONBLOCK: a FIFO named x.yaml must not block the watcher for ever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as file:
            status = os.fstat(file.fileno())
            sign = signature(status)
            if not stat.S_ISREG(status.st_mode):
                # Delivered (the daemon reports it invalid), never read.
                return Observation("special:" + ":".join(map(str, sign)), sign)
            if status.st_size > MAX_DRAFT_BYTES:
                # Too large to be a draft (the daemon says so): not read into memory.
                return Observation("large:" + ":".join(map(str, sign)), sign)
            data = file.read(MAX_DRAFT_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return GONE
    except OSError as exc:
        # Unreadable (permissions, I/O): still delivered, so the daemon reports it.
        try:
            sign = signature(os.stat(path))
        except OSError:
            return GONE
        return Observation(f"unreadable:{exc.errno}:{sign}", sign)
    return Observation(fingerprint(path, data), signature(status))


def scan(folder: Path, wants: Callable[[Path], bool]) -> dict[Path, Signature]:
    """Return every file under folder that `wants` keeps, with its signature (hidden
    folders and symlinked folders are not entered)."""
    found: dict[Path, Signature] = {}
    for entry in _walk(folder):
        path = Path(entry.path)
        if not wants(path):
            continue
        try:
            found[path] = signature(entry.stat())
        except OSError:
            continue  # gone between listing and stat: the event or next scan tells
    return found


def signature(status: os.stat_result) -> Signature:
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def _walk(folder: Path) -> Iterator[os.DirEntry[str]]:
    """Yield the regular files (or links to files) under folder, depth first."""
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue  # gone or unreadable; a file we cannot list cannot be a draft we miss
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        stack.append(entry.path)
                elif entry.is_file():
                    yield entry
            except OSError:
                continue
