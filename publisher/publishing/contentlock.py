"""One publishing process per content_dir: an exclusive flock on the folder itself.

Two state dirs over one folder would each post its drafts, so `Runtime.open` takes this lock
besides the state_dir's; nothing is written into the folder.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from publisher.errors import ContentLocked


def lock_content(content_dir: Path) -> int | None:
    """Take an exclusive flock on the content_dir folder itself and return its descriptor
    (None when the folder does not exist yet). One publishing process per content_dir,
    whatever its state_dir: two state dirs over one folder would each post its drafts.
    Raise ContentLocked if another process holds it. Nothing is written into the folder."""
    try:
        fd = os.open(content_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ContentLocked(
            f"{content_dir} is being published by another publisher process (a daemon or "
            "`publisher publish`) with another state_dir; use one state_dir per content_dir "
            "and stop the other process first"
        ) from None
    return fd


def unlock_content(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock
