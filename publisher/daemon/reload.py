"""SIGHUP or an edited config.yaml: the new config is checked whole before the daemon takes it.

`ConfigFile` notices an edit (by content: a touch is not one). `accept` reads the file again
and refuses, with a log line per problem, a config the daemon cannot switch to: an invalid
one, one that moves state_dir (this process holds the old store's lock), one whose new
content_dir cannot be watched or is published by another process. The previous config then
stays, whole. `Daemon.reload` carries out the switch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from publisher import config as config_module
from publisher.config import Config
from publisher.daemon.sdnotify import Notifier
from publisher.daemon.watcher import Watcher
from publisher.errors import ConfigError, StateLocked
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)

_KEPT = "running on the previous one"


class ConfigFile:
    """config.yaml as last read: `changed()` is True once its content differs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key, self._digest = _file_key(path), _digest(path)

    def changed(self) -> bool:
        """True when the file's content is not what was last read (checked cheaply by
        inode, mtime and size first; hashed only when those moved)."""
        key = _file_key(self.path)
        if key == self._key:
            return False
        digest = _digest(self.path)
        self._key = key
        return digest is not None and digest != self._digest

    def seen(self) -> None:
        """The file is being read now: later changes are measured from this version."""
        self._key, self._digest = _file_key(self.path), _digest(self.path)


@dataclass(frozen=True)
class Accepted:
    """A config the daemon can switch to, with the watcher already started on its
    content_dir when that changed (None: keep the current watcher)."""

    config: Config
    watcher: Watcher | None


def accept(
    current: Config,
    why: str,
    *,
    rt: Runtime,
    new_watcher: Callable[[Path], Watcher],
    notifier: Notifier,
) -> Accepted | None:
    """Read `current.config_path` again (because of `why`) and check that the daemon can
    switch to it; a new content_dir is watched (`new_watcher`) and locked here, first.
    Return it, or None after logging why not and telling systemd the daemon goes on with
    the previous config."""
    try:
        new = config_module.load(current.config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("config not reloaded (%s): %s", why, problem)
        log.error("config not reloaded: keeping the previous one until the file is fixed")
        notifier.ready(f"config.yaml invalid; {_KEPT}")
        return None
    if new.state_dir != current.state_dir:
        # This process holds the old store; taking a new one while running would let
        # another process publish the same drafts from the old one.
        log.error(
            "config not reloaded (%s): state_dir changed (%s -> %s); it cannot change "
            "while publisher runs: restart publisher to use it",
            why,
            current.state_dir,
            new.state_dir,
        )
        notifier.ready(f"config.yaml changed state_dir; {_KEPT}")
        return None
    if new.content_dir == current.content_dir:
        return Accepted(new, None)
    # Watched and locked first: a folder that cannot be watched, or that another publisher
    # process uses, keeps the previous config whole.
    watcher = new_watcher(new.content_dir)
    try:
        watcher.start()
    except OSError as exc:
        _content_dir_refused(why, new, exc.strerror or str(exc), notifier)
        return None
    try:
        rt.relock_content(new.content_dir)
    except StateLocked as exc:
        watcher.stop()
        _content_dir_refused(why, new, str(exc), notifier)
        return None
    return Accepted(new, watcher)


def _content_dir_refused(why: str, new: Config, reason: str, notifier: Notifier) -> None:
    log.error(
        "config not reloaded (%s): cannot use content_dir %s: %s; keeping the previous "
        "one until the file is fixed",
        why,
        new.content_dir,
        reason,
    )
    notifier.ready(f"config.yaml invalid; {_KEPT}")


def _file_key(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
