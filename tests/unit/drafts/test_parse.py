"""drafts.parse: reading one draft file (path safety, what the user sees as its path), its
fingerprint and the bytes that are the user's own."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from publisher import confined, drafts, yamlsafe
from publisher.config import Config
from publisher.drafts import statusblock, writeback
from tests.support.drafts import IMG, build, make_config
from tests.support.paths import HOSTILE


@pytest.fixture
def site(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"type: post\n", b"type: post\n"),
        (b"type: post\nstatus:\n  state: scheduled\n", b"type: post\n"),
        # comments after the block's last line belong to the user (statusblock's rule)
        (b"type: post\n\nstatus:\n  state: x\n  # note\n\n", b"type: post\n\n  # note\n\n"),
        (b"type: post\nstatus: {state: x}\n", b"type: post\n"),
        (b"type: post\r\nstatus:\r\n  state: x\r\n", b"type: post\r\n"),
        # a block before user keys is cut too
        (b"status:\n  state: x\ntype: post\n", b"type: post\n"),
        # a column-0 `status:` inside a quoted caption is the user's
        (b'caption: "a\nstatus: b"\ntype: post\n', b'caption: "a\nstatus: b"\ntype: post\n'),
        # indented `status:` belongs to something else
        (b"a:\n  status: 1\n", b"a:\n  status: 1\n"),
        (b"statuses: 1\n", b"statuses: 1\n"),
        (b"status:\n  a: 1\n", b""),
    ],
)
def test_user_bytes(data: bytes, expected: bytes) -> None:
    assert drafts.user_bytes(data) == expected


def test_fingerprint_ignores_the_status_block_only(site: Config) -> None:
    build(site.content_dir, IMG)
    path = site.content_dir / "d.yaml"
    path.write_bytes(b"type: post\nmedia: [a.jpg]")  # no final newline
    first = drafts.load(path, site)
    path.write_bytes(b"type: post\nmedia: [a.jpg]\n\nstatus:\n  state: scheduled\n")
    second = drafts.load(path, site)
    assert second.fingerprint == first.fingerprint
    assert second.status == {"state": "scheduled"}
    assert first.status is None
    path.write_bytes(b"type: post\nmedia: [a.jpg]\ncaption: x\nstatus:\n  state: scheduled\n")
    assert drafts.load(path, site).fingerprint != first.fingerprint


def test_problem_path_is_relative_to_the_working_folder(
    site: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(site.content_dir.parent)
    (site.content_dir / "d.yaml").write_text("type: post\n")
    loaded = drafts.load(site.content_dir / "d.yaml", site)
    assert [str(p) for p in loaded.errors] == [
        "content/d.yaml: media: required: list the files, e.g. media: [photo.jpg]"
    ]
    assert drafts.load(Path("content/d.yaml"), site).errors[0].path == "content/d.yaml"
    assert drafts.load(Path("content/d.yaml"), site).path == site.content_dir / "d.yaml"


def test_draft_outside_content_dir_and_ignored_names(site: Config) -> None:
    build(site.content_dir, IMG)
    outside = site.content_dir.parent / "elsewhere.yaml"
    outside.write_text("type: post\nmedia: [content/a.jpg]\n")
    loaded = drafts.load(outside, site)
    assert loaded.draft is None
    assert "outside content_dir" in loaded.errors[0].message
    hidden = site.content_dir / "_later.yaml"
    hidden.write_text("type: post\nmedia: [a.jpg]\n")
    loaded = drafts.load(hidden, site)
    assert loaded.draft is not None
    assert "ignores this file" in loaded.warnings[0].message


def test_check_media_false_does_not_open_files(site: Config) -> None:
    build(site.content_dir, {"a.jpg": b"\xff\xd8\xff broken"})
    path = site.content_dir / "d.yaml"
    path.write_text("type: post\nmedia: [a.jpg]\n")
    assert drafts.load(path, site, check_media=False).draft is not None
    assert drafts.load(path, site).draft is None


def test_symlink_to_another_draft_is_refused(site: Config) -> None:
    build(site.content_dir, IMG)
    (site.content_dir / "d.yaml").write_text("type: post\nmedia: [a.jpg]\n")
    (site.content_dir / "copy.yaml").symlink_to("d.yaml")
    loaded = drafts.load(site.content_dir / "copy.yaml", site)
    assert loaded.draft is None
    assert "a draft itself" in loaded.errors[0].message
    assert loaded.rel == "copy.yaml"


@pytest.mark.parametrize(
    "data",
    [
        b"type: post\n",
        b"type: post",
        b"type: post\r\n\r\n",
        b"type: post\nstatus:\n  state: x\n",
        b"status: {state: x}\ntype: post\n",
        b"{type: post, status: x}\n",
        b"? status\n: x\ntype: post\n",
        b'"status": 1\n',
        b"  status: 1\n",
        b"caption: |\n  status: inside\n",
        *(path.read_bytes() for path in sorted(HOSTILE.glob("*.yaml"))),
    ],
)
def test_fingerprint_is_the_write_back_fingerprint(data: bytes) -> None:
    # The watcher and the daemon compare drafts.fingerprint with statusblock.fingerprint.
    assert drafts.fingerprint(data) == statusblock.fingerprint(data)


# --- names and sizes a job store or memory cannot take ----------------------------------------


def test_a_file_name_that_is_not_utf8_is_one_invalid_draft_shown_escaped(site: Config) -> None:
    """Such a name reached the job store, whose every later write then failed
    (UnicodeEncodeError: surrogates not allowed)."""
    path = Path(os.fsdecode(bytes(site.content_dir) + b"/caf\xe9-\xff.yaml"))
    path.write_bytes(b"type: post\ncaption: hi\nmedia: [a.jpg]\n")
    loaded = drafts.load(path, site)
    assert loaded.draft is None
    [problem] = loaded.errors
    assert problem.path.endswith("/caf\\xe9-\\xff.yaml")
    assert "not valid UTF-8" in problem.message and "rename it" in problem.message
    str(problem).encode("utf-8")  # printable, loggable
    [found] = drafts.discover(site.content_dir)
    assert found == path


def test_a_file_too_large_for_a_draft_is_never_read_whole(site: Config) -> None:
    big = site.content_dir / "x.yaml"
    with big.open("wb") as file:
        file.truncate(50 * 1024 * 1024)  # sparse: 50 MB that cost no disk
    tracemalloc.start()
    try:
        loaded = drafts.load(big, site)
        with pytest.raises(confined.TooLarge):
            confined.read_capped(big, yamlsafe.MAX_BYTES)
        with pytest.raises(OSError, match="larger than a draft"):  # the write-back's read
            writeback.replace_block(site.content_dir, big, {"state": "invalid"})
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded.draft is None and "at most 262144 bytes" in loaded.errors[0].message
    assert peak < 2 * yamlsafe.MAX_BYTES + 1024 * 1024, peak
    assert big.stat().st_size == 50 * 1024 * 1024  # never written to


def test_read_capped_reads_what_fits(site: Config) -> None:
    path = site.content_dir / "a.yaml"
    path.write_bytes(b"x" * 10)
    assert confined.read_capped(path, 10) == b"x" * 10
    with pytest.raises(confined.TooLarge, match="larger than a draft may be"):
        confined.read_capped(path, 9)
