"""Replacing a file atomically: a reader or a crash sees the old bytes or the new, never a mix.

The recipe (RELIABILITY.md §4.5): resolve symlinks so the link stays a link, write a temp file
in the target's own folder (same file system, so the rename is atomic), fsync it, give it the
old file's mode (and owner when we can), check that nobody changed the target since the caller
read it, `os.replace`, then fsync the folder so the rename itself survives a power loss.

Temp files are named `.<name>.<random>.publisher-tmp`: dotfiles, so the draft watcher ignores
them, and a suffix no user file has, so `remove_stale_temps` can clear what a kill -9 left.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_SUFFIX = ".publisher-tmp"
NEW_FILE_MODE = 0o644


def write_bytes(
    path: Path,
    data: bytes,
    *,
    mode: int | None = None,
    _before_replace: Callable[[], None] | None = None,
) -> None:
    """Given a path and bytes, atomically make the file at `path` hold exactly `data`.

    A symlink at `path` is followed: its target is replaced and the link stays. The new file
    keeps the old file's permission bits, its group when we may set it, and its owner when we
    run as root; a new file gets 0o644 minus the umask. With `mode` (a secret: 0o600) the
    file gets exactly those bits, old or new, and is never readable by others on the way.
    `_before_replace` is a test hook called right before the rename. (A draft the user may
    be editing is not written here but by `drafts.writeback`, which checks for their save.)

    Raise OSError on I/O errors. No temp file is left behind by any exception.
    """
    target = Path(os.path.realpath(path))
    folder = target.parent
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    temp = Path(temp_name)
    try:
        try:
            write_all(fd, data)
            keep_owner_and_mode(fd, old, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if _before_replace is not None:
            _before_replace()
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_folder(folder)


def create_all(files: list[tuple[Path, bytes]]) -> None:
    """Given new files (path, bytes), create them all, or none: each appears whole (written
    to a temp file and flushed to disk first), an existing file is never replaced, and when any
    cannot be made (one already there, a full disk) those made by this call are removed.

    The temp files are all written before the first name appears, so the names appear
    within moments of each other. A name is made with `os.link`, which fails when the name
    exists (unlike a rename). Raise FileExistsError naming the first name already taken,
    or OSError; no temp file is left behind.
    """
    temps: list[Path] = []
    made: list[Path] = []
    try:
        for path, data in files:
            fd, temp_name = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX
            )
            temps.append(Path(temp_name))
            try:
                write_all(fd, data)
                keep_owner_and_mode(fd, None)
            finally:
                os.close(fd)
        # One sync(2) for all of them instead of an fsync each: on ext4 every fsync waits
        # for a journal commit, 3 ms each here, 3 s for 1,000 imported drafts; one sync
        # flushed the same 1,000 files in 0.2 s (docs/benchmarks.md, "Import").
        os.sync()
        for (path, _data), temp in zip(files, temps, strict=True):
            os.link(temp, path)
            made.append(path)
    except BaseException:
        for path in made:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    for folder in sorted({path.parent for path, _ in files}):
        fsync_folder(folder)


def fsync_folder(folder: Path) -> None:
    """Given a folder, flush its entries (a rename, a new file) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(folder: Path) -> int:
    """Given a folder, delete the temp files a killed writer left there; return how many.

    Only names ending in `.publisher-tmp` are touched. Call it only while no other process
    writes into `folder` (the job store holds its lock when it does).
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed


_RENAME_EXCHANGE = 2  # linux/fs.h


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """glibc's renameat2 (2.28+), or None where there is none (not Linux, musl, ...). Looked
    up in the symbols the process already has (no search for the library)."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes += [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def exchange(folder: int, first: str, second: str) -> bool:
    """Given an open folder and two names in it, swap the two files atomically (Linux
    renameat2 RENAME_EXCHANGE: each name always names one of the two files, nothing is
    unlinked). Return False, nothing done, where the system or the file system cannot;
    raise OSError on any other failure."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    done = renameat2(folder, os.fsencode(first), folder, os.fsencode(second), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), second)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to `fd` (os.write may write fewer)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def keep_owner_and_mode(fd: int, old: os.stat_result | None, mode: int | None = None) -> None:
    """Give the new file `fd` what the file it replaces had: its permission bits, its group
    when we may set it, its owner when we run as root (`old` None: a new file, 0o644 minus
    the umask). With `mode`, exactly those bits. When we are not root and the old file was
    someone else's (an editor's draft), we become its owner, so its group gets what the
    owner could do: the editor, a member of that group, can still save it."""
    # The temp file was made 0o600: it is never wider than what it ends with.
    if old is None:
        os.fchmod(fd, mode if mode is not None else NEW_FILE_MODE & ~current_umask())
        return
    bits = mode if mode is not None else stat.S_IMODE(old.st_mode)
    if os.geteuid() == 0:
        os.fchown(fd, old.st_uid, old.st_gid)
    else:
        # Keeping the group is allowed when we belong to it (the service user is in the
        # drafts' group); the new file starts with our own group, or the folder's (setgid).
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, old.st_gid)
        if mode is None and old.st_uid != os.geteuid() and os.fstat(fd).st_gid == old.st_gid:
            bits = group_gets_owner_rights(bits)
    # After fchown: changing the owner may clear set-id bits, so the mode comes last.
    os.fchmod(fd, bits)


def group_gets_owner_rights(mode: int) -> int:
    """Given a file's permission bits, return them with the owner's read/write/execute also
    given to the group (0o644 -> 0o664): what a draft's owner keeps when the service user
    becomes its owner and the editor reaches it through the group."""
    return mode | ((mode & 0o700) >> 3)


def current_umask() -> int:
    """Return the process umask without changing it (os.umask is racy across threads)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    # No /proc (not Linux): set and restore; a thread creating a file in between is the price.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
