"""The watcher's debounce: which changed paths are quiet and stable enough to deliver.

A path noted as changed is read once it has been quiet for `quiet` seconds, read again one
quiet period later, and is stable when both reads agree and its writer has closed it (or has
stayed silent for OPEN_WRITER_QUIETS quiet periods: a writer that never closes, a lost close
event). Paths noted together (the two sides of a rename, a moved folder) form one group,
delivered only when every member is stable.

`Debounce` only keeps the books; the `Watcher` reads the files, holds the lock around every
call, and passes the time (`time.monotonic()`: see the watcher for why not the daemon's clock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from publisher.daemon.observe import Observation

# A modified file is not read as final before its writer closes it (IN_CLOSE_WRITE), unless
# it stays silent this many quiet periods.
OPEN_WRITER_QUIETS = 10


@dataclass
class _Pending:
    """A path with unsettled events. `group` is shared by paths that must be delivered in one
    call (the two sides of a rename)."""

    due: float
    generation: int = 0
    last_read: Observation | None = None  # the read since the last event, if any
    stable: bool = False
    writing_since: float | None = None  # modified, and its writer has not closed it yet
    group: set[Path] = field(default_factory=set)


class Debounce:
    """The paths with unsettled events (not thread-safe: the watcher's lock guards it)."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self._pending: dict[Path, _Pending] = {}

    def __contains__(self, path: object) -> bool:
        return path in self._pending

    def paths(self) -> set[Path]:
        return set(self._pending)

    def note(
        self, paths: Iterable[Path], *, now: float, writing: bool | None, delay: float | None
    ) -> None:
        """Mark paths as changed at `now`, to be read `delay` seconds later (default: a quiet
        period), as one group. `writing` True: a writer has the file open; False: it closed
        it; None: unknown, keep what we knew."""
        due = now + (self.quiet if delay is None else delay)
        group: set[Path] = set()
        for path in paths:
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

    def due(self, now: float) -> dict[Path, int]:
        """The paths to read now, each with its generation (to pass back to `settle`)."""
        return {
            path: entry.generation
            for path, entry in self._pending.items()
            if not entry.stable and entry.due <= now
        }

    def next_due(self) -> float | None:
        """When the next path is due to be read, if any is waiting."""
        return min((e.due for e in self._pending.values() if not e.stable), default=None)

    def settle(
        self, reads: Mapping[Path, Observation], generations: Mapping[Path, int], now: float
    ) -> None:
        """Compare each read (made for the generation `due` returned) with the one before."""
        for path, seen in reads.items():
            entry = self._pending.get(path)
            if entry is None or entry.generation != generations[path]:
                continue  # an event came in while we read: that read is already stale
            open_for = None if entry.writing_since is None else now - entry.writing_since
            writer_open = open_for is not None and open_for < self.quiet * OPEN_WRITER_QUIETS
            if entry.last_read == seen and not writer_open:
                entry.stable = True
            else:
                entry.last_read = seen
                entry.due = now + self.quiet

    def take_settled(self) -> dict[Path, Observation]:
        """Remove and return the paths whose whole group is stable, with their last read."""
        settled: dict[Path, Observation] = {}
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
