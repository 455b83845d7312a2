"""Opening a file without being fooled by what it really is, or where it really leads.

Drafts and media are read, served and written only beneath content_dir (and the cache beneath
state_dir): `inside` resolves a path and says whether it stays beneath its folder;
`open_beneath` then opens it one folder at a time from there with O_NOFOLLOW, so a link
swapped in after the check makes the open fail instead of reading what it points to.
`open_regular` and `read_capped` never block on a FIFO and never read past a cap. Used by
drafts (reading, writing back), hosting (serving, uploading to S3), publishing (resumable
uploads) and `doctor`.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePath
from typing import BinaryIO


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading without ever blocking on a FIFO; raise OSError if it is not a
    regular file (it may have been swapped since it was looked at)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    return _regular_file(fd)


class TooLarge(OSError):
    """The file holds more bytes than a draft may."""


def read_capped(path: Path, limit: int) -> bytes:
    """Given a file and the most bytes it may hold, return its bytes, never reading more
    than `limit + 1` (a 50 MB file named x.yaml must not be read into memory). Raise
    TooLarge if it holds more, OSError if it cannot be read or is not a regular file."""
    with open_regular(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(errno.EFBIG, f"the file is larger than a draft may be ({limit} bytes)")
    return data


def _regular_file(fd: int) -> BinaryIO:
    """The open file `fd` as a binary file object; close it and raise OSError if it is not
    a regular file."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class OutsideContentDir(OSError):
    """The path leads out of content_dir (through a symlink, or it never was inside)."""


_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def inside(content_dir: Path, path: Path) -> Path:
    """Given content_dir and a path, return where the path really leads (every link
    resolved), relative to content_dir's real location. Raise OutsideContentDir if it leads
    anywhere else."""
    base = Path(os.path.realpath(content_dir))
    real = Path(os.path.realpath(path))
    try:
        return real.relative_to(base)
    except ValueError:
        raise OutsideContentDir(0, f"leads outside content_dir, to {real}") from None


def open_beneath(content_dir: Path, path: Path) -> BinaryIO:
    """Open `path` for reading only if it leads to a regular file inside content_dir: the
    links are resolved and checked first, then the file is opened one folder at a time from
    content_dir with O_NOFOLLOW, so a link swapped in after the check makes the open fail
    (ELOOP) instead of reading what it points to. Never blocks on a FIFO. Raise
    OutsideContentDir, or OSError if the file cannot be opened or is not a regular file."""
    relative = inside(content_dir, path)
    if not relative.parts:
        raise IsADirectoryError(0, "is content_dir itself")
    folder = open_folder_beneath(content_dir, relative.parent)
    try:
        fd = os.open(relative.parts[-1], _FILE_FLAGS, dir_fd=folder)
    finally:
        os.close(folder)
    return _regular_file(fd)


def open_folder_beneath(content_dir: Path, relative: PurePath) -> int:
    """Given content_dir and a folder path relative to its real location (as `inside`
    returns), open that folder one name at a time with O_NOFOLLOW and return its descriptor
    (close it): a folder swapped for a link makes the open fail (ELOOP or ENOTDIR). Raise
    OSError."""
    folder = os.open(os.path.realpath(content_dir), _FOLDER_FLAGS)
    try:
        for part in relative.parts:
            deeper = os.open(part, _FOLDER_FLAGS, dir_fd=folder)
            os.close(folder)
            folder = deeper
    except BaseException:
        os.close(folder)
        raise
    return folder
