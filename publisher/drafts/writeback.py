"""A job's status written into its draft: the one way every part of publisher does it.

The job store is the truth and the draft's `status:` block its projection (SPEC §5), so the
write-back is best effort and never fails what asked for it: a draft that keeps changing, or
that cannot be written, is logged and gets its block at its next change. The publish flow,
`publisher retry`/`cancel` and the daemon's draft sync all write through `write`.

Never through a link, and never outside content_dir, even in a race: the draft's folder is
opened one name at a time from content_dir with O_NOFOLLOW, the draft is read through an
O_NOFOLLOW descriptor, the new file is made beside it in that folder, and just before the
swap the name is checked, again without following it, to still be the very file read (same
device and inode, same bytes). A link swapped in at any point fails a check, or is itself
replaced by the new file: what it points to is never written. The swap is an exchange, so a
save that slips in between the check and the swap is found and put back (`_replace`).

Several users on one box (README "Running as a service"): the new file keeps the draft's
mode and group (and its owner when we run as root). When we are not root and the draft was
someone else's, we become its owner, so the group gets what the owner could do: the editor
who saved it, a member of its group, can still save it.

A write-back that failed for a reason that passes (a full disk, an I/O error, an edit that kept
racing ours) leaves its block behind: `behind(content_dir)` names those drafts to the daemon,
which writes their blocks again every little while, so none stays behind once it can be
written.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from publisher import confined, yamlsafe
from publisher.config import Config
from publisher.drafts import statusblock
from publisher.errors import ConcurrentEdit
from publisher.job import Job
from publisher.store import atomicfile

log = logging.getLogger(__name__)

RETRIES = 5
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class LinkRefused(OSError):
    """The draft is a symbolic link: publisher never writes through one."""


# Why a write-back failed that passes by itself: then the block is written again later.
_PASSING = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.EROFS,
    errno.EAGAIN,
    errno.EBUSY,
    errno.EINTR,
    errno.ENOMEM,
}
_behind: dict[Path, set[str]] = {}  # content_dir -> drafts (relative) whose block is behind
_behind_lock = threading.Lock()


def behind(content_dir: Path) -> set[str]:
    """Given content_dir, return the drafts whose last write-back failed for a reason that
    passes (a full disk, an I/O error, edits that kept racing ours): the daemon writes their
    blocks again a little later, until one succeeds."""
    with _behind_lock:
        return set(_behind.get(content_dir, ()))


def _fell_behind(content_dir: Path, rel: str) -> bool:
    """Note that the block of `rel` is behind; return True if it was already."""
    with _behind_lock:
        drafts = _behind.setdefault(content_dir, set())
        if rel in drafts:
            return True
        drafts.add(rel)
        return False


def caught_up(content_dir: Path, rel: str) -> None:
    """Forget that the block of `rel` is behind (written, or nothing left to write it to)."""
    with _behind_lock:
        drafts = _behind.get(content_dir)
        if drafts is not None:
            drafts.discard(rel)
            if not drafts:
                del _behind[content_dir]


def write(
    config: Config,
    job: Job,
    *,
    path: Path | None = None,
    before_replace: Callable[[], None] | None = None,
) -> bool:
    """Given the config and a job, write the job's status block (times in config.tz) into its
    draft: `path`, else content_dir / job.draft. Return False if the draft file is not there
    (what that means is the caller's to say), True otherwise: written, or the reason it was
    not (a link, an edit that kept racing ours, a disk error) logged as a warning. Never
    raise for the file. `before_replace` is a test hook, called right before the check that
    precedes the rename."""
    target = path if path is not None else config.content_dir / job.draft
    if not os.path.lexists(target):
        caught_up(config.content_dir, job.draft)  # gone: nothing is behind any more
        return False
    try:
        replace_block(config.content_dir, target, job.status_block(config.tz), before_replace)
    except FileNotFoundError:
        caught_up(config.content_dir, job.draft)
        return False
    except ConcurrentEdit as exc:
        _log_behind(config.content_dir, job.draft, str(exc))
        return True
    except confined.OutsideContentDir as exc:
        # never write through a link out of content_dir (it could be any file the service
        # user may write: its config, its state)
        log.warning("%s: status not written back: the draft %s", job.draft, exc.strerror)
    except PermissionError:
        log.warning(
            "%s: status not written back: permission denied; the service user must be able "
            'to read it and to create files in %s (sudo chmod g+rwX %s; README "Running as a '
            'service")',
            job.draft,
            target.parent,
            target.parent,
        )
    except OSError as exc:
        if exc.errno in _PASSING and not isinstance(exc, LinkRefused):
            _log_behind(config.content_dir, job.draft, str(exc.strerror or exc))
            return True
        log.warning("%s: status not written back: %s", job.draft, exc.strerror or exc)
    caught_up(config.content_dir, job.draft)  # written, or never will be by waiting
    return True


def _log_behind(content_dir: Path, rel: str, reason: str) -> None:
    """A write-back failed for a reason that passes: say so once (then at debug level, as
    the daemon tries again every little while), and note the block as behind."""
    again = _fell_behind(content_dir, rel)
    log.log(
        logging.DEBUG if again else logging.WARNING,
        "%s: status not written back: %s; it is written again once it can be",
        rel,
        reason,
    )


def replace_block(
    content_dir: Path,
    path: Path,
    status: Mapping[str, Any],
    before_replace: Callable[[], None] | None = None,
) -> bytes:
    """Given content_dir, a draft path in it and the status fields, put the block into the
    draft atomically (see the module docstring) and return the bytes now in the file
    (nothing is written when they are already there; a draft whose layout cannot take a
    block is left as it is, with a warning logged).

    If the user saves between our read and our rename, their edit wins: we read again and
    put the block onto their new text, up to RETRIES more times. Raise ConcurrentEdit when
    every attempt met an edit, LinkRefused if the draft is a link, OutsideContentDir if its
    folder leads out of content_dir, FileNotFoundError if it is gone, OSError otherwise.
    """
    folder_path = confined.inside(content_dir, path.parent)
    name = path.name
    folder = confined.open_folder_beneath(content_dir, folder_path)
    try:
        for _attempt in range(RETRIES + 1):
            before, current = _read(folder, name)
            try:
                new = statusblock.replace(current, status)
            except ValueError as exc:
                # Callers treat write-back as best effort; the job store keeps the status.
                log.warning("%s: status not written back: %s", path, exc)
                return current
            if new == current:
                return current
            try:
                _replace(folder, name, new, before, current, before_replace=before_replace)
            except ConcurrentEdit:
                continue
            return new
    finally:
        os.close(folder)
    raise ConcurrentEdit(f"{path} kept changing while publisher wrote its status")


def _read(folder: int, name: str) -> tuple[os.stat_result, bytes]:
    """The draft `name` in the open `folder`, never through a link: (its stat, its bytes)."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkRefused(
                errno.ELOOP,
                "it is a symbolic link, and publisher never writes through one (replace the "
                "link with the file itself)",
            ) from None
        raise
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(handle.fileno())
        if stat.S_ISDIR(found.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(found.st_mode):
            raise OSError(0, "not a regular file")
        data = handle.read(yamlsafe.MAX_BYTES + 1)  # a draft is capped: never read past it
        if len(data) > yamlsafe.MAX_BYTES:
            raise OSError(errno.EFBIG, "the file is larger than a draft may be")
        return found, data


def _replace(
    folder: int,
    name: str,
    data: bytes,
    before: os.stat_result,
    expected: bytes,
    *,
    before_replace: Callable[[], None] | None,
) -> None:
    """Put `data` in place of `name` in `folder` atomically, if `name` is still the file
    `before` with the bytes `expected`; else raise ConcurrentEdit (nothing written).

    The check and the swap cannot be one step: an editor takes no lock. So the new file is
    exchanged with the draft (renameat2 RENAME_EXCHANGE, where the system has it) rather
    than renamed over it: what the swap took off the name is still there, under the temp
    name, and is checked once more; a save that came between the check and the swap goes
    back to its name (`_undo_if_edited`). Without the exchange, a plain rename, and the
    window of microseconds between check and rename stays."""
    temp = f".{name}.{secrets.token_hex(6)}{atomicfile.TEMP_SUFFIX}"
    fd = os.open(temp, _TEMP_FLAGS, 0o600, dir_fd=folder)
    try:
        try:
            atomicfile.write_all(fd, data)
            atomicfile.keep_owner_and_mode(fd, before)
            os.fsync(fd)
            ours = os.fstat(fd)
        finally:
            os.close(fd)
        if before_replace is not None:
            before_replace()
        try:
            now, current = _read(folder, name)
        except LinkRefused:
            raise ConcurrentEdit(f"{name} became a link while publisher was updating it") from None
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino) or current != expected:
            raise ConcurrentEdit(f"{name} changed on disk while publisher was updating it")
        exchanged = atomicfile.exchange(folder, temp, name)
        if not exchanged:
            # A link swapped in here is replaced by our file, never written through.
            os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=folder)  # still ours: nothing was exchanged
        raise
    if exchanged:
        _undo_if_edited(folder, name, temp, before=before, expected=expected, ours=ours)
    os.fsync(folder)


def _undo_if_edited(
    folder: int,
    name: str,
    temp: str,
    *,
    before: os.stat_result,
    expected: bytes,
    ours: os.stat_result,
) -> None:
    """After the exchange, `temp` names what `name` held an instant before: the draft as we
    read it (then it goes), or a save the user made since our check (then it goes back to
    `name` and ConcurrentEdit is raised: their edit wins, the block comes at the next try)."""
    try:
        then, old = _read(folder, temp)
        kept = (then.st_dev, then.st_ino) == (before.st_dev, before.st_ino) and old == expected
    except OSError:  # a link the user put there, or a read error: theirs, whatever it is
        kept = False
    if kept:
        os.unlink(temp, dir_fd=folder)
        return
    try:
        atomicfile.exchange(folder, temp, name)
    except OSError as exc:  # the save is not lost: say where it is
        raise OSError(
            exc.errno,
            f"a save made while publisher wrote the status is kept as {temp} beside the draft "
            f"(it could not be put back: {exc.strerror or exc}); rename it over {name}",
        ) from exc
    # One more save between the two exchanges would now be at `temp` instead of our file:
    # the newest save is the one the name must hold.
    back = os.stat(temp, dir_fd=folder, follow_symlinks=False)
    if (back.st_dev, back.st_ino) == (ours.st_dev, ours.st_ino):
        os.unlink(temp, dir_fd=folder)
    else:
        os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    raise ConcurrentEdit(f"{name} changed on disk while publisher was updating it")
