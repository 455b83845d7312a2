"""The state_dir lock: one process owns a state_dir (its job store, its archive) at a time.

`state_dir/lock` is flock'd for as long as the owner runs and holds its pid, so a second
process is told who holds it. The kernel releases the flock when the descriptor is closed,
or when the process dies, so a kill -9 leaves no stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from publisher.errors import StateLocked

LOCK_FILE = "lock"


def take(state_dir: Path) -> int:
    """Given a state_dir, take an exclusive flock on state_dir/lock and write our pid in it;
    return the descriptor (close it to release the lock).

    Raise StateLocked naming the holder if another process (or another store of this
    process) has it.
    """
    path = state_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


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
