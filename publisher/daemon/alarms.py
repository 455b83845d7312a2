"""APScheduler as an alarm clock, and nothing more (RELIABILITY.md §0.1, §1).

The job store is the truth. APScheduler holds, in memory only, one date job per instant the
daemon wants to look at a job (its prepare time, its slot, its next attempt) and an interval
heartbeat; every one of them only wakes the daemon's main loop, which then reads the store
and decides. Nothing is lost when an alarm is: the main loop also wakes on its own every
heartbeat, so a missed fire, a clock jump or a suspend costs at most one heartbeat.

Settings chosen on purpose (§1.1, §1.3): `misfire_grace_time=None` (the default of 1 s drops
late jobs silently; lateness is our own `misfire_grace` policy, applied by the daemon),
`coalesce=True`, `max_instances=1`, UTC, MemoryJobStore only (rebuilt from the store at each
start: a persistent APScheduler store removes a date job before running it, §1.6).
Alarms further out than `horizon` are not armed yet; `update` is called again as time passes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

HEARTBEAT_ID = "heartbeat"
HORIZON = timedelta(hours=24)
# Alarms due within this are never removed by `update` (see `_disarm`).
DUE_MARGIN = timedelta(seconds=5)


class AlarmClock:
    """Owns a BackgroundScheduler whose jobs all call `wake(reason)`."""

    def __init__(
        self,
        wake: Callable[[str], None],
        *,
        heartbeat: float = 1.0,
        horizon: timedelta = HORIZON,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._wake = wake
        self._now = now  # the wall clock APScheduler runs by
        self._heartbeat = heartbeat
        self._horizon = horizon
        self._lock = threading.Lock()
        self._armed: dict[str, dict[datetime, str]] = {}  # key -> instant -> APScheduler id
        self._last_beat = time.monotonic()
        self.missed = 0  # alarms APScheduler reported missed or failed (each also logged)
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            executors={"default": {"type": "threadpool", "max_workers": 2}},
        )
        self._scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES
        )

    def start(self) -> None:
        """Start the scheduler thread and the heartbeat."""
        self._scheduler.add_job(
            self._beat, "interval", seconds=self._heartbeat, id=HEARTBEAT_ID, name=HEARTBEAT_ID
        )
        self._scheduler.start()
        self._last_beat = time.monotonic()

    def stop(self) -> None:
        """Stop the scheduler without waiting for a running alarm (they only wake us)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def alive(self, max_silence: float) -> bool:
        """True when the scheduler thread runs and the heartbeat fired within `max_silence`
        seconds (monotonic): the condition for the systemd watchdog keep-alive."""
        thread: Any = getattr(self._scheduler, "_thread", None)
        running = bool(self._scheduler.running) and thread is not None and thread.is_alive()
        if running:
            self._rearm_heartbeat()
        return running and time.monotonic() - self._last_beat < max_silence

    def _rearm_heartbeat(self) -> None:
        """APScheduler times the heartbeat by the wall clock: after the clock went back it
        would sleep for the whole jump (RELIABILITY.md §1.5), and the systemd keep-alive
        would stop until the watchdog killed us. Start the heartbeat again from now."""
        job = self._scheduler.get_job(HEARTBEAT_ID)
        now = self._now()
        if job is None or job.next_run_time is None:
            return
        if job.next_run_time > now + timedelta(seconds=2 * self._heartbeat):
            log.info("the wall clock went back; the heartbeat starts again from now")
            job.modify(next_run_time=now)

    def update(self, wanted: Mapping[str, Sequence[datetime]], now: datetime) -> None:
        """Make the armed alarms match `wanted` (key -> instants, aware) for instants up to
        `now + horizon`; keys not in `wanted` lose their alarms."""
        limit = now + self._horizon
        with self._lock:
            for key in [key for key in self._armed if key not in wanted]:
                self._disarm(key, set(self._armed[key]), now)
            for key, instants in wanted.items():
                keep = {instant for instant in instants if instant <= limit}
                armed = self._armed.get(key, {})
                self._disarm(key, set(armed) - keep, now)
                for instant in sorted(keep - set(armed)):
                    self._arm(key, instant)

    def armed(self) -> dict[str, list[datetime]]:
        """What is armed now (key -> instants), for tests and logs."""
        with self._lock:
            return {key: sorted(instants) for key, instants in self._armed.items()}

    def _arm(self, key: str, instant: datetime) -> None:
        alarm_id = f"{key}@{instant.isoformat()}"
        self._scheduler.add_job(
            self._ring,
            "date",
            run_date=instant,
            args=(key, instant),
            id=alarm_id,
            name=alarm_id,
            replace_existing=True,
        )
        self._armed.setdefault(key, {})[instant] = alarm_id

    def _disarm(self, key: str, instants: set[datetime], now: datetime) -> None:
        armed = self._armed.get(key, {})
        for instant in instants:
            alarm_id = armed.pop(instant, None)
            # APScheduler fires on the wall clock, which may differ from the daemon's `now`
            # (a test's clock): either being due is enough to leave the alarm alone.
            due_by = max(now, datetime.now(UTC)) + DUE_MARGIN
            if alarm_id is None or instant <= due_by:
                # An alarm about to ring is left to ring (a wake-up for nothing): APScheduler
                # removes a date job after running it, and if we removed it in between, its
                # thread died of a JobLookupError, taking every alarm and the heartbeat with it.
                continue
            try:
                self._scheduler.remove_job(alarm_id)
            except Exception:  # JobLookupError: it already rang
                pass
        if not armed:
            self._armed.pop(key, None)

    def _ring(self, key: str, instant: datetime) -> None:
        with self._lock:
            armed = self._armed.get(key, {})
            armed.pop(instant, None)
            if not armed:
                self._armed.pop(key, None)
        self._wake(f"alarm {key}")

    def _beat(self) -> None:
        self._last_beat = time.monotonic()
        self._wake("heartbeat")

    def _on_event(self, event: JobEvent) -> None:
        # An alarm is only a wake-up and the main loop looks anyway; still, say so once.
        self.missed += 1
        log.warning(
            "alarm %s: APScheduler reported event %s; the heartbeat covers it",
            event.job_id,
            event.code,
        )
        self._wake("missed alarm")
