"""Nothing outside content_dir is read or written through a draft that is a link (issue 8):
a symlinked x.yaml pointing at a file elsewhere is an invalid draft, never read, and its
status block is never written into the file it points to; a link swapped in while a draft is
being opened makes the open fail rather than read what the link points to."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from publisher import confined, drafts
from publisher.config import Config
from publisher.drafts import writeback
from publisher.job import Job, State
from tests.support.site import load_config, make_site

VALID = "type: story\nmedia: [story.jpg]\n"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(make_site(tmp_path / "site"))


def test_a_draft_linked_to_a_file_outside_is_invalid_and_never_read(
    tmp_path: Path, config: Config
) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(VALID)  # a draft that would be valid if it were read
    link = config.content_dir / "x.yaml"
    link.symlink_to(outside)

    loaded = drafts.load(link, config)

    assert loaded.draft is None
    [error] = [str(problem) for problem in loaded.errors]
    assert "leads outside content_dir" in error and "copy the file in" in error
    assert "x.yaml" in drafts.discover(config.content_dir)[0].name  # still listed, as invalid


def test_a_draft_in_a_linked_folder_outside_is_invalid(tmp_path: Path, config: Config) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "post.yaml").write_text(VALID)
    (config.content_dir / "linked").symlink_to(elsewhere, target_is_directory=True)

    loaded = drafts.load(config.content_dir / "linked" / "post.yaml", config)

    assert loaded.draft is None
    assert any("leads outside content_dir" in str(problem) for problem in loaded.errors)


def test_a_link_inside_content_dir_is_still_read(config: Config) -> None:
    real = config.content_dir / "drafts" / "story.yaml"
    real.parent.mkdir()
    real.write_text("type: story\nmedia: [../story.jpg]\n")
    (config.content_dir / "alias").symlink_to("drafts", target_is_directory=True)

    loaded = drafts.load(config.content_dir / "alias" / "story.yaml", config)

    assert loaded.draft is not None, loaded.problems


@pytest.mark.parametrize("password", ["root:x:0:0:root:/root:/bin/bash\n"])
def test_the_status_is_never_written_through_a_link_out(
    tmp_path: Path, config: Config, password: str
) -> None:
    target = tmp_path / "passwd"
    target.write_text(password)
    before = target.stat()
    (config.content_dir / "x.yaml").symlink_to(target)

    job = Job(draft="x.yaml", state=State.INVALID, error="is a symlink")
    writeback.write(config, job)

    assert target.read_text() == password
    assert target.stat().st_mtime_ns == before.st_mtime_ns


def test_a_folder_swapped_for_a_link_while_opening_never_reads_outside(
    tmp_path: Path, config: Config
) -> None:
    """The race the check alone loses: `sub` is a real folder when checked and a link to a
    folder outside when opened. Every open either reads the inside file or fails."""
    inside = config.content_dir / "sub"
    inside.mkdir()
    (inside / "d.yaml").write_bytes(b"inside")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "d.yaml").write_bytes(b"SECRET")
    parked = config.content_dir / ".parked"
    link = config.content_dir / ".link"
    link.symlink_to(elsewhere, target_is_directory=True)

    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            os.rename(inside, parked)
            os.rename(link, inside)  # sub -> elsewhere
            os.rename(inside, link)
            os.rename(parked, inside)  # sub is the real folder again

    swapper = threading.Thread(target=swap)
    swapper.start()
    read: set[bytes] = set()
    failures = 0
    try:
        for _ in range(3000):
            try:
                with confined.open_beneath(config.content_dir, inside / "d.yaml") as handle:
                    read.add(handle.read())
            except OSError:
                failures += 1
    finally:
        stop.set()
        swapper.join()
    assert b"SECRET" not in read
    assert read == {b"inside"}  # and it did read the real file some of the time
    assert failures > 0 or read
