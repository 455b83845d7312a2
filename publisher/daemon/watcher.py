"""Watching content_dir: file events become debounced, stable "these paths changed" calls.

File events are only hints (RELIABILITY.md §0.4, §2). They come split (an editor's save is a
rename, a create and a delete), early (a half-written file), twice, or not at all (a full
inotify queue). So the event handler only notes "look at this path again"; a debounce thread
reads the path once it has been quiet for `quiet` seconds, reads it again one quiet period
later, and delivers it only when both reads agree and differ from what it delivered before.
A full scan every `rescan_every` seconds notes whatever the events missed.

What "the same" means: a draft (`*.yaml`, `*.yml`) is compared by `fingerprint(bytes)` — the
daemon passes `statusblock.fingerprint`, which leaves out the `status:` block, so our own
write-backs are never delivered. Any other file is media, compared by inode, size and
modification time (videos are too big to hash twice per change).

The paths are filtered here, not with watchdog's patterns: watchdog 7 matches patterns
against the whole path, so `*.yaml` silently matches nothing (RELIABILITY.md §2.2).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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

from publisher import yamlsafe

logger = logging.getLogger(__name__)

DRAFT_SUFFIXES = (".yaml", ".yml")
# Larger files are not drafts (yamlsafe refuses them): watched by signature, never read whole.
MAX_DRAFT_BYTES = yamlsafe.MAX_BYTES
# Names editors and downloaders use while saving: Vim's backup `post.yaml~` and its
# write-test file `4913`, Emacs' `#post.yaml#`, partial downloads. Dotfiles (`.post.yaml.swp`,
# gedit's `.goutputstream-*`, our own `.name.*.publisher-tmp`) are hidden, so ignored anyway.
_TEMP_SUFFIXES = ("~", ".swp", ".swo", ".swx", ".tmp", ".part", ".crdownload")
_TEMP_NAMES = ("4913",)
# A modified file is not read as final before its writer closes it (IN_CLOSE_WRITE), unless
# it stays silent this many quiet periods (a writer that never closes, a lost close event).
_OPEN_WRITER_QUIETS = 10
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


def is_draft_name(name: str) -> bool:
    """Return True when a file name has a draft's suffix (its contents are compared)."""
    return name.lower().endswith(DRAFT_SUFFIXES)


def sha256_fingerprint(data: bytes) -> str:
    """The default fingerprint: the sha256 hex of the whole file."""
    return hashlib.sha256(data).hexdigest()


Signature = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns


@dataclass(frozen=True)
class _Observation:
    """One read of a path. `fingerprint` None means the path does not exist (as a file)."""

    fingerprint: str | None
    signature: Signature | None = None


_GONE = _Observation(None)


@dataclass
class _Pending:
    """A path with unsettled events. `group` is shared by paths that must be delivered in one
    call (the two sides of a rename)."""

    due: float
    generation: int = 0
    last_read: _Observation | None = None  # the read since the last event, if any
    stable: bool = False
    writing_since: float | None = None  # modified, and its writer has not closed it yet
    group: set[Path] = field(default_factory=set)


class Watcher:
    """Owns a watchdog observer (recursive on content_dir) and a debounce thread, and calls
    `on_change(paths)` with absolute paths that changed, were created or were deleted.

    `start()` records what exists without delivering it: start the watcher *before* the
    daemon's own first scan of content_dir, so a change between the two is not lost.
    `on_change` runs on the debounce thread, one call at a time; paths that became stable
    together come in one call, and both sides of a rename always do. A path in the set that
    no longer exists was deleted (it had been delivered or seen at start before).
    `is_relevant` receives paths relative to content_dir (default: `relevant`).
    """

    def __init__(
        self,
        content_dir: Path,
        on_change: Callable[[set[Path]], None],
        *,
        quiet: float = 0.5,
        rescan_every: float = 180.0,
        fingerprint: Callable[[bytes], str] | None = None,
        is_relevant: Callable[[PurePath], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Absolute, but symlinks kept: the event paths and the scan paths share this prefix.
        self._root = Path(os.path.abspath(content_dir))
        self._on_change = on_change
        self._quiet = quiet
        self._rescan_every = rescan_every
        self._fingerprint = fingerprint or sha256_fingerprint
        self._is_relevant = is_relevant or relevant
        self._clock = clock
        self._condition = threading.Condition()
        # Guarded by _condition: the observer thread notes, the debounce thread settles.
        self._pending: dict[Path, _Pending] = {}
        self._dirty_folders: list[set[Path]] = []
        self._rescan_requested = False
        self._stopping = False
        # What on_change last received for each existing path (or what start() saw).
        self._delivered: dict[Path, _Observation] = {}
        self._warned: set[Path] = set()  # only the debounce thread (and start) touch it
        self._next_rescan = 0.0
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
        found = self._scan_folder(self._root)
        baseline = {path: self._observe(path) for path in found}
        with self._condition:
            self._delivered.update(
                (path, seen) for path, seen in baseline.items() if seen.fingerprint is not None
            )
            self._next_rescan = self._clock() + self._rescan_every
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
        """Ask for a full scan of content_dir now (it also runs every `rescan_every` s).
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
        delivered together (one group). `writing` True: a writer has the file open; False: it
        closed it; None: unknown, keep what we knew."""
        wanted = [path for path in paths if self._wants(path)]
        if not wanted:
            return
        with self._condition:
            now = self._clock()
            due = now + (self._quiet if delay is None else delay)
            group: set[Path] = set()
            for path in wanted:
                entry = self._pending.get(path)
                if entry is None:
                    entry = self._pending[path] = _Pending(due=due)
                group |= entry.group | {path}
                entry.due = due
                entry.generation += 1
                entry.last_read = None
                entry.stable = False
                if writing is True and entry.writing_since is None:
                    entry.writing_since = now
                elif writing is False:
                    entry.writing_since = None
            # Every member of a joined group may have come from another group: join them all.
            for member in group:
                if member in self._pending:
                    self._pending[member].group = group
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
            rescan = self._rescan_requested or now >= self._next_rescan
            folders, self._dirty_folders = self._dirty_folders, []
            due = {
                path: entry.generation
                for path, entry in self._pending.items()
                if not entry.stable and entry.due <= now
            }
            if not (rescan or folders or due):
                self._condition.wait(self._wait_time(now))
                return True
            if rescan:
                self._rescan_requested = False
                self._next_rescan = now + self._rescan_every
        if rescan:
            self._rescan()
        for group in folders:
            self._note_folders(group)
        reads = {path: self._observe(path) for path in due}
        with self._condition:
            self._settle(reads, due)
            batch = self._take_settled()
        if batch:
            self._deliver(batch)
        return True

    def _wait_time(self, now: float) -> float:
        deadlines = [self._next_rescan]
        deadlines += [entry.due for entry in self._pending.values() if not entry.stable]
        return min(max(0.0, min(deadlines) - now), _MAX_WAIT)

    def _settle(self, reads: dict[Path, _Observation], generations: dict[Path, int]) -> None:
        """Compare each read with the previous one (under the lock)."""
        now = self._clock()
        for path, seen in reads.items():
            entry = self._pending.get(path)
            if entry is None or entry.generation != generations[path]:
                continue  # an event came in while we read: that read is already stale
            open_for = None if entry.writing_since is None else now - entry.writing_since
            writer_open = open_for is not None and open_for < self._quiet * _OPEN_WRITER_QUIETS
            if entry.last_read == seen and not writer_open:
                entry.stable = True
            else:
                entry.last_read = seen
                entry.due = now + self._quiet

    def _take_settled(self) -> dict[Path, _Observation]:
        """Remove and return the paths whose whole group is stable (under the lock)."""
        settled: dict[Path, _Observation] = {}
        for path, entry in list(self._pending.items()):
            if path in settled or not entry.stable:
                continue
            members = [self._pending[m] for m in entry.group if m in self._pending]
            if all(member.stable for member in members):
                for member_path in entry.group:
                    member = self._pending.pop(member_path, None)
                    if member is not None and member.last_read is not None:
                        settled[member_path] = member.last_read
        return settled

    def _deliver(self, settled: dict[Path, _Observation]) -> None:
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
        found = self._scan_folder(self._root)
        with self._condition:
            known = dict(self._delivered)
            pending = set(self._pending)
        changed = [
            path
            for path, signature in found.items()
            if path not in pending and (known.get(path) or _GONE).signature != signature
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
            paths.update(self._scan_folder(folder))
            with self._condition:
                paths.update(p for p in self._delivered if p.is_relative_to(folder))
                paths.update(p for p in self._pending if p.is_relative_to(folder))
        self._note(paths, writing=False)

    def _scan_folder(self, folder: Path) -> dict[Path, Signature]:
        """Return every relevant file under folder with its signature (hidden folders and
        symlinked folders are not entered)."""
        found: dict[Path, Signature] = {}
        for entry in _walk(folder):
            path = Path(entry.path)
            try:
                wanted = self._wants(path)
            except Exception:
                # One path the relevance check chokes on must not stop the whole scan.
                self._log_once(path, "watching %s: could not decide whether it matters", path)
                continue
            if not wanted:
                continue
            try:
                found[path] = _signature(entry.stat())
            except OSError:
                continue  # gone between listing and stat: the event or next scan tells
        return found

    def _observe(self, path: Path) -> _Observation:
        """Read a path: a draft by its contents, media by its signature."""
        try:
            if not is_draft_name(path.name):
                status = os.stat(path)
                if not stat.S_ISREG(status.st_mode):
                    return _GONE
                signature = _signature(status)
                return _Observation("stat:" + ":".join(map(str, signature)), signature)
            # O_NONBLOCK: a FIFO named x.yaml must not block the watcher for ever.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with open(fd, "rb") as file:
                status = os.fstat(file.fileno())
                signature = _signature(status)
                if not stat.S_ISREG(status.st_mode):
                    # Delivered (the daemon reports it invalid), never read.
                    return _Observation("special:" + ":".join(map(str, signature)), signature)
                if status.st_size > MAX_DRAFT_BYTES:
                    # Too large to be a draft (the daemon says so): not read into memory.
                    return _Observation("large:" + ":".join(map(str, signature)), signature)
                data = file.read(MAX_DRAFT_BYTES + 1)
        except (FileNotFoundError, NotADirectoryError):
            return _GONE
        except OSError as exc:
            # Unreadable (permissions, I/O): still delivered, so the daemon reports it.
            try:
                signature = _signature(os.stat(path))
            except OSError:
                return _GONE
            return _Observation(f"unreadable:{exc.errno}:{signature}", signature)
        return _Observation(self._fingerprint_of(path, data), _signature(status))

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


def _walk(folder: Path) -> Iterator[os.DirEntry[str]]:
    """Yield the regular files (or links to files) under folder, depth first."""
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue  # gone or unreadable; a file we cannot list cannot be a draft we miss
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        stack.append(entry.path)
                elif entry.is_file():
                    yield entry
            except OSError:
                continue


def _signature(status: os.stat_result) -> Signature:
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
