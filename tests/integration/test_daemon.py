"""The daemon in-process: a hand-moved clock, the in-process sandbox over loopback HTTP, real
files in tmp_path. Each test drives `step()` until the daemon has nothing left to do. (Time,
accounts, config reloads and store failures have files of their own.)"""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.commands import plan
from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.daemon.sdnotify import Notifier
from publisher.job import State
from publisher.planning import reconciler
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import (
    at,
    draft,
    jobs_by_draft,
    open_daemon,
    settle,
    site_config,
    status,
    watched,
    write,
)
from tests.support.site import DRAFTS
from tests.support.wait import wait_for


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


def test_a_photo_replaced_after_prepare_gets_a_new_container(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
) -> None:
    """Meta's copy of the photo is the one it fetched when the container was made ahead: a
    photo replaced since (the draft unchanged) must not go out as the old one."""
    slot = START + timedelta(minutes=30)
    path = draft(config, "photo.yaml", publish_at=at(slot))
    daemon.on_paths({path})
    clock.advance(timedelta(minutes=25))
    settle(daemon)
    assert len(jobs_by_draft(config)["photo.yaml"].containers) == 1
    media = config.content_dir / "sunrise.jpg"
    replacement = media.with_name(".sunrise.jpg.new")
    replacement.write_bytes(media.read_bytes() + b"\0")  # another photo, saved the usual way
    replacement.replace(media)
    daemon.on_paths({media})
    settle(daemon)
    clock.advance(slot - clock())
    settle(daemon)

    job = jobs_by_draft(config)["photo.yaml"]
    assert job.state is State.PUBLISHED
    assert len(job.containers) == 2  # the photo as it is now, not Meta's old copy
    assert len(posts.posts()) == 1


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


# --- concurrency --------------------------------------------------------------------------


def test_never_two_publishes_at_once_for_one_account(
    tmp_path: Path, clock: ManualClock, posts: SandboxServer
) -> None:
    config = site_config(
        tmp_path,
        posts.base_url,
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

        def all_out() -> bool:  # noting, at each step, who publishes at the same time
            nonlocal seen_both
            running.step()
            accounts = [t.account for t in running.workers.tasks() if t.kind == "publish"]
            for account in set(accounts):
                peak[account] = max(peak.get(account, 0), accounts.count(account))
            seen_both = seen_both or len(set(accounts)) == 2
            return running.settled() and len(posts.posts()) == 5

        wait_for(all_out, timeout=10, every=0.01, what="five posts")
        assert len(posts.posts()) == 5
        assert peak == {"main": 1, "other": 1}
        assert seen_both  # the two accounts did publish at the same time
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
    config = site_config(tmp_path, posts.base_url)
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
        watched(running, config, "sentinel.yaml")  # every later event of the save is handled
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
    config = site_config(tmp_path, posts.base_url)
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
