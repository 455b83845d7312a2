"""`Notifier`: sends notifications from a background thread, off the publishing path.

`notify(change)` only puts the change on a queue and returns. The thread waits `window`
seconds after a first change so that a burst (an account blocked with 200 drafts) becomes one
grouped message, sends each message to every target, retries what failed after each of
`waits`, and then gives up with one log line per target. It never raises; `close(timeout)`
stops it on shutdown, cutting a backoff wait short.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from datetime import UTC, tzinfo

from publisher.clock import Clock, Sleep, system_clock
from publisher.job import Job
from publisher.notify import change as changes
from publisher.notify import messages, targets
from publisher.notify.change import Change
from publisher.notify.messages import Message
from publisher.notify.settings import Notify

log = logging.getLogger(__name__)

WINDOW = 2.0  # seconds to gather a burst of changes into one batch
WAITS = (30.0, 120.0, 600.0)  # seconds before each retry of a failed send


class Notifier:
    """Owns the sending thread and its queue. Without URLs it owns nothing and drops all."""

    def __init__(
        self,
        settings: Notify,
        *,
        tz: tzinfo = UTC,
        window: float = WINDOW,
        waits: Sequence[float] = WAITS,
        clock: Clock = system_clock,
        sleep: Sleep | None = None,
    ) -> None:
        """Given the `notify:` settings, start the thread (when there are URLs). Times in
        messages are shown in `tz`. `sleep` waits the window and the retry waits; by default
        it is a wait that `close` interrupts. Raise ValueError for a URL Apprise cannot read
        (the config's validation has said so already)."""
        self._on = frozenset(settings.on)
        self._targets = [targets.Target(url, index) for index, url in enumerate(settings.urls)]
        self._tz = tz
        self._window = window
        self._waits = tuple(waits)
        self._clock = clock
        self._stopping = threading.Event()
        self._sleep: Sleep = sleep if sleep is not None else self._wait
        self._queue: queue.SimpleQueue[Change | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if self._targets:
            self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
            self._thread.start()

    def notify(self, change: Change) -> None:
        """Queue `change` to be told, if its event is in `notify.on`. Returns at once."""
        if self._thread is None or self._stopping.is_set() or change.event not in self._on:
            return
        self._queue.put(change)

    def job_changed(self, before: Job | None, after: Job) -> None:
        """Tell the job's new state if it is a new one worth telling (see
        `change.of_transition`). Call it after the state is recorded. Returns at once."""
        if self._thread is None:
            return
        found = changes.of_transition(before, after, at=after.updated_at or self._clock())
        if found is not None:
            self.notify(found)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread: what is queued gets one more try, waits are cut short. Wait at
        most `timeout` seconds for it (a send in flight is bounded by Apprise's timeouts)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("notifications still being sent after %.0f s were left behind", timeout)

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is not None and not self._stopping.is_set():
                self._sleep(self._window)
            batch, stop = _drain(self._queue, first)
            if batch:
                try:
                    self._deliver(messages.build(batch, self._tz))
                except Exception:  # never let one bad batch end the notifier
                    log.exception("could not send %d notification(s)", len(batch))
            if stop:
                return

    def _deliver(self, built: list[Message]) -> None:
        """Send every message to every target; retry what failed after each wait; then log
        one line per target that still has messages it did not take."""
        pending = [(target, message) for message in built for target in self._targets]
        reasons: dict[targets.Target, str] = {}
        tries = 0
        for wait in (*self._waits, None):
            tries += 1
            failed = []
            for target, message in pending:
                reason = target.send(message)
                if reason is None:
                    log.debug("%s: sent %r", target.label, message.title)
                else:
                    failed.append((target, message))
                    reasons[target] = reason
            pending = failed
            if not pending or wait is None or self._stopping.is_set():
                break
            log.debug("%d notification(s) not delivered; next try in %.0f s", len(pending), wait)
            self._sleep(wait)
            if self._stopping.is_set():
                break
        for target in self._targets:
            lost = sum(1 for owner, _ in pending if owner is target)
            if lost:
                log.warning(
                    "%s: %d notification(s) not delivered after %d tries, given up: %s",
                    target.label,
                    lost,
                    tries,
                    reasons[target],
                )


def _drain(
    pending: queue.SimpleQueue[Change | None], first: Change | None
) -> tuple[list[Change], bool]:
    """Take `first` and whatever else is queued now; say whether a stop was among them."""
    batch = [] if first is None else [first]
    stop = first is None
    while True:
        try:
            item = pending.get_nowait()
        except queue.Empty:
            return batch, stop
        if item is None:
            stop = True
        else:
            batch.append(item)
