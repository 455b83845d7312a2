"""The write-back on a box with several users (issue 8, faults 3 and 1): the draft keeps its
group and mode (its owner too when we run as root); a draft the service user takes over
stays writable by the editor who saved it (through the group); and no write-back ever goes
through a link, not even one swapped in while it runs.

The other users are uids in forked children (`tests.support.users.in_child_as`): no account
is needed, only root to switch to them."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.drafts import statusblock, writeback
from publisher.errors import ConcurrentEdit
from publisher.job import Job, State
from publisher.store import atomicfile
from tests.support.site import load_config, make_site
from tests.support.users import in_child_as, require_root, shared_folder

DRAFT = b"type: story\nmedia: [story.jpg]\n"
STATUS = {"state": "scheduled", "attempts": 0}
GROUP = 42420  # the drafts' group ("publisher" in the README)
SERVICE = 42421  # the service user, a member of GROUP
EDITOR = 42422  # an editor, a member of GROUP


@pytest.fixture
def content() -> Iterator[Path]:
    """content_dir as the README makes it: group GROUP, setgid, group-writable."""
    require_root("the write-back's owner and group tests")
    with shared_folder() as root:
        folder = root / "content"
        folder.mkdir()
        os.chown(folder, 0, GROUP)
        folder.chmod(0o2775)
        yield folder


def saved_by_editor(content: Path, mode: int = 0o644) -> Path:
    path = content / "x.yaml"
    path.write_bytes(DRAFT)
    os.chown(path, EDITOR, GROUP)  # the editor saved it; the folder's setgid gave it GROUP
    path.chmod(mode)
    return path


def owner(path: Path) -> tuple[int, int, int]:
    found = path.stat()
    return found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(0o644, 0o664), (0o600, 0o660), (0o664, 0o664), (0o640, 0o660), (0o755, 0o775)],
)
def test_the_group_gets_what_the_owner_could_do(mode: int, expected: int) -> None:
    assert atomicfile.group_gets_owner_rights(mode) == expected


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o600])
def test_as_root_owner_group_and_mode_are_kept(content: Path, mode: int) -> None:
    path = saved_by_editor(content, mode)
    writeback.replace_block(content, path, STATUS)
    assert statusblock.read(path.read_bytes()) == STATUS
    assert owner(path) == (EDITOR, GROUP, mode)


def test_the_editor_can_still_save_after_the_service_users_write_back(content: Path) -> None:
    path = saved_by_editor(content, 0o644)  # an editor with the usual umask 022

    in_child_as(SERVICE, SERVICE, [GROUP], lambda: writeback.replace_block(content, path, STATUS))

    assert statusblock.read(path.read_bytes()) == STATUS
    assert owner(path) == (SERVICE, GROUP, 0o664)  # the service's now; the group may write

    def editor_saves() -> None:
        with path.open("r+b") as handle:  # in place, as most editors save
            handle.write(b"type: story\nmedia: [story.jpg]\ncaption: edited\n")
            handle.truncate()

    in_child_as(EDITOR, EDITOR, [GROUP], editor_saves)
    assert b"caption: edited" in path.read_bytes()

    # and the next write-back keeps it that way
    in_child_as(SERVICE, SERVICE, [GROUP], lambda: writeback.replace_block(content, path, STATUS))
    assert owner(path) == (SERVICE, GROUP, 0o664)
    assert b"caption: edited" in path.read_bytes()


def test_a_draft_of_a_group_the_service_is_not_in_is_not_opened_to_that_group(
    content: Path,
) -> None:
    path = saved_by_editor(content, 0o644)
    os.chown(path, EDITOR, EDITOR)  # the editor's own group: the service cannot keep it
    path.chmod(0o666)  # but may write the file (and the folder)

    in_child_as(SERVICE, SERVICE, [GROUP], lambda: writeback.replace_block(content, path, STATUS))

    # the new file is in the folder's group (setgid) and keeps the mode, nothing wider
    assert owner(path) == (SERVICE, GROUP, 0o666)


def test_a_service_users_own_draft_keeps_its_mode_exactly(content: Path) -> None:
    path = saved_by_editor(content, 0o640)
    os.chown(path, SERVICE, GROUP)
    in_child_as(SERVICE, SERVICE, [GROUP], lambda: writeback.replace_block(content, path, STATUS))
    assert owner(path) == (SERVICE, GROUP, 0o640)


def test_a_folder_the_group_may_not_write_is_named_with_the_fix(content: Path) -> None:
    folder = content / "alice"
    folder.mkdir()
    os.chown(folder, EDITOR, GROUP)
    folder.chmod(0o2755)  # an editor's umask 022: the group may not create files here
    path = saved_by_editor(folder)
    config = load_config(make_site(content.parent))

    def write_back() -> None:
        said: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("publisher").addHandler(handler)
        job = Job(draft="alice/x.yaml", state=State.SCHEDULED)
        assert writeback.write(config, job) is True
        [message] = said
        assert message.startswith("alice/x.yaml: status not written back: permission denied")
        assert f"sudo chmod g+rwX {folder}" in message

    in_child_as(SERVICE, SERVICE, [GROUP], write_back)
    assert path.read_bytes() == DRAFT


# --- links --------------------------------------------------------------------------------


def test_a_draft_that_is_a_link_is_never_written(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "real.yaml").write_bytes(DRAFT)
    (content / "x.yaml").symlink_to("real.yaml")  # even a link to a draft inside

    with pytest.raises(writeback.LinkRefused, match="never writes through"):
        writeback.replace_block(content, content / "x.yaml", STATUS)

    assert (content / "real.yaml").read_bytes() == DRAFT
    assert (content / "x.yaml").is_symlink()


def test_a_link_swapped_in_during_write_backs_is_never_written_through(tmp_path: Path) -> None:
    """The race the check alone loses: x.yaml is a file when read and a link to a file
    outside when renamed over, again and again. The outside file never changes."""
    content = tmp_path / "content"
    content.mkdir()
    outside = tmp_path / "passwd"
    outside.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    draft = content / "x.yaml"
    draft.write_bytes(DRAFT)
    link = content / ".link"
    link.symlink_to(outside)
    parked = content / ".parked"

    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            if not link.is_symlink():  # a write-back replaced the link by the draft: again
                link.unlink()
                link.symlink_to(outside)
            os.rename(draft, parked)
            os.rename(link, draft)  # x.yaml -> outside
            os.rename(draft, link)
            os.rename(parked, draft)  # x.yaml is the draft again
            stop.wait(0.0002)  # a breath, so that some write-backs meet no swap at all

    swapper = threading.Thread(target=swap)
    swapper.start()
    written = 0
    try:
        for _ in range(400):
            try:
                writeback.replace_block(content, draft, STATUS)
                written += 1
            except (OSError, ConcurrentEdit):
                pass
    finally:
        stop.set()
        swapper.join()
    assert outside.read_bytes() == b"root:x:0:0:root:/root:/bin/bash\n"
    assert written > 0  # and it did write the real draft some of the time
