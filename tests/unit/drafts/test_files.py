"""drafts.files: the one rule for which files are drafts, shared by every reader."""

from __future__ import annotations

import os
from pathlib import Path, PurePath

import pytest

from publisher import confined, drafts
from publisher.daemon.watcher import relevant
from publisher.drafts import files
from tests.support.drafts import IMG, build, make_config


def test_discover(tmp_path: Path) -> None:
    content = tmp_path / "content"
    for name in [
        "a.yaml",
        "b.yml",
        "deep/er/c.yaml",
        "x.yaml/inside.yaml",  # a folder named like a draft: walked into, not listed
        ".hidden.yaml",
        "_template.yaml",
        "_drafts/d.yaml",
        ".git/e.yaml",
        "notes.txt",
        "a.yaml~",
        "POST.YAML",  # the suffix in any case (issue 7: the watcher saw it, discover did not)
        "_drafts/LATER.YML",
    ]:
        target = content / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("type: post\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.yaml").write_text("type: post\n")
    (content / "linked").symlink_to(outside, target_is_directory=True)
    (content / "loop").symlink_to(content, target_is_directory=True)
    (content / "broken.yaml").symlink_to(tmp_path / "missing")
    os.mkfifo(content / "pipe.yaml")
    found = [p.relative_to(content).as_posix() for p in drafts.discover(content)]
    assert found == [
        "POST.YAML",
        "a.yaml",
        "b.yml",
        "broken.yaml",
        "deep/er/c.yaml",
        "pipe.yaml",
        "x.yaml/inside.yaml",
    ]
    assert drafts.discover(tmp_path / "nope") == []


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("a.yaml", True),
        ("sub/a.yml", True),
        ("POST.YAML", True),
        ("sub/Look.Yml", True),
        ("_sub/POST.YAML", False),
        ("sub/.a.yaml", False),
        ("_sub/a.yaml", False),
        (".sub/a.yaml", False),
        ("a.json", False),
        ("../a.yaml", False),
        ("a.yaml.swp", False),
        ("4913", False),
    ],
)
def test_is_draft_path(tmp_path: Path, rel: str, expected: bool) -> None:
    content = tmp_path / "content"
    assert drafts.is_draft_path(content / rel, content) is expected


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("POST.YAML", True),
        ("2026/Look.Yml", True),
        ("post.yaml", True),
        ("_later/POST.YAML", False),
        (".POST.YAML", False),
    ],
)
def test_every_reader_applies_the_one_rule(tmp_path: Path, rel: str, expected: bool) -> None:
    """discover, is_draft_path, load and the daemon's watcher agree on what is a draft."""
    cfg = make_config(tmp_path)
    build(cfg.content_dir, IMG)
    path = cfg.content_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    media = "../a.jpg" if "/" in rel else "a.jpg"
    path.write_text(f"type: post\nmedia: [{media}]\n")
    assert (path in drafts.discover(cfg.content_dir)) is expected
    assert drafts.is_draft_path(path, cfg.content_dir) is expected
    assert relevant(PurePath(rel)) is expected
    loaded = drafts.load(path, cfg)
    assert loaded.errors == ()
    assert any("ignores this file" in p.message for p in loaded.warnings) is not expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.yaml", True), ("a.YML", True), ("a.Yaml", True), ("a.yaml~", False), ("yaml", False)],
)
def test_is_draft_name(name: str, expected: bool) -> None:
    assert files.is_draft_name(name) is expected


def test_open_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OSError, match="not a regular file"):
        confined.open_regular(tmp_path / "pipe")
