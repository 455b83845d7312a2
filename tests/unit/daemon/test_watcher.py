"""Which paths under content_dir the watcher cares about (`watcher.relevant`). The watcher
itself, on real files with the real inotify observer, is tested in
tests/integration/test_watcher_on_real_files.py."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from publisher.daemon.watcher import relevant


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("post.yaml", True),
        ("2026/12/post.yml", True),
        ("2026/look.jpg", True),
        ("_assets/look.jpg", True),  # media may live in an ignored folder; drafts may not
        ("_drafts/post.yaml", False),
        ("_post.yaml", False),
        (".hidden/post.yaml", False),
        (".post.yaml.swp", False),
        ("post.yaml~", False),
        ("4913", False),
        ("#post.yaml#", False),
        (".goutputstream-XYZ", False),
        (".post.yaml.x1y2.publisher-tmp", False),
        ("clip.mp4.part", False),
    ],
)
def test_relevant(relative: str, expected: bool) -> None:
    assert relevant(PurePath(relative)) is expected
