"""The state_dir lock on a box with several users (issue 8, fault 5): made group read-write
whatever the umask, and taken by a member of the group even from a lock file it may only
read (flock needs no write access). Other uids run in forked children."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.errors import StateLocked
from publisher.store import lock
from tests.support.users import in_child_as, require_root, shared_folder

GROUP, SERVICE, EDITOR, OUTSIDER = 42430, 42431, 42432, 42433


def test_the_lock_file_is_the_groups_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        fd = lock.take(tmp_path)
    finally:
        os.umask(previous)
    os.close(fd)
    assert stat.S_IMODE((tmp_path / lock.LOCK_FILE).stat().st_mode) == lock.MODE


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """state_dir as the README makes it: the service's, group-accessible (2770)."""
    require_root("the lock's group tests")
    with shared_folder() as root:
        folder = root / "state"
        folder.mkdir()
        os.chown(folder, SERVICE, GROUP)
        folder.chmod(0o2770)
        yield folder


def test_a_member_takes_a_lock_file_it_may_only_read(state_dir: Path) -> None:
    path = state_dir / lock.LOCK_FILE
    path.write_text("")
    os.chown(path, SERVICE, GROUP)
    path.chmod(0o640)  # as an older publisher made it

    def take_and_release() -> None:
        os.close(lock.take(state_dir))

    in_child_as(EDITOR, EDITOR, [GROUP], take_and_release)


def test_a_member_is_told_who_holds_it(state_dir: Path) -> None:
    held = lock.take(state_dir)  # the daemon
    os.chown(state_dir / lock.LOCK_FILE, SERVICE, GROUP)
    try:

        def try_it() -> None:
            with pytest.raises(StateLocked, match=f"process {os.getppid()}"):
                lock.take(state_dir)

        in_child_as(EDITOR, EDITOR, [GROUP], try_it)
    finally:
        os.close(held)


def test_anyone_else_meets_a_permission_error(state_dir: Path) -> None:
    def try_it() -> None:
        with pytest.raises(PermissionError):
            lock.take(state_dir)

    in_child_as(OUTSIDER, OUTSIDER, [], try_it)
