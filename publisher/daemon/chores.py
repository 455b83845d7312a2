"""The daemon's periodic chores, behind one gate: "run X every N seconds" on the daemon's clock.

Asking Instagram about blocked accounts, archiving finished jobs, clearing the inbox, the
watcher's full rescan and taking over orphaned jobs all run from the main loop's step, each
when its time has come on the injected `Clock`: a test moves them by moving its clock, and
only the main thread runs them (so they need no lock). A chore that raises is logged (once
while it keeps failing the same way) and runs again at its next time; the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.clock import Clock
from publisher.errors import StoreUnwritable

log = logging.getLogger(__name__)


@dataclass
class _Chore:
    name: str
    every: timedelta
    work: Callable[[], object]
    next_at: datetime
    only_if: Callable[[], bool] | None
    failing: str = ""  # the last failure, logged once


class Chores:
    """Owns the chores and when each runs next. Call `run_due()` from the main loop."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._chores: dict[str, _Chore] = {}

    def every(
        self,
        name: str,
        seconds: float,
        work: Callable[[], object],
        *,
        first: float | None = None,
        only_if: Callable[[], bool] | None = None,
    ) -> None:
        """Run `work` every `seconds`, the first time `first` seconds from now (default: a
        whole period). With `only_if`, a time that comes while it returns False is kept:
        the chore runs as soon as it returns True, then again no sooner than `seconds`
        later (a retry that waits for something to retry)."""
        now = self._clock()
        wait = seconds if first is None else first
        every = timedelta(seconds=seconds)
        self._chores[name] = _Chore(name, every, work, now + timedelta(seconds=wait), only_if)

    def run_due(self) -> list[str]:
        """Run every chore whose time has come, in the order they were added; return their
        names. Each is re-armed before it runs, so one that fails waits for its next time."""
        ran = []
        for chore in list(self._chores.values()):
            now = self._clock()
            if chore.next_at - now > chore.every:
                # The clock went back (a correction, a test): never wait longer than a period.
                chore.next_at = now + chore.every
            if now < chore.next_at or (chore.only_if is not None and not chore.only_if()):
                continue
            chore.next_at = now + chore.every
            ran.append(chore.name)
            self._run(chore)
        return ran

    def restart(self, name: str) -> None:
        """The chore was just done another way (at start, after a reload): its next time is a
        whole period from now."""
        chore = self._chores[name]
        chore.next_at = self._clock() + chore.every

    def next_at(self, name: str) -> datetime:
        """When the chore runs next (at the first step from then on)."""
        return self._chores[name].next_at

    def _run(self, chore: _Chore) -> None:
        try:
            chore.work()
        except StoreUnwritable as exc:  # the job store logs that itself, once a minute
            log.debug("%s: %s", chore.name, exc)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if text != chore.failing:
                log.exception("%s failed; trying again at its next time", chore.name)
            chore.failing = text
        else:
            chore.failing = ""
