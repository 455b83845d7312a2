"""Which files are drafts (the one rule, used by `discover`, `load` and the daemon's watcher).
Opening them without being fooled by what they are is `publisher.confined`'s.

A draft is a file under content_dir whose name ends in .yaml or .yml, compared without
regard to case (`POST.YAML` is a draft), with no name in its path below content_dir (file
or folder) starting with "." or "_" (SPEC §4): those are how a user sets a file aside.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

SUFFIXES = (".yaml", ".yml")
_SET_ASIDE = (".", "_")


def is_draft_name(name: str) -> bool:
    """Given a file name, return True when it has a draft's suffix, in any case."""
    return name.lower().endswith(SUFFIXES)


def escaped_name(path: Path | str) -> str | None:
    """Given a path, return it with the bytes that are not UTF-8 as `\\xff` escapes if it
    has any (a file name made on another system: os.fsdecode keeps them as surrogates,
    which no log line, JSON or status can hold), else None."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return None


def set_aside(name: str) -> bool:
    """Given one file or folder name, return True when it starts with "." or "_"."""
    return name.startswith(_SET_ASIDE)


def is_draft_relative(relative: PurePath) -> bool:
    """Given a path relative to content_dir, return True when it names a draft."""
    parts = relative.parts
    if not parts or not is_draft_name(parts[-1]):
        return False
    return not any(set_aside(part) for part in parts)


def is_draft_path(path: Path, content_dir: Path) -> bool:
    """Given a path and content_dir, return True when the path is a draft inside it."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(content_dir))
    except ValueError:
        return False
    return is_draft_relative(relative)


def discover(content_dir: Path) -> list[Path]:
    """Return every draft file under `content_dir`, at any depth, sorted. Folders set aside
    are not entered. Symlinked folders are never entered: one inside content_dir would show
    its drafts twice (two jobs, two posts), one outside would leave content_dir. Entries
    that are not folders are listed even when they are not regular files (a FIFO, a broken
    link): `load` reports them as invalid."""
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(content_dir, followlinks=False):
        dirnames[:] = [name for name in dirnames if not set_aside(name)]
        for name in filenames:
            if is_draft_name(name) and not set_aside(name):
                found.append(Path(folder, name))
    return sorted(found)
