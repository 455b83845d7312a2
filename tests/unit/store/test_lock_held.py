"""store.lock.held: whether another process (here: another open of the lock) holds state_dir,
asked without taking the lock for good nor writing the file."""

from __future__ import annotations

import os
from pathlib import Path

from publisher.store import lock


def test_held_while_the_lock_is_taken_and_not_after(tmp_path: Path) -> None:
    assert not lock.held(tmp_path)  # no lock file yet
    fd = lock.take(tmp_path)
    try:
        content = (tmp_path / lock.LOCK_FILE).read_bytes()
        assert lock.held(tmp_path)
        assert (tmp_path / lock.LOCK_FILE).read_bytes() == content  # nothing written
    finally:
        os.close(fd)
    assert not lock.held(tmp_path)
    os.close(lock.take(tmp_path))  # asking left no lock behind
