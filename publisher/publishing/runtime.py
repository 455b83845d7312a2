"""What a publishing process needs, wired once: the job store, HTTP, the sandbox, the media
host, and one Graph API client per account.

`Runtime.open(config)` is called by the composition roots (`publisher publish`, the daemon);
`publishing` only ever receives a `Runtime`. It owns resources (the store lock, an httpx
client, up to two loopback servers), so it is a class with `close()`.

Besides the wiring it keeps the bits of in-process state the publish flow shares between
threads: which jobs this process is working on right now (`claim`/`release`: with the store
lock, a job in state `publishing` that nobody here claims was left by a dead process), a
short cache of each account's publishing quota, and each account's call pacing
(`instagram.usage.Pacer`: every client of an account slows down together). Its `sleep` is
the one every wait of the flow goes through (polls, backoff, pacing, the settle wait of a
doubtful publish): `stop_waiting()` (the daemon stopping) cuts every wait short with
`Stopping`, and `aside(job_id)` tells the daemon a job's worker does not need its
account's publish slot for a while (it waits for a doubtful publish to settle, or finishes a
post that is out), so the account's other drafts need not wait for it. It also gives the
flow's steps three shortcuts: `job` (the stored job), `transition` (a state change that
always applies) and `local` (a moment in the configured time zone, for sentences).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

from publisher import logs
from publisher.clock import Clock, Sleep, system_clock, system_sleep
from publisher.config import Config, tokens
from publisher.errors import ConfigError, Problem, PublisherError, StoreError
from publisher.hosting import cache, mediahost
from publisher.instagram import client as graph
from publisher.instagram import session, usage
from publisher.job import DONE, ApiCall, Job, State
from publisher.notify.sender import Notifier
from publisher.publishing import apihost
from publisher.publishing.contentlock import lock_content, unlock_content
from publisher.publishing.groupcommit import GroupCommit
from publisher.sandbox.server import SandboxServer
from publisher.store.jobstore import MAX_CALLS, JobStore

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a content_publishing_limit answer is trusted. Publishing itself updates the cached
# figure, so within this window only other apps' posts go unseen.
NOTIFY_CLOSE_TIMEOUT = 5.0  # seconds; well below systemd's TimeoutStopSec
QUOTA_TTL = timedelta(seconds=60)
# HTTP connections kept open for reuse: one per worker that may be calling at once (the
# daemon runs `publishing.concurrency` publishes plus its prepares); httpx's default of 20
# would make a busy minute open and close connections for most calls.
KEEPALIVE_MARGIN = 32


class Stopping(BaseException):
    """The process is stopping: a wait of the publish flow was cut short. A BaseException,
    so that nothing records it as the job's failure: the job is left as a kill -9 would
    leave it, and the next start takes it over (`daemon.interrupted`)."""


@dataclass(frozen=True)
class _Cached:
    at: datetime
    quota: graph.Quota


class Runtime:
    """The job store (locked), one httpx.Client, the in-process sandbox when an account
    needs it, the started media host, and per-account Graph API clients.

    Thread-safe: the daemon's workers share one Runtime.
    """

    def __init__(
        self,
        *,
        config: Config,
        store: JobStore,
        http: httpx.Client,
        owns_http: bool,
        media: mediahost.MediaHost,
        sandbox: SandboxServer | None,
        sandbox_url: str | None,
        clock: Clock,
        sleep: Sleep,
        retry_wait: float,
    ) -> None:
        self.config = config
        self.store = store
        self.http = http
        self.media = media
        self.clock = clock
        self._sleep = sleep
        self._stopping = threading.Event()
        self._on_aside: Callable[[str, bool], None] | None = None
        self.retry_wait = retry_wait
        self.sandbox = sandbox
        self.sandbox_url = sandbox_url
        self._owns_http = owns_http
        self._content_lock: int | None = None
        self._lock = threading.Lock()
        self._claimed: set[str] = set()
        # API calls made for a job and not yet in the store: written with the job's next
        # change (`recording`), or when the job is released; a crash may lose the record
        # of the last few calls, never a fact the flow relies on
        self._calls: dict[str, list[ApiCall]] = {}
        self._commits = GroupCommit(store)
        self._quota: dict[str, _Cached] = {}
        self._pacers: dict[str, usage.Pacer] = {}
        _register_tokens(config)
        # Every durable change of a job's state is told to the notifier, which sends off
        # this thread (never delaying a publish); a reload swaps it for a new one.
        self.notifier = Notifier(config.notify, tz=config.tz, clock=clock)
        self._cleanup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-cleanup")
        # The daemon's metrics (metrics.listen) hear of every job change and API call too.
        self.watchers: list[Callable[[Job | None, Job], None]] = []
        self.call_watchers: list[Callable[[ApiCall], None]] = []
        store.observe(self._job_changed)

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        clock: Clock = system_clock,
        sleep: Sleep = system_sleep,
        http: httpx.Client | None = None,
        retry_wait: float = 1.0,
    ) -> Runtime:
        """Given a config, open the store (raise StateLocked if another process holds
        state_dir, StoreCorrupt if jobs.json is unreadable), start the sandbox if an account
        needs it and the media host, and return the Runtime. Close it with `close()`."""
        _register_tokens(config)
        store = JobStore(config.state_dir, clock=clock, lock=True)
        try:
            content_lock = lock_content(config.content_dir)
        except BaseException:
            store.close()
            raise
        sandbox: SandboxServer | None = None
        media: mediahost.MediaHost | None = None
        owns_http = http is None
        client = http if http is not None else session.make_http(limits=http_limits(config))
        try:
            sandbox, sandbox_url = apihost.start_sandbox(config, clock, None)
            media = mediahost.make(config, clock=clock)
            _start_media(media, config)
            # leftovers of a run that crashed before it could delete a job's uploads (s3)
            media.sweep({job.id for job in store.all() if job.state not in DONE})
            cache.sweep_unlinked(mediahost.cache_dir(config), config.media.link_ttl, clock())
        except BaseException:
            if sandbox is not None:
                sandbox.stop()
            if owns_http:
                client.close()
            unlock_content(content_lock)
            store.close()
            raise
        runtime = cls(
            config=config,
            store=store,
            http=client,
            owns_http=owns_http,
            media=media,
            sandbox=sandbox,
            sandbox_url=sandbox_url,
            clock=clock,
            sleep=sleep,
            retry_wait=retry_wait,
        )
        runtime._content_lock = content_lock
        return runtime

    def client(self, account: str, job_id: str | None = None) -> graph.Client:
        """Return a Graph API client for `account`; with `job_id`, every HTTP call it makes
        is recorded on that job (endpoint, status, duration, usage headers)."""
        with self._lock:
            config, sandbox_url = self.config, self.sandbox_url
            pacer = self._pacers.setdefault(account, usage.Pacer())
        spec = config.accounts[account]
        on_call = None
        if job_id is not None or self.call_watchers:
            watchers = tuple(self.call_watchers)

            def on_call(call: ApiCall) -> None:
                for watcher in watchers:
                    watcher(call)
                if job_id is not None:
                    with self._lock:
                        self._calls.setdefault(job_id, []).append(call)

        return graph.Client(
            http=self.http,
            base_url=apihost.base_url(config, account, sandbox_url),
            api_version=spec.api_version,
            ig_user_id=spec.ig_user_id,
            token=tokens.token(config, account),
            on_call=on_call,
            sleep=self.sleep,
            clock=self.clock,
            retry_wait=self.retry_wait,
            api=spec.api,
            pacer=pacer,
        )

    def reload(self, config: Config) -> None:
        """Take a new config: accounts and tokens apply to the next `client()`; a changed
        `media` section or content_dir restarts the media host; the sandbox starts if an
        account now needs it. state_dir cannot change while running (the store is open).
        Raise OSError if the new media host cannot listen (the old one keeps serving)."""
        _register_tokens(config)
        with self._lock:
            old = self.config
            if self.sandbox is None:
                self.sandbox, self.sandbox_url = apihost.start_sandbox(config, self.clock, None)
            media_changed = old.media != config.media or old.content_dir != config.content_dir
            self.config = config
            self._quota.clear()
        if old.notify != config.notify or old.timezone != config.timezone:
            stale, self.notifier = (
                self.notifier,
                Notifier(config.notify, tz=config.tz, clock=self.clock),
            )
            stale.close(timeout=1.0)
        if media_changed:
            fresh = mediahost.make(config, clock=self.clock)
            self.media.stop()  # first: the new host may listen on the same address
            try:
                fresh.start()
            except (OSError, PublisherError):  # a port in use, s3 without credentials
                self.media.start()  # keep serving the old way rather than not at all
                raise
            self.media = fresh
        if old.state_dir != config.state_dir:
            log.warning(
                "state_dir changed in config.yaml (%s -> %s); restart publisher to use it",
                old.state_dir,
                config.state_dir,
            )

    def _job_changed(self, before: Job | None, after: Job) -> None:
        self.notifier.job_changed(before, after)
        for watcher in self.watchers:
            watcher(before, after)
        if after.state in DONE and (before is None or before.state not in DONE):
            # the job's uploaded media (media.host s3) are not needed any more: delete them
            # off this thread (the store calls this inside its lock)
            self._cleanup.submit(self.media.release, after.id)

    def relock_content(self, content_dir: Path) -> None:
        """Take `content_dir` for this process (a config reload moved it), then let the old
        one go. Raise ContentLocked if another publisher process uses the new folder."""
        fresh = lock_content(content_dir)
        unlock_content(self._content_lock)
        self._content_lock = fresh

    def close(self) -> None:
        """Stop the media host and the sandbox, close HTTP (if ours) and the store; give
        the notifier a few seconds to send what is queued."""
        try:
            self.store.observe(None)
            self.notifier.close(timeout=NOTIFY_CLOSE_TIMEOUT)
            self._cleanup.shutdown(wait=True, cancel_futures=True)
            self.media.stop()
        finally:
            try:
                if self.sandbox is not None:
                    self.sandbox.stop()
            finally:
                try:
                    if self._owns_http:
                        self.http.close()
                finally:
                    unlock_content(self._content_lock)
                    self._content_lock = None
                    self.store.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the store and the clock, as the publish flow uses them ---------------------------

    def job(self, job_id: str) -> Job:
        """The stored job `job_id`. Raise KeyError if there is none."""
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id}")
        return job

    def transition(self, job_id: str, state: State, note: str, **changes: Any) -> Job:
        """Move the job to `state` whatever its state now (no `expect`, so always applied),
        recording `note` and the field `changes`; return the job as stored."""
        job = self.durably(job_id, lambda: self.store.transition(job_id, state, note, **changes))
        assert job is not None  # no `expect`: always applied
        return job

    def durably(self, job_id: str, change: Callable[[], T]) -> T:
        """Run `change()` (store changes, no HTTP, no wait) and return its result once it is
        durable, with the record of the API calls made for the job since its last write, in
        one write of jobs.json shared with the other workers writing at the same moment
        (`groupcommit`): at a busy slot the store's one-at-a-time writes set the pace. Raise
        what `change` raises, or StoreError if the write fails (the calls stay to be
        written later)."""
        with self._lock:
            calls = self._calls.pop(job_id, [])

        def with_calls() -> T:
            try:
                for call in calls:
                    self.store.record_call(job_id, call)
            except KeyError:  # the job is gone (forgotten): nothing to record on
                pass
            return change()

        try:
            return self._commits.run(with_calls)
        except StoreError:
            with self._lock:
                later = self._calls.get(job_id, [])
                self._calls[job_id] = (calls + later)[-MAX_CALLS:]
            raise

    def local(self, moment: datetime) -> str:
        """`moment` in the configured time zone, to the second: for sentences people read."""
        return moment.astimezone(self.config.tz).isoformat(timespec="seconds")

    # --- waiting ----------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` with the injected sleep (the real one wakes at `stop_waiting()`).
        Raise Stopping if the process is stopping, before or after the wait."""
        if self._stopping.is_set():
            raise Stopping
        if self._sleep is system_sleep:
            self._stopping.wait(max(seconds, 0.0))
        else:
            self._sleep(seconds)
        if self._stopping.is_set():
            raise Stopping

    def stop_waiting(self) -> None:
        """The process is stopping: every wait now and from now on raises Stopping."""
        self._stopping.set()

    def watch_aside(self, hook: Callable[[str, bool], None] | None) -> None:
        """Call `hook(job_id, True)` when a job's worker stops needing its account's publish
        slot, `hook(job_id, False)` when it needs it again (the daemon's workers)."""
        self._on_aside = hook

    @contextmanager
    def aside(self, job_id: str, *, back: bool = True) -> Iterator[None]:
        """Within the block the worker of `job_id` does not need its account's publish slot:
        it waits for a doubtful publish to settle (never publishing meanwhile), or finishes a
        post that is out (permalink, first comment, status block: `back=False`, it never
        needs the slot again in this task). See `watch_aside`."""
        hook = self._on_aside
        if hook is not None:
            hook(job_id, True)
        try:
            yield
        finally:
            if hook is not None and back:
                hook(job_id, False)

    # --- in-process state shared by the publish flow --------------------------------------

    def claim(self, job_id: str) -> bool:
        """Mark `job_id` as being worked on by this process; False if it already is."""
        with self._lock:
            if job_id in self._claimed:
                return False
            self._claimed.add(job_id)
            return True

    def release(self, job_id: str) -> None:
        """The job is no longer worked on here; the API calls not yet recorded are written
        (a store that cannot be written keeps them for later: logged, never raised)."""
        with self._lock:
            self._claimed.discard(job_id)
            pending = bool(self._calls.get(job_id))
        if pending:
            try:
                self.durably(job_id, lambda: None)
            except (StoreError, OSError) as exc:
                log.warning("job %s: its API calls are not recorded yet: %s", job_id, exc)

    def is_claimed(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._claimed

    def cached_quota(self, account: str) -> graph.Quota | None:
        """The account's quota if read less than QUOTA_TTL ago, else None."""
        with self._lock:
            cached = self._quota.get(account)
        if cached is None or self.clock() - cached.at >= QUOTA_TTL:
            return None
        return cached.quota

    def known_quota(self, account: str) -> graph.Quota | None:
        """The account's quota as Meta last gave it (kept up to date by count_published),
        however old; None before the first read."""
        with self._lock:
            cached = self._quota.get(account)
        return cached.quota if cached is not None else None

    def remember_quota(self, account: str, quota: graph.Quota) -> None:
        with self._lock:
            self._quota[account] = _Cached(self.clock(), quota)

    def count_published(self, account: str) -> None:
        """One more post went out on `account`: keep the cached quota honest."""
        with self._lock:
            cached = self._quota.get(account)
            if cached is not None:
                quota = cached.quota
                used = graph.Quota(quota.used + 1, quota.total, quota.duration_s)
                self._quota[account] = _Cached(cached.at, used)


def http_limits(config: Config) -> httpx.Limits:
    """The shared HTTP client's pool: no cap on connections (the workers bound how many
    calls run at once), and enough kept alive for every worker of a busy minute."""
    return httpx.Limits(
        max_connections=None,
        max_keepalive_connections=config.publishing.concurrency + KEEPALIVE_MARGIN,
    )


def _start_media(media: mediahost.MediaHost, config: Config) -> None:
    """Start the media host; a listen address that cannot be used is a config error."""
    try:
        media.start()
    except OSError as exc:
        raise ConfigError(
            [
                Problem(
                    str(config.config_path),
                    "at 'media.listen'",
                    f"{config.media.listen} cannot be used ({exc.strerror or exc}); another "
                    "program, perhaps another publisher, listens there: stop it or choose "
                    "another port",
                )
            ]
        ) from exc


def _register_tokens(config: Config) -> None:
    for name in config.accounts:
        token = tokens.configured(config, name)
        if token:
            logs.register_secret(token)
