"""Watching content_dir: file events become debounced, stable "these paths changed" calls.

File events are only hints (RELIABILITY.md §0.4, §2). They come split (an editor's save is a
rename, a create and a delete), early (a half-written file), twice, or not at all (a full
inotify queue). So the event handler only notes "look at this path again"; a debounce thread
reads the path once it has been quiet for `quiet` seconds, reads it again one quiet period
later, and delivers it only when both reads agree and differ from what it delivered before.
A full scan notes whatever the events missed; it runs when asked (`rescan()`): by the daemon
every few minutes on its clock (`chores`), and at once when the inotify queue overflowed.

What "the same" means: a draft (`*.yaml`, `*.yml`) is compared by `fingerprint(bytes)` — the
daemon passes `statusblock.fingerprint`, which leaves out the `status:` block, so our own
write-backs are never delivered. Any other file is media, compared by inode, size and
modification time (`observe`). Which paths are quiet and stable is `debounce`'s books.

The paths are filtered here, not with watchdog's patterns: watchdog 7 matches patterns
against the whole path, so `*.yaml` silently matches nothing (RELIABILITY.md §2.2).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePath

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from publisher.daemon.debounce import Debounce
from publisher.daemon.observe import (
    GONE,
    Observation,
    Signature,
    observe,
    scan,
    sha256_fingerprint,
)
from publisher.drafts.files import is_draft_name

logger = logging.getLogger(__name__)

# Names editors and downloaders use while saving: Vim's backup `post.yaml~` and its
# write-test file `4913`, Emacs' `#post.yaml#`, partial downloads. Dotfiles (`.post.yaml.swp`,
# gedit's `.goutputstream-*`, our own `.name.*.publisher-tmp`) are hidden, so ignored anyway.
_TEMP_SUFFIXES = ("~", ".swp", ".swo", ".swx", ".tmp", ".part", ".crdownload")
_TEMP_NAMES = ("4913",)
# The debounce thread wakes at least this often, so an injected clock is noticed.
_MAX_WAIT = 1.0
_OVERFLOW_LOGGER = "watchdog.observers.inotify_c"


def relevant(relative: PurePath) -> bool:
    """Given a path relative to content_dir, return True when a change to it matters.

    Drafts (`*.yaml`/`*.yml`) matter unless a part of the path starts with `.` or `_`
    (SPEC §4); any other file is media a draft may use and matters unless a part is hidden.
    Editors' temp and backup files never matter.
    """
    parts = relative.parts
    if not parts or any(part.startswith(".") for part in parts):
        return False
    name = parts[-1]
    if name in _TEMP_NAMES or name.endswith(_TEMP_SUFFIXES):
        return False
    if name.startswith("#") and name.endswith("#"):
        return False
    if is_draft_name(name):
        return not any(part.startswith("_") for part in parts)
    return True


class Watcher:
    """Owns a watchdog observer (recursive on content_dir) and a debounce thread, and calls
    `on_change(paths)` with absolute paths that changed, were created or were deleted.

    `start()` records what exists without delivering it: start the watcher *before* the
    daemon's own first scan of content_dir, so a change between the two is not lost.
    `on_change` runs on the debounce thread, one call at a time; paths that became stable
    together come in one call, and both sides of a rename always do. A path in the set that
    no longer exists was deleted (it had been delivered or seen at start before).
    `is_relevant` receives paths relative to content_dir (default: `relevant`).

    `clock` measures quietness, and stays `time.monotonic` in the daemon: a file is quiet
    when its real writer has stopped writing for `quiet` real seconds, which a test clock
    standing still (or jumping hours) says nothing about.
    """

    def __init__(
        self,
        content_dir: Path,
        on_change: Callable[[set[Path]], None],
        *,
        quiet: float = 0.5,
        fingerprint: Callable[[bytes], str] | None = None,
        is_relevant: Callable[[PurePath], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Absolute, but symlinks kept: the event paths and the scan paths share this prefix.
        self._root = Path(os.path.abspath(content_dir))
        self._on_change = on_change
        self._quiet = quiet
        self._fingerprint = fingerprint or sha256_fingerprint
        self._is_relevant = is_relevant or relevant
        self._clock = clock
        self._condition = threading.Condition()
        # Guarded by _condition: the observer thread notes, the debounce thread settles.
        self._pending = Debounce(quiet)
        self._dirty_folders: list[set[Path]] = []
        self._rescan_requested = False
        self._stopping = False
        # What on_change last received for each existing path (or what start() saw).
        self._delivered: dict[Path, Observation] = {}
        self._warned: set[Path] = set()  # only the debounce thread (and start) touch it
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self._overflow_hook = _OverflowHook(self.rescan)

    def start(self) -> None:
        """Watch content_dir, record what exists now, and start delivering changes.

        Raise OSError if content_dir cannot be watched (missing, or the inotify watch or
        instance limit is reached: fs.inotify.max_user_watches / max_user_instances).
        """
        if not self._root.is_dir():
            raise FileNotFoundError(errno.ENOENT, "content_dir is not a folder", str(self._root))
        observer = Observer()  # may raise OSError: inotify instance limit
        observer.schedule(_Handler(self), str(self._root), recursive=True)
        try:
            observer.start()  # may raise OSError: watch limit
        except BaseException:
            observer.stop()
            raise
        self._observer = observer
        logging.getLogger(_OVERFLOW_LOGGER).addFilter(self._overflow_hook)
        # The baseline comes after the watch starts: a change in between is then both seen
        # here and noted as an event, never neither.
        found = self._scan(self._root)
        baseline = {path: self._observe(path) for path in found}
        with self._condition:
            self._delivered.update(
                (path, seen) for path, seen in baseline.items() if seen.fingerprint is not None
            )
        self._thread = threading.Thread(target=self._run, name="publisher-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching. Changes not yet delivered are dropped (the daemon is going down;
        its next start scans anyway)."""
        logging.getLogger(_OVERFLOW_LOGGER).removeFilter(self._overflow_hook)
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def is_alive(self) -> bool:
        """Return True while the observer, its inotify emitter and the debounce thread all
        run (the daemon sends WATCHDOG=1 only then). False after the watched folder itself
        was deleted, after a crash of a watchdog thread, and after stop()."""
        observer, thread = self._observer, self._thread
        if observer is None or thread is None or self._stopping:
            return False
        emitters = list(observer.emitters)
        return (
            observer.is_alive()
            and bool(emitters)
            and all(emitter.is_alive() for emitter in emitters)
            and thread.is_alive()
        )

    def rescan(self) -> None:
        """Ask for a full scan of content_dir now (the daemon asks every few minutes).
        Returns at once; differences are delivered like any other change."""
        with self._condition:
            self._rescan_requested = True
            self._condition.notify_all()

    # --- the observer thread: note, never read -------------------------------------------

    def _note_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, (DirCreatedEvent, DirDeletedEvent, DirMovedEvent)):
            folders = {Path(os.fsdecode(event.src_path))}
            if isinstance(event, DirMovedEvent):
                folders.add(Path(os.fsdecode(event.dest_path)))
            with self._condition:
                self._dirty_folders.append(folders)
                self._condition.notify_all()
        elif isinstance(event, FileMovedEvent):
            self._note(
                [Path(os.fsdecode(event.src_path)), Path(os.fsdecode(event.dest_path))],
                writing=False,
            )
        elif isinstance(event, FileModifiedEvent):
            self._note([Path(os.fsdecode(event.src_path))], writing=True)
        elif isinstance(event, (FileClosedEvent, FileDeletedEvent)):
            self._note([Path(os.fsdecode(event.src_path))], writing=False)
        elif isinstance(event, (FileCreatedEvent, FileAttribEvent)):
            self._note([Path(os.fsdecode(event.src_path))], writing=None)
        # Opened / closed-without-writing (our own reads) and folder modifications: nothing.

    def _note(
        self, paths: Iterable[Path], *, writing: bool | None, delay: float | None = None
    ) -> None:
        """Mark paths as changed; relevant ones are read again after a quiet period and
        delivered together (one group). `writing`: see `Debounce.note`."""
        wanted = [path for path in paths if self._wants(path)]
        if not wanted:
            return
        with self._condition:
            self._pending.note(wanted, now=self._clock(), writing=writing, delay=delay)
            self._condition.notify_all()

    def _wants(self, path: Path) -> bool:
        try:
            relative = path.relative_to(self._root)
        except ValueError:
            return False
        return self._is_relevant(relative)

    # --- the debounce thread: read, compare, deliver -------------------------------------

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:
                # A bug here must not end watching for good (RELIABILITY.md §2.7).
                logger.exception("watching %s: unexpected error; continuing", self._root)
                with self._condition:
                    self._condition.wait(self._quiet)

    def _step(self) -> bool:
        """One round: scan what was asked, read what is due, deliver what settled.
        Return False when stopping."""
        with self._condition:
            if self._stopping:
                return False
            now = self._clock()
            rescan, self._rescan_requested = self._rescan_requested, False
            folders, self._dirty_folders = self._dirty_folders, []
            due = self._pending.due(now)
            if not (rescan or folders or due):
                self._condition.wait(self._wait_time(now))
                return True
        if rescan:
            self._rescan()
        for group in folders:
            self._note_folders(group)
        reads = {path: self._observe(path) for path in due}
        with self._condition:
            self._pending.settle(reads, due, self._clock())
            batch = self._pending.take_settled()
        if batch:
            self._deliver(batch)
        return True

    def _wait_time(self, now: float) -> float:
        next_due = self._pending.next_due()
        return _MAX_WAIT if next_due is None else min(max(0.0, next_due - now), _MAX_WAIT)

    def _deliver(self, settled: dict[Path, Observation]) -> None:
        if not self._root.is_dir():
            # The whole folder went (unmounted, moved away): that is not the user deleting
            # every draft. Deliver nothing; is_alive() turns False and the daemon restarts.
            logger.error(
                "watching %s: the folder is gone; not treating it as deletions", self._root
            )
            return
        changed: set[Path] = set()
        with self._condition:
            for path, seen in settled.items():
                before = self._delivered.get(path)
                if seen.fingerprint is None:
                    if before is not None:
                        changed.add(path)
                elif before is None or before.fingerprint != seen.fingerprint:
                    changed.add(path)
                else:
                    # Same content, new inode or mtime (our own write-back): remember the new
                    # signature so the rescan does not read it again.
                    self._delivered[path] = seen
        if not changed:
            return
        try:
            self._on_change(set(changed))
        except Exception:
            # Not recorded as delivered: the next rescan offers these paths again.
            logger.exception(
                "watching %s: handling %d changed file(s) failed", self._root, len(changed)
            )
            return
        with self._condition:
            for path in changed:
                seen = settled[path]
                if seen.fingerprint is None:
                    self._delivered.pop(path, None)
                else:
                    self._delivered[path] = seen

    def _rescan(self) -> None:
        """Note every relevant file whose signature differs from what was delivered, and
        every delivered path that is gone."""
        found = self._scan(self._root)
        with self._condition:
            known = dict(self._delivered)
            pending = self._pending.paths()
        changed = [
            path
            for path, signature in found.items()
            if path not in pending and (known.get(path) or GONE).signature != signature
        ]
        gone = [path for path in known if path not in found and path not in pending]
        for path in changed + gone:
            self._note([path], writing=None, delay=0)
        if changed or gone:
            logger.info(
                "watching %s: rescan found %d change(s) no event reported",
                self._root,
                len(changed) + len(gone),
            )

    def _note_folders(self, folders: set[Path]) -> None:
        """A folder appeared, went or was renamed: note its files, old and new, as one group."""
        paths: set[Path] = set()
        for folder in folders:
            paths.update(self._scan(folder))
            with self._condition:
                paths.update(p for p in self._delivered if p.is_relative_to(folder))
                paths.update(p for p in self._pending.paths() if p.is_relative_to(folder))
        self._note(paths, writing=False)

    def _scan(self, folder: Path) -> dict[Path, Signature]:
        return scan(folder, self._wants_safely)

    def _wants_safely(self, path: Path) -> bool:
        try:
            return self._wants(path)
        except Exception:
            # One path the relevance check chokes on must not stop the whole scan.
            self._log_once(path, "watching %s: could not decide whether it matters", path)
            return False

    def _observe(self, path: Path) -> Observation:
        return observe(path, self._fingerprint_of)

    def _fingerprint_of(self, path: Path, data: bytes) -> str:
        try:
            return self._fingerprint(data)
        except Exception:
            # The daemon's fingerprint parses; bytes it cannot parse are still a change.
            self._log_once(path, "watching %s: fingerprint failed; comparing raw bytes", path)
            return "raw:" + sha256_fingerprint(data)

    def _log_once(self, path: Path, message: str, *args: object) -> None:
        """Log the current exception, once per path (scans and reads repeat)."""
        if path not in self._warned:
            self._warned.add(path)
            logger.exception(message, *args)


class _Handler(FileSystemEventHandler):
    """watchdog's side: every event goes to the watcher; nothing it raises leaves, since one
    exception kills the observer thread for good (RELIABILITY.md §2.7)."""

    def __init__(self, watcher: Watcher) -> None:
        super().__init__()
        self._watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._watcher._note_event(event)
        except Exception:
            logger.exception("watching: could not handle %s", event)


class _OverflowHook(logging.Filter):
    """watchdog only logs a full inotify queue (events lost); turn that line into a rescan."""

    def __init__(self, rescan: Callable[[], None]) -> None:
        super().__init__()
        self._rescan = rescan

    def filter(self, record: logging.LogRecord) -> bool:
        if "overflow" in str(record.msg).lower():
            self._rescan()
        return True
