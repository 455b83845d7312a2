"""`plan_file:`: the daemon keeps an iCalendar copy of `publisher plan --ics` at a path the
user chose, so that a calendar app can subscribe to it through any static file host.

The feed is the one `publisher plan --ics` prints: `commands.calendar.plan_feed`, handed to
the daemon by `commands.run` (the daemon sits below the commands and does not import them),
one home for what the calendar says. A change of a job or of a draft marks the file
stale (`stale()`, which only sets a flag); a thread of its own rewrites it at most once per
`spacing` seconds, so a burst of 1,000 edits costs one rewrite, and reading every draft never
holds up the daemon's loop. The write is atomic (temp file, fsync, rename): a calendar app
never fetches half a feed. A failure (a folder that is gone, no permission) is logged once per
distinct reason and tried again at the next change; it never stops the daemon.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from publisher.clock import Clock
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.store import atomicfile

log = logging.getLogger(__name__)

SPACING = 5.0  # seconds between two rewrites at most

# (config, clock) -> the iCalendar feed of the plan (`commands.calendar.plan_feed`)
Feed = Callable[[Config, Clock], bytes]


def write(config: Config, clock: Clock, feed: Feed) -> Path | None:
    """Write the plan feed to `config.plan_file` now (atomically); return the path, or None
    when no plan_file is set. Raise OSError or PublisherError when it cannot be written."""
    target = config.plan_file
    if target is None:
        return None
    atomicfile.write_bytes(target, feed(config, clock), mode=0o644)
    return target


class PlanFile:
    """Rewrites `plan_file` off the daemon's thread whenever the plan may have changed."""

    def __init__(
        self, config: Config, clock: Clock, feed: Feed, *, spacing: float = SPACING
    ) -> None:
        self.config = config
        self._clock = clock
        self._feed = feed
        self._spacing = spacing
        self._stale = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = ""
        self.written = 0  # rewrites done (tests and logs)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stale.set()  # the first feed of this run
        self._thread = threading.Thread(target=self._run, name="plan-file", daemon=True)
        self._thread.start()

    def stale(self, *_args: object) -> None:
        """The plan may have changed (a job or a draft did): rewrite the file soon."""
        self._stale.set()

    def reload(self, config: Config) -> None:
        self.config = config
        self._stale.set()

    def stop(self) -> None:
        self._stop.set()
        self._stale.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stale.wait()
            if self._stop.is_set():
                return
            self._stale.clear()
            self._write_once()
            self._stop.wait(self._spacing)  # changes meanwhile set the flag: one more rewrite

    def _write_once(self) -> None:
        config = self.config
        if config.plan_file is None:
            return
        try:
            write(config, self._clock, self._feed)
        except (OSError, PublisherError) as exc:
            why = f"{getattr(exc, 'strerror', None) or exc}"
            if why != self._failing:
                log.error(
                    "plan_file: cannot write %s (%s); check that its folder exists and that "
                    "the service user may write it. Tried again at the next change.",
                    config.plan_file,
                    why,
                )
            self._failing = why
            return
        except Exception:  # a bug here must not end the thread: the next change tries again
            log.exception("plan_file: writing %s failed", config.plan_file)
            return
        if self._failing:
            log.info("plan_file: %s is written again", config.plan_file)
        self._failing = ""
        self.written += 1
