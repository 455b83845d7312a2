"""drafts.media: where each `media:` entry is (path safety), and what kind it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.drafts import media
from publisher.drafts.media import MediaItem

RESOLVE = [
    # (id, source, expected (path relative to content, url, kind) or part of the error)
    ("file", "a.jpg", ("a.jpg", None, "image")),
    ("video", "sub/c.MP4", ("sub/c.MP4", None, "video")),
    ("dotdot-inside", "sub/../a.jpg", ("a.jpg", None, "image")),
    ("link-inside", "inside-link.jpg", ("a.jpg", None, "image")),
    (
        "https",
        "https://cdn.example.com/a.jpg?x=1",
        (None, "https://cdn.example.com/a.jpg?x=1", "image"),
    ),
    ("http-video", "HTTP://h/v.mov", (None, "HTTP://h/v.mov", "video")),
    ("url-no-extension", "https://h/media/123", (None, "https://h/media/123", "image")),
    ("empty", "  ", "is empty"),
    ("no-host", "https:///a.jpg", "not a valid URL"),
    ("space-url", "https://h/a b.jpg", "not a valid URL"),
    ("ftp", "ftp://h/a.jpg", "only http(s)"),
    ("data", "data:image/jpeg;base64,AAAA", "only http(s)"),
    ("absolute", "/etc/passwd", "absolute path"),
    ("home", "~/a.jpg", "absolute path"),
    ("windows", "C:\\a.jpg", "absolute path"),
    ("dotdot", "../secret.jpg", "points outside content_dir"),
    ("deep-dotdot", "sub/../../../../etc/passwd", "points outside content_dir"),
    ("link-outside", "outside-link.jpg", "symlink to"),
    ("link-dir-outside", "outside-dir/secret.jpg", "symlink to"),
    ("loop", "loop.jpg", "symlink loop"),
    ("missing", "nope.jpg", "no such file"),
    ("folder", "sub", "is a folder"),
    ("fifo", "pipe.jpg", "not a regular file"),
    ("control", "a\x00.jpg", "control character"),
    ("too-long", "a" * 5000 + ".jpg", "cannot be read: File name too long"),
]


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    (root / "sub").mkdir(parents=True)
    (root / "a.jpg").write_bytes(b"\xff\xd8\xff")  # never opened: resolve only looks
    (root / "sub" / "c.MP4").write_bytes(b"x")
    (tmp_path / "secret.jpg").write_bytes(b"secret")
    (root / "inside-link.jpg").symlink_to(root / "a.jpg")
    (root / "outside-link.jpg").symlink_to(tmp_path / "secret.jpg")
    (root / "outside-dir").symlink_to(tmp_path, target_is_directory=True)
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    os.mkfifo(root / "pipe.jpg")
    return root


@pytest.mark.parametrize(
    ("source", "expected"), [c[1:] for c in RESOLVE], ids=[c[0] for c in RESOLVE]
)
def test_resolve(
    content: Path, source: str, expected: tuple[str | None, str | None, str] | str
) -> None:
    item = media.resolve(source, content, content)
    if isinstance(expected, str):
        assert isinstance(item, str)
        assert expected in item
        assert len(item) < 400  # hostile names are cut in messages
        return
    rel, url, kind = expected
    assert item == MediaItem(source, content / rel if rel else None, url, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "default", "kind"),
    [
        ("a.mp4", "image", "video"),
        ("a.MOV", "image", "video"),
        ("a.jpeg", "video", "image"),
        ("https://h/v.mp4?sig=abc#t", "image", "video"),
        ("https://h/v", "video", "video"),
        ("noext", "image", "image"),
    ],
)
def test_kind_of(source: str, default: media.Kind, kind: str) -> None:
    assert media.kind_of(source, default) == kind
