"""Which files are drafts (the one rule, used by `discover`, `load` and the daemon's watcher),
and opening a file without being fooled by what it really is.

A draft is a file under content_dir whose name ends in .yaml or .yml, compared without
regard to case (`POST.YAML` is a draft), with no name in its path below content_dir (file
or folder) starting with "." or "_" (SPEC §4): those are how a user sets a file aside.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePath
from typing import BinaryIO

SUFFIXES = (".yaml", ".yml")
_SET_ASIDE = (".", "_")


def is_draft_name(name: str) -> bool:
    """Given a file name, return True when it has a draft's suffix, in any case."""
    return name.lower().endswith(SUFFIXES)


def escaped_name(path: Path | str) -> str | None:
    """Given a path, return it with the bytes that are not UTF-8 as `\\xff` escapes if it
    has any (a file name made on another system: os.fsdecode keeps them as surrogates,
    which no log line, JSON or status can hold), else None."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return None


def set_aside(name: str) -> bool:
    """Given one file or folder name, return True when it starts with "." or "_"."""
    return name.startswith(_SET_ASIDE)


def is_draft_relative(relative: PurePath) -> bool:
    """Given a path relative to content_dir, return True when it names a draft."""
    parts = relative.parts
    if not parts or not is_draft_name(parts[-1]):
        return False
    return not any(set_aside(part) for part in parts)


def is_draft_path(path: Path, content_dir: Path) -> bool:
    """Given a path and content_dir, return True when the path is a draft inside it."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(content_dir))
    except ValueError:
        return False
    return is_draft_relative(relative)


def discover(content_dir: Path) -> list[Path]:
    """Return every draft file under `content_dir`, at any depth, sorted. Folders set aside
    are not entered. Symlinked folders are never entered: one inside content_dir would show
    its drafts twice (two jobs, two posts), one outside would leave content_dir. Entries
    that are not folders are listed even when they are not regular files (a FIFO, a broken
    link): `load` reports them as invalid."""
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(content_dir, followlinks=False):
        dirnames[:] = [name for name in dirnames if not set_aside(name)]
        for name in filenames:
            if is_draft_name(name) and not set_aside(name):
                found.append(Path(folder, name))
    return sorted(found)


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
