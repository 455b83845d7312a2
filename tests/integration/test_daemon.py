"""The daemon in-process: a hand-moved clock, the in-process sandbox over loopback HTTP, real
files in tmp_path. Each test drives `step()` until the daemon has nothing left to do."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.commands import plan, retry_cancel
from publisher.config import Config
from publisher.daemon import inbox
from publisher.daemon.loop import Daemon
from publisher.daemon.sdnotify import Notifier
from publisher.drafts import statusblock
from publisher.job import State
from publisher.planning import reconciler
from publisher.sandbox.server import SandboxServer
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
    # One sandbox for the module (its state is reset per test); media are not fetched, so
    # no media server runs either (media.host: base_url).
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


def site(tmp_path: Path, sandbox: SandboxServer, **kwargs: Any) -> Config:
    account = {"base_url": sandbox.base_url, **kwargs.pop("account", {})}
    media = {"host": "base_url", "public_url": "http://127.0.0.1:9"}
    return load_config(make_site(tmp_path, account=account, media=media, **kwargs))


@pytest.fixture
def config(tmp_path: Path, posts: SandboxServer) -> Config:
    return site(tmp_path, posts, publishing={"prepare_ahead": "10m"})


@pytest.fixture
def daemon(config: Config, clock: ManualClock) -> Iterator[Daemon]:
    running = open_daemon(config, clock)
    yield running
    running.shutdown()


def draft(config: Config, name: str, kind: str = "post", **extra: str) -> Path:
    text = DRAFTS[kind] + "".join(f"{key}: {value}\n" for key, value in extra.items())
    return write(config.content_dir / name, text)


def status(path: Path) -> dict[str, object]:
    block = statusblock.read(path.read_bytes())
    assert block is not None, path.read_text()
    return block


def publish_calls(job_id: str, config: Config) -> list[object]:
    job = jobs_by_draft(config)
    [found] = [j for j in job.values() if j.id == job_id]
    return [call.at for call in found.api_calls if call.endpoint.endswith("/media_publish")]


# --- drafts in, posts out ---------------------------------------------------------------


def test_a_draft_for_now_is_published_and_its_status_written(
    daemon: Daemon, config: Config, posts: SandboxServer
) -> None:
    path = draft(config, "now.yaml", publish_at="now")
    daemon.on_paths({path})
    settle(daemon)

    job = jobs_by_draft(config)["now.yaml"]
    assert job.state is State.PUBLISHED, job.error
    assert len(posts.posts()) == 1
    block = status(path)
    assert block["state"] == "published"
    assert block["permalink"] == job.permalink


def test_prepare_ahead_then_media_publish_at_the_slot(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    slot = START + timedelta(minutes=30)
    path = draft(config, "later.yaml", publish_at=at(slot))
    daemon.on_paths({path})
    settle(daemon)
    job = jobs_by_draft(config)["later.yaml"]
    assert (job.state, job.scheduled_for, job.containers) == (State.SCHEDULED, slot, ())

    clock.advance(timedelta(minutes=21))  # inside prepare_ahead (10m): containers now
    settle(daemon)
    job = jobs_by_draft(config)["later.yaml"]
    assert job.state is State.SCHEDULED
    assert [c.status_code for c in job.containers] == ["FINISHED"]
    assert posts.posts() == []

    clock.advance(slot - clock())
    settle(daemon)
    job = jobs_by_draft(config)["later.yaml"]
    assert job.state is State.PUBLISHED
    assert len(job.containers) == 1  # the prepared one went out: no container at the slot
    assert publish_calls(job.id, config) == [slot]


def test_an_edit_after_prepare_abandons_the_ready_container(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    slot = START + timedelta(minutes=30)
    path = draft(config, "edited.yaml", publish_at=at(slot))
    daemon.on_paths({path})
    clock.advance(timedelta(minutes=25))
    settle(daemon)
    path.write_text(path.read_text().replace("First light", "Last light"))
    daemon.on_paths({path})
    settle(daemon)
    clock.advance(slot - clock())
    settle(daemon)

    job = jobs_by_draft(config)["edited.yaml"]
    assert job.state is State.PUBLISHED
    assert len(job.containers) == 2
    [post] = posts.posts()
    assert "Last light" in post["caption"]


# --- time: clock jumps, downtime, lateness ------------------------------------------------


def test_a_clock_jump_strands_nothing(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    # misfire_grace is 1h. The wall clock jumps 2h at once (a suspend, an NTP step).
    paths = {
        "missed.yaml": START + timedelta(minutes=30),  # 1h30 late after the jump: missed
        "late.yaml": START + timedelta(minutes=90),  # 30 min late: published, saying so
        "future.yaml": START + timedelta(hours=3),  # not due yet
    }
    daemon.on_paths({draft(config, name, publish_at=at(when)) for name, when in paths.items()})
    settle(daemon)
    clock.advance(timedelta(hours=2))
    settle(daemon)

    jobs = jobs_by_draft(config)
    assert jobs["missed.yaml"].state is State.MISSED
    assert "publisher retry missed.yaml" in (jobs["missed.yaml"].error or "")
    assert jobs["late.yaml"].state is State.PUBLISHED
    assert (jobs["late.yaml"].error or "").startswith("published 30 min late")
    assert jobs["future.yaml"].state is State.SCHEDULED
    assert status(config.content_dir / "missed.yaml")["state"] == "missed"
    assert len(posts.posts()) == 1


def test_catch_up_after_downtime(tmp_path: Path, clock: ManualClock, posts: SandboxServer) -> None:
    config = site(tmp_path, posts)
    first = open_daemon(config, clock)
    for name, minutes in (("early.yaml", 10), ("recent.yaml", 120)):
        path = draft(config, name, publish_at=at(START + timedelta(minutes=minutes)))
        first.on_paths({path})
    settle(first)
    first.shutdown()

    clock.advance(timedelta(minutes=150))  # down from 08:00 to 10:30
    second = open_daemon(config, clock)
    try:
        settle(second)
        jobs = jobs_by_draft(config)
        assert jobs["early.yaml"].state is State.MISSED
        assert "the daemon was not running then" in (jobs["early.yaml"].error or "")
        assert jobs["recent.yaml"].state is State.PUBLISHED
        assert jobs["recent.yaml"].error == (
            "published 30 min late: the daemon was not running at 10:00"
        )

        # `publisher retry` while the daemon runs: the request goes through state_dir.
        answer: list[str] = []
        thread = threading.Thread(
            target=lambda: answer.append(
                retry_cancel.submit(config, "retry", config.content_dir / "early.yaml")
            )
        )
        thread.start()
        wait_for(lambda: bool(inbox.pending(config.state_dir)))
        settle(second)
        thread.join(5)
        assert answer and "as soon as possible" in answer[0]
        assert jobs_by_draft(config)["early.yaml"].state is State.PUBLISHED
    finally:
        second.shutdown()


# --- drafts while running -----------------------------------------------------------------


def test_delete_cancels_and_the_file_coming_back_revives(daemon: Daemon, config: Config) -> None:
    path = draft(config, "gone.yaml", publish_at=at(START + timedelta(hours=5)))
    daemon.on_paths({path})
    settle(daemon)
    job = jobs_by_draft(config)["gone.yaml"]
    data = path.read_bytes()

    path.unlink()
    daemon.on_paths({path})
    settle(daemon)
    assert jobs_by_draft(config)["gone.yaml"].state is State.CANCELLED
    assert jobs_by_draft(config)["gone.yaml"].error == reconciler.DELETED

    path.write_bytes(data)
    daemon.on_paths({path})
    settle(daemon)
    back = jobs_by_draft(config)["gone.yaml"]
    assert (back.id, back.state) == (job.id, State.SCHEDULED)


def test_rename_keeps_one_job(daemon: Daemon, config: Config) -> None:
    old = draft(config, "a.yaml", publish_at=at(START + timedelta(hours=5)))
    daemon.on_paths({old})
    settle(daemon)
    job = jobs_by_draft(config)["a.yaml"]

    new = old.rename(config.content_dir / "b.yaml")
    daemon.on_paths({old, new})
    settle(daemon)

    jobs = jobs_by_draft(config)
    assert list(jobs) == ["b.yaml"]
    assert (jobs["b.yaml"].id, jobs["b.yaml"].state) == (job.id, State.SCHEDULED)


def test_rename_while_publishing_never_makes_a_second_job(daemon: Daemon, config: Config) -> None:
    """A draft renamed while a worker publishes it must not become a new draft (it would be
    posted again): the new path waits for the worker, then it is an ordinary rename."""
    old = draft(config, "a.yaml", publish_at=at(START + timedelta(hours=5)))
    daemon.on_paths({old})
    settle(daemon)
    job = jobs_by_draft(config)["a.yaml"]

    new = old.rename(config.content_dir / "b.yaml")
    daemon.drafts_to_jobs.on_paths({old, new}, {}, {job.id})  # the worker holds the job
    assert [j.id for j in daemon.store.all()] == [job.id]
    assert daemon.drafts_to_jobs.deferred[job.id] == {old, new}

    daemon.on_paths(daemon.drafts_to_jobs.deferred.pop(job.id))  # the worker is done
    settle(daemon)
    jobs = jobs_by_draft(config)
    assert list(jobs) == ["b.yaml"]
    assert jobs["b.yaml"].id == job.id


@pytest.mark.parametrize(
    ("text", "state", "error_part"),
    [
        ("type: post\nmedia: [missing.jpg]\n", State.INVALID, "media"),
        (DRAFTS["post"] + "paused: true\n", State.PAUSED, None),
        (DRAFTS["post"] + "platforms: [instagram, tiktok]\n", State.LOCKED, "tiktok"),
        (DRAFTS["post"] + "account: nobody\n", State.INVALID, "account"),
    ],
)
def test_drafts_that_cannot_go_out_say_why_and_move_on_when_fixed(
    daemon: Daemon, config: Config, text: str, state: State, error_part: str | None
) -> None:
    path = write(config.content_dir / "x.yaml", text)
    daemon.on_paths({path})
    settle(daemon)
    job = jobs_by_draft(config)["x.yaml"]
    assert job.state is state
    if error_part:
        assert error_part in (job.error or "")
        assert error_part in str(status(path)["error"])

    write(path, DRAFTS["post"] + f"publish_at: {at(START + timedelta(hours=4))}\n")
    daemon.on_paths({path})
    settle(daemon)
    assert jobs_by_draft(config)["x.yaml"].state is State.SCHEDULED


def test_an_edited_published_draft_is_never_published_again(
    daemon: Daemon, config: Config, posts: SandboxServer
) -> None:
    path = draft(config, "done.yaml", publish_at="now")
    daemon.on_paths({path})
    settle(daemon)
    path.write_text(path.read_text().replace("First light", "Second light"))
    daemon.on_paths({path})
    settle(daemon)

    job = jobs_by_draft(config)["done.yaml"]
    assert job.state is State.PUBLISHED
    assert job.error == reconciler.REPUBLISH
    assert status(path)["error"] == reconciler.REPUBLISH
    assert len(posts.posts()) == 1


def test_a_published_status_block_without_a_job_is_trusted(
    daemon: Daemon, config: Config, posts: SandboxServer
) -> None:
    # jobs.json lost: the draft says it was published; publishing it again would duplicate.
    path = draft(config, "old.yaml", publish_at="now")
    with path.open("a") as handle:
        handle.write(
            'status:\n  state: published\n  media_id: "1789"\n'
            "  published_at: 2026-11-01T09:00:00+00:00\n"
        )
    daemon.on_paths({path})
    settle(daemon)
    job = jobs_by_draft(config)["old.yaml"]
    assert (job.state, job.media_id) == (State.PUBLISHED, "1789")
    assert posts.posts() == []


# --- accounts and concurrency -------------------------------------------------------------


def test_never_two_publishes_at_once_for_one_account(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer
) -> None:
    config = site(
        tmp_path,
        posts,
        publishing={"concurrency": 3},
        extra_accounts={"other": {"ig_user_id": "17841400000000002", "base_url": posts.base_url}},
    )
    running = open_daemon(config, clock)
    try:
        posts.faults.publish_delay_s = 0.05
        paths = {draft(config, f"main{i}.yaml", publish_at="now", account="main") for i in range(3)}
        paths |= {
            draft(config, f"other{i}.yaml", publish_at="now", account="other") for i in range(2)
        }
        running.on_paths(paths)
        peak: dict[str, int] = {}
        seen_both = False
        for _ in range(400):
            running.step()
            accounts = [t.account for t in running.workers.tasks() if t.kind == "publish"]
            for account in set(accounts):
                peak[account] = max(peak.get(account, 0), accounts.count(account))
            seen_both = seen_both or len(set(accounts)) == 2
            if running.settled() and len(posts.posts()) == 5:
                break
            time.sleep(0.01)
        assert len(posts.posts()) == 5
        assert peak == {"main": 1, "other": 1}
        assert seen_both  # the two accounts did publish at the same time
    finally:
        running.shutdown()


def test_a_blocked_account_moves_on_once_its_token_works(
    tmp_path: Path, clock: ManualClock
) -> None:
    with SandboxServer(clock=clock, token="right-token-123456") as server:
        url = server.base_url
        config_path = make_site(
            tmp_path, account={"base_url": url, "access_token": "wrong-token-1"}
        )
        config = load_config(config_path)
        running = open_daemon(config, clock, account_check_every=3600.0)
        try:
            path = draft(config, "blocked.yaml", publish_at="now")
            other = draft(config, "later.yaml", publish_at=at(START + timedelta(hours=2)))
            running.on_paths({path, other})
            settle(running)
            jobs = jobs_by_draft(config)
            assert jobs["blocked.yaml"].state is State.BLOCKED
            assert jobs["later.yaml"].state is State.BLOCKED
            assert server.posts() == []

            document = json.loads(config_path.read_text())
            document["accounts"]["main"]["access_token"] = "right-token-123456"
            config_path.write_text(json.dumps(document))
            assert running.reload("test")
            settle(running)
            jobs = jobs_by_draft(config)
            assert jobs["blocked.yaml"].state is State.PUBLISHED
            assert jobs["later.yaml"].state is State.SCHEDULED
        finally:
            running.shutdown()


# --- config ----------------------------------------------------------------------------------


def test_config_edits_replan_and_an_invalid_one_is_ignored(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer
) -> None:
    config_path = site(tmp_path, posts).config_path
    document = json.loads(config_path.read_text())
    document["schedule"] = {"slots": [{"days": "daily", "times": ["09:00"]}]}
    config_path.write_text(json.dumps(document))
    config = load_config(config_path)
    running = open_daemon(config, clock)
    try:
        running.on_paths({draft(config, "q1.yaml"), draft(config, "q2.yaml")})
        settle(running)
        jobs = jobs_by_draft(config)
        assert [jobs[n].scheduled_for for n in ("q1.yaml", "q2.yaml")] == [
            START.replace(hour=9),
            START.replace(hour=9) + timedelta(days=1),
        ]

        document["schedule"]["slots"][0]["times"] = ["09:00", "12:00"]
        document["timezone"] = "Europe/Paris"  # 09:00 Paris is 08:00 UTC: passed today
        config_path.write_text(json.dumps(document))
        settle(running)  # the heartbeat notices the file changed
        jobs = jobs_by_draft(config)
        assert [jobs[n].scheduled_for for n in ("q1.yaml", "q2.yaml")] == [
            START.replace(hour=11),  # 12:00 Paris
            START.replace(hour=8) + timedelta(days=1),  # 09:00 Paris tomorrow
        ]

        config_path.write_text(json.dumps({**document, "timezone": "Mars/Olympus"}))
        settle(running)
        assert running.config.timezone == "Europe/Paris"
        assert jobs_by_draft(config)["q1.yaml"].scheduled_for == START.replace(hour=11)
    finally:
        running.shutdown()


# --- the watcher: editor saves ----------------------------------------------------------


def _in_place(path: Path, text: str) -> None:
    with path.open("r+") as handle:
        handle.truncate(0)
        handle.write(text[: len(text) // 2])
        handle.flush()
        time.sleep(0.02)  # a half-written file is visible for a moment
        handle.write(text[len(text) // 2 :])


def _temp_then_rename(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.swp")
    temp.write_text(text)
    temp.replace(path)


def _vim_backupcopy_no(path: Path, text: str) -> None:
    backup = path.with_name(path.name + "~")
    path.rename(backup)  # the draft is briefly missing
    path.write_text(text)
    backup.unlink()


def _vim_backupcopy_yes(path: Path, text: str) -> None:
    backup = path.with_name(path.name + "~")
    backup.write_bytes(path.read_bytes())
    path.write_text(text)
    backup.unlink()


@pytest.mark.parametrize(
    "save", [_in_place, _temp_then_rename, _vim_backupcopy_no, _vim_backupcopy_yes]
)
def test_an_editor_save_is_one_reschedule(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer, save: Any
) -> None:
    config = site(tmp_path, posts)
    running = open_daemon(config, clock, quiet=0.05)
    try:
        first, second = START + timedelta(hours=3), START + timedelta(hours=4)
        path = draft(config, "edited.yaml", publish_at=at(first))
        running.on_paths({path})
        settle(running)
        text = DRAFTS["post"] + f"publish_at: {at(second)}\n"
        save(path, text)

        def rescheduled() -> bool:
            running.step()
            return jobs_by_draft(config)["edited.yaml"].scheduled_for == second

        wait_for(rescheduled, timeout=5)
        time.sleep(0.3)  # every later event of the save has settled by now
        settle(running)
        job = jobs_by_draft(config)["edited.yaml"]
        notes = [event.note for event in job.history]
        assert notes.count("draft edited") == 1, notes
        assert job.state is State.SCHEDULED
        assert "cancelled" not in [event.state for event in job.history]
        assert status(path)["state"] == "scheduled"
    finally:
        running.shutdown()


def test_plan_shows_what_goes_out_when(daemon: Daemon, config: Config, clock: ManualClock) -> None:
    daemon.on_paths({draft(config, "p.yaml", publish_at=at(START + timedelta(hours=2)))})
    settle(daemon)
    draft(config, "new.yaml", publish_at=at(START + timedelta(hours=3)))  # not seen yet
    text = plan.text(config, clock=clock)
    assert "p.yaml" in text and "new.yaml" in text
    assert "2026-12-01 10:00 UTC (+00:00)" in text
    assert "new" in text.split("new.yaml")[0].splitlines()[-1]


# --- systemd ---------------------------------------------------------------------------


def test_ready_then_watchdog_only_while_healthy(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer
) -> None:
    config = site(tmp_path, posts)
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(2)
        notifier = Notifier({"NOTIFY_SOCKET": address})
        running = open_daemon(config, clock, notifier=notifier)
        try:
            messages = [listener.recv(4096).decode() for _ in range(2)]
            assert messages[0].startswith("STATUS=reconciling")
            assert messages[1].startswith("READY=1")
            wait_for(lambda: running.alarms.alive(1.0))
            running.step()
            assert listener.recv(4096) == b"WATCHDOG=1"

            running.watcher.stop()  # a dead observer: no more keep-alives
            running.step()
            listener.settimeout(0.3)
            with pytest.raises(TimeoutError):
                listener.recv(4096)
        finally:
            running.shutdown()
        assert listener.recv(4096) == b"STOPPING=1"
