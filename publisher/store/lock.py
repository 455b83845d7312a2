"""The state_dir lock: one process owns a state_dir (its job store, its archive) at a time.

`state_dir/lock` is flock'd for as long as the owner runs and holds its pid, so a second
process is told who holds it. The kernel releases the flock when the descriptor is closed,
or when the process dies, so a kill -9 leaves no stale lock behind.

Several users (README "Running as a service"): `publisher retry`/`cancel` of a member of the
service's group try the lock to learn whether the daemon runs, so the lock file is made
group read-write (MODE, whatever the umask). A flock needs no write access, so a lock file
the caller may only read is still taken, without writing the pid into it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from publisher.errors import StateLocked

log = logging.getLogger(__name__)

LOCK_FILE = "lock"
MODE = 0o660
_FLAGS = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def take(state_dir: Path) -> int:
    """Given a state_dir, take an exclusive flock on state_dir/lock and write our pid in it;
    return the descriptor (close it to release the lock).

    Raise StateLocked naming the holder if another process (or another store of this
    process) has it; PermissionError if this user may not open it (not the service user nor
    a member of its group).
    """
    path = state_dir / LOCK_FILE
    fd, writable = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateLocked(
            f"{state_dir} is used by {holder(path)}; stop it first or use another state_dir"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    if writable:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def take_again(state_dir: Path, fd: int) -> int | None:
    """Given a state_dir and the descriptor of the lock we took on it: if its lock file is no
    longer the one we hold (someone deleted state_dir), make the folder again, take its lock
    and close `fd`; return the new descriptor. Return None when the lock is still ours, or
    when it cannot be taken again (logged: a lock another process took meanwhile is left to
    it, and our writes fail until publisher is restarted)."""
    if _is_ours(state_dir, fd):
        return None
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        new = take(state_dir)
    except StateLocked as exc:
        log.error("state_dir was deleted and taken by another process: %s", exc)
        return None
    except OSError as exc:
        log.error("state_dir %s was deleted and cannot be made again: %s", state_dir, exc)
        return None
    os.close(fd)
    return new


def _is_ours(state_dir: Path, fd: int) -> bool:
    held = os.fstat(fd)
    try:
        there = os.stat(state_dir / LOCK_FILE)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


def _open(path: Path) -> tuple[int, bool]:
    """Open (or make) the lock file; return the descriptor and whether it is writable."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _FLAGS, MODE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, MODE)  # what the umask took from the group
        except BaseException:
            os.close(fd)
            raise
        return fd, True
    try:
        return os.open(path, os.O_RDWR | _FLAGS), True
    except PermissionError:
        return os.open(path, os.O_RDONLY | _FLAGS), False


def holder(lock_path: Path) -> str:
    """Given the lock file, return who holds it, in words: `process 123 (publisher run)`."""
    try:
        pid = int(lock_path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return "another process"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"process {pid}"
    cmdline = " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    if len(cmdline) > 200:
        cmdline = cmdline[:197] + "..."
    return f"process {pid} ({cmdline})" if cmdline else f"process {pid}"


def held(state_dir: Path) -> bool:
    """Given a state_dir, return True when a process holds its lock (the daemon, `publisher
    publish`). Asked with a shared lock, let go at once: nothing is written."""
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we got
    return False
