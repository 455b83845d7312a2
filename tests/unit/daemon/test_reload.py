"""config.yaml edits are noticed by content: a touch is not a change, an edit is one."""

from __future__ import annotations

import os
from pathlib import Path

from publisher.daemon.reload import ConfigFile


def test_an_edit_is_a_change_a_touch_is_not(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("timezone: UTC\n")
    watched = ConfigFile(path)
    assert not watched.changed()

    os.utime(path, ns=(1, 1))  # touched: new mtime, same bytes
    assert not watched.changed()

    path.write_text("timezone: Europe/Paris\n")
    assert watched.changed()
    watched.seen()  # read now (the reload)
    assert not watched.changed()


def test_a_missing_file_is_no_change(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("timezone: UTC\n")
    watched = ConfigFile(path)
    path.unlink()
    assert not watched.changed()
