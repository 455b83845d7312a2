"""An adversarial review of the daemon: each test is a scenario that once broke a promise of
README "What the daemon does, and when" / "Exactly once" (never a duplicate, never a stranded
draft, on time, nothing lost). In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apscheduler.schedulers.base
import pytest

from publisher.commands import retry_cancel
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.daemon import inbox
from publisher.daemon.alarms import AlarmClock
from publisher.daemon.loop import Daemon
from publisher.errors import StateLocked, UserError
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from publisher.store.jobstore import JobStore
from tests.support.daemon import (
    START,
    ManualClock,
    at,
    jobs_by_draft,
    open_daemon,
    settle,
    wait_for,
    write,
)
from tests.support.site import DRAFTS, load_config, make_site


class _Now:
    """The module's sandbox reads the time of whichever test runs."""

    clock = ManualClock()

    def __call__(self) -> datetime:
        return self.clock()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[SandboxServer, _Now]]:
    now = _Now()
    with SandboxServer(clock=now, fetch_media=False) as running:
        yield running, now


@pytest.fixture
def clock(server: tuple[SandboxServer, _Now]) -> ManualClock:
    running, now = server
    running.reset()
    now.clock = ManualClock()
    return now.clock


@pytest.fixture
def posts(server: tuple[SandboxServer, _Now]) -> SandboxServer:
    return server[0]


def site(tmp_path: Path, base_url: str | None, **kwargs: Any) -> Config:
    account = {"base_url": base_url, **kwargs.pop("account", {})}
    media = {"host": "base_url", "public_url": "http://127.0.0.1:9"}
    return load_config(make_site(tmp_path, account=account, media=media, **kwargs))


@pytest.fixture
def config(tmp_path: Path, posts: SandboxServer) -> Config:
    return site(tmp_path, posts.base_url)


@pytest.fixture
def daemon(config: Config, clock: ManualClock) -> Iterator[Daemon]:
    running = open_daemon(config, clock)
    yield running
    running.shutdown()


def draft(config: Config, name: str, **extra: str) -> Path:
    text = DRAFTS["post"] + "".join(f"{key}: {value}\n" for key, value in extra.items())
    return write(config.content_dir / name, text)


def through_daemon(daemon: Daemon, config: Config, action: str, path: Path) -> str:
    """`publisher <action> DRAFT` while the daemon runs: the answer, or the refusal."""
    answer: list[str] = []

    def ask() -> None:
        try:
            answer.append(retry_cancel.submit(config, action, path))  # type: ignore[arg-type]
        except UserError as exc:
            answer.append("refused: " + "; ".join(p.message for p in exc.problems))

    thread = threading.Thread(target=ask)
    thread.start()
    wait_for(lambda: bool(inbox.pending(config.state_dir)))
    settle(daemon)
    thread.join(5)
    assert answer, "no answer from the daemon"
    return answer[0]


# --- never a stranded draft ------------------------------------------------------------------


def test_retry_of_a_draft_whose_file_is_gone_is_refused_not_stranded(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    """A missed draft deleted, then `publisher retry`: the job used to become `scheduled` for
    now with no draft to publish from, and the dispatcher looked at it again on every step,
    forever (the job never left `scheduled`)."""
    path = draft(config, "gone.yaml", publish_at=at(START + timedelta(minutes=10)))
    daemon.on_paths({path})
    settle(daemon)
    clock.advance(timedelta(hours=2))
    settle(daemon)
    assert jobs_by_draft(config)["gone.yaml"].state is State.MISSED
    path.unlink()
    daemon.on_paths({path})
    settle(daemon)

    said = through_daemon(daemon, config, "retry", path)
    daemon.step()

    job = jobs_by_draft(config)["gone.yaml"]
    assert said.startswith("refused:") and "gone" in said, said
    assert job.state is State.MISSED
    assert not daemon.dispatcher.dirty  # nothing left that it keeps looking at
    assert posts.posts() == []


def test_a_blocked_account_moves_on_when_its_token_file_is_fixed(
    tmp_path: Path, clock: ManualClock
) -> None:
    """The token in `access_token_file` was read once, with the config: fixing the file left
    the account's drafts blocked until a reload, though they "move on by themselves"."""
    token = write(tmp_path / "main-token", "wrong-token-1\n")
    with SandboxServer(clock=clock, token="right-token-123456", fetch_media=False) as server:
        config = site(tmp_path, server.base_url, account={"access_token_file": str(token)})
        running = open_daemon(config, clock, account_check_every=0.0)
        try:
            running.on_paths({draft(config, "blocked.yaml", publish_at="now")})

            def state() -> State:
                running.step()  # the account is checked at every step here
                running.workers.wait(5.0)
                return jobs_by_draft(config)["blocked.yaml"].state

            wait_for(lambda: state() is State.BLOCKED)
            for _ in range(5):
                assert state() is State.BLOCKED  # checked again and again: still wrong

            token.write_text("right-token-123456\n")
            wait_for(lambda: state() is State.PUBLISHED, timeout=5)
            assert len(server.posts()) == 1
        finally:
            running.shutdown()


def test_a_job_waiting_for_the_quota_killed_mid_attempt_is_not_missed_after_restart(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer
) -> None:
    """A job that waited hours for the publishing quota (retrying, "not a failure"), killed
    in the attempt at its next_attempt_at, came back as `scheduled` for its original slot,
    hours ago: missed at once, though the daemon was down for a minute."""
    config = site(tmp_path, posts.base_url)
    posts.faults.quota_used_extra = posts.faults.quota_total
    first = open_daemon(config, clock)
    first.on_paths({draft(config, "waits.yaml", publish_at=at(START + timedelta(minutes=10)))})
    settle(first)
    for _ in range(2):  # two windows of waiting: the slot is now two hours ago
        job = jobs_by_draft(config)["waits.yaml"]
        clock.advance((job.next_attempt_at or job.scheduled_for or START) - clock())
        settle(first)
    job = jobs_by_draft(config)["waits.yaml"]
    assert job.state is State.RETRYING and job.next_attempt_at is not None
    first.shutdown()

    # Its next attempt: claimed (as publishing.publish does), then kill -9.
    clock.advance(job.next_attempt_at - clock())
    with JobStore(config.state_dir, clock=clock, lock=True) as store:
        store.transition(
            job.id, State.PUBLISHING, "", expect=[State.RETRYING], next_attempt_at=None
        )
    clock.advance(timedelta(minutes=1))
    posts.faults.quota_used_extra = 0
    second = open_daemon(config, clock)
    try:
        settle(second)
        job = jobs_by_draft(config)["waits.yaml"]
        assert job.state is State.PUBLISHED, job.error
        assert len(posts.posts()) == 1
    finally:
        second.shutdown()


# --- an exception in a worker ------------------------------------------------------------------


class _BrokenStore:
    """jobs.json cannot be replaced while this lasts (a full disk, an I/O error): every
    write of the job store fails; the daemon's memory still holds every job."""

    def __init__(self, config: Config) -> None:
        self.path = config.state_dir / "jobs.json"

    def __enter__(self) -> None:
        self.path.unlink()
        self.path.mkdir()
        (self.path / "in-the-way").write_text("")

    def __exit__(self, *_exc: object) -> None:
        shutil.rmtree(self.path)  # the next write puts jobs.json back from memory


def test_a_store_write_failing_at_the_claim_does_not_wedge_the_job(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    """The claim's store write failed in the worker: the job stayed claimed in memory, so
    every later publish returned at once, and the dispatcher started one after the other
    without end; the draft never went out, even once the disk was fine again."""
    slot = START + timedelta(hours=1)
    daemon.on_paths({draft(config, "slot.yaml", publish_at=at(slot))})
    settle(daemon)
    [job] = daemon.store.all()
    clock.advance(slot - clock())
    with _BrokenStore(config):
        daemon.step()  # the publish starts, and its claim cannot be recorded
        daemon.workers.wait(5.0)
    settle(daemon)

    assert daemon.store.get(job.id).state is State.PUBLISHED  # type: ignore[union-attr]
    assert len(posts.posts()) == 1


def test_a_store_write_failing_after_media_publish_is_reconciled_without_a_restart(
    daemon: Daemon, config: Config, posts: SandboxServer
) -> None:
    """The post went out but neither it nor the failure could be recorded: the job was left
    `publishing` with nobody working on it, until the next start of the daemon."""
    posts.faults.publish_delay_s = 0.3
    daemon.on_paths({draft(config, "now.yaml", publish_at="now")})
    daemon.step()
    [job] = daemon.store.all()
    wait_for(lambda: daemon.store.get(job.id).publish_requested_at is not None)  # type: ignore[union-attr]
    with _BrokenStore(config):
        daemon.workers.wait(5.0)  # media_publish answers; nothing can be recorded
    settle(daemon)

    done = daemon.store.get(job.id)
    assert done is not None and done.state is State.PUBLISHED, done
    assert len(posts.posts()) == 1


def test_an_edit_the_store_could_not_record_is_read_again_at_the_slot(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    """An edit arrived while the store could not be written: the daemon remembered the new
    version, the job kept the old one, and at the slot the dispatcher only noted that they
    differ, again and again (re-arming an alarm for now each time), never publishing."""
    slot = START + timedelta(hours=1)
    path = draft(config, "edited.yaml", publish_at=at(slot))
    daemon.on_paths({path})
    settle(daemon)
    with _BrokenStore(config):
        path.write_text(path.read_text().replace("First light", "Last light"))
        daemon.on_paths({path})
    clock.advance(slot - clock())
    settle(daemon)
    settle(daemon)

    [job] = daemon.store.all()
    assert job.state is State.PUBLISHED, job
    [post] = posts.posts()
    assert "Last light" in post["caption"]


# --- config reloads -----------------------------------------------------------------------------


def test_a_reload_to_a_content_dir_that_is_not_there_keeps_the_old_config(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    """The new content_dir could not be watched: the reload raised half way (config swapped,
    drafts forgotten, the old watcher stopped and no new one), so the watchdog keep-alive
    stopped for good and nothing new was seen, instead of keeping the previous config."""
    slot = START + timedelta(hours=1)
    daemon.on_paths({draft(config, "slot.yaml", publish_at=at(slot))})
    settle(daemon)
    document = json.loads(config.config_path.read_text())
    document["content_dir"] = "moved-away"
    config.config_path.write_text(json.dumps(document))

    assert daemon.reload("test") is False
    assert daemon.config.content_dir == config.content_dir
    assert daemon.healthy()
    clock.advance(slot - clock())
    settle(daemon)
    assert jobs_by_draft(config)["slot.yaml"].state is State.PUBLISHED
    assert len(posts.posts()) == 1


def test_a_reload_to_another_content_dir_watches_the_new_one(
    daemon: Daemon, config: Config, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(config.content_dir, other)
    document = json.loads(config.config_path.read_text())
    document["content_dir"] = "other"
    config.config_path.write_text(json.dumps(document))

    assert daemon.reload("test") is True
    assert daemon.healthy()
    write(other / "new.yaml", DRAFTS["post"] + f"publish_at: {at(START + timedelta(hours=3))}\n")

    def seen() -> bool:
        daemon.step()
        return "new.yaml" in jobs_by_draft(config)

    wait_for(seen, timeout=5)  # through the new watcher
    assert jobs_by_draft(config)["new.yaml"].state is State.SCHEDULED


def test_a_reload_that_moves_state_dir_keeps_the_old_config(
    daemon: Daemon, config: Config, tmp_path: Path
) -> None:
    """The daemon holds the old store: a new state_dir while running would let another
    process publish the same drafts from it (two posts). Refused until a restart."""
    document = json.loads(config.config_path.read_text())
    document["state_dir"] = str(tmp_path / "other-state")
    config.config_path.write_text(json.dumps(document))

    assert daemon.reload("test") is False
    assert daemon.config.state_dir == config.state_dir
    assert daemon.healthy()


def test_another_process_cannot_publish_the_same_content_dir_from_another_state_dir(
    daemon: Daemon, config: Config, tmp_path: Path
) -> None:
    """Two state dirs over one content_dir would each post its drafts: the content_dir
    is locked too."""
    path = draft(config, "a.yaml", publish_at=at(START + timedelta(hours=1)))
    daemon.on_paths({path})
    settle(daemon)
    other = config.model_copy(update={"state_dir": tmp_path / "other-state"})
    with pytest.raises(StateLocked, match="another publisher process"):
        publish_draft(other, path, progress=lambda _line: None)


# --- the queue ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "state"),
    [
        (("type: post\n", "type: post\npaused: true\n"), State.PAUSED),
        (("[sunrise.jpg]", "[missing.jpg]"), State.INVALID),
    ],
)
def test_a_queue_draft_back_after_its_slot_takes_the_next_slot(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer, out: tuple[str, str], state: State
) -> None:
    """A queue draft (no publish_at) paused (or invalid) over its slot kept that slot, now
    hours ago: once back it was missed at once, though its time was only ever the queue's."""
    config = site(tmp_path, posts.base_url)
    document = json.loads(config.config_path.read_text())
    document["schedule"] = {"slots": [{"days": "daily", "times": ["09:00"]}]}
    config.config_path.write_text(json.dumps(document))
    config = load_config(config.config_path)
    running = open_daemon(config, clock)
    try:
        path = draft(config, "queued.yaml")
        running.on_paths({path})
        settle(running)
        assert jobs_by_draft(config)["queued.yaml"].scheduled_for == START.replace(hour=9)

        text = path.read_text()
        path.write_text(text.replace(*out))
        running.on_paths({path})
        settle(running)
        assert jobs_by_draft(config)["queued.yaml"].state is state
        clock.advance(timedelta(hours=4))  # 12:00: today's 09:00 is gone
        settle(running)
        path.write_text(text)
        running.on_paths({path})
        settle(running)

        job = jobs_by_draft(config)["queued.yaml"]
        assert job.state is State.SCHEDULED, job.error
        assert job.scheduled_for == START.replace(hour=9) + timedelta(days=1)
        assert posts.posts() == []
    finally:
        running.shutdown()


# --- the alarm clock ---------------------------------------------------------------------------


class _WallClock(datetime):
    """datetime, with `now()` moved by `offset`: the wall clock as APScheduler reads it."""

    offset = timedelta()

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + cls.offset


def test_the_heartbeat_survives_the_wall_clock_going_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An NTP step back of an hour: APScheduler's heartbeat waited for the hour, so the
    alarm clock looked dead, the watchdog keep-alive stopped and systemd killed the daemon
    (SIGABRT) in the middle of whatever it was publishing."""
    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", _WallClock)
    monkeypatch.setattr(_WallClock, "offset", timedelta())
    beats: list[str] = []
    alarms = AlarmClock(beats.append, heartbeat=0.05, now=lambda: _WallClock.now(UTC))
    alarms.start()
    try:
        wait_for(lambda: len(beats) >= 2)
        _WallClock.offset = -timedelta(hours=1)

        def beating_again() -> bool:
            before = len(beats)
            time.sleep(0.2)
            return alarms.alive(0.25) and len(beats) > before

        wait_for(beating_again, timeout=3)
    finally:
        alarms.stop()
