"""`publisher run` in a subprocess against a sandbox in another process (its posts survive
the daemon's deaths), with real files, real signals and the real clock. Every wait polls a
condition with a deadline."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.daemon import inbox
from publisher.drafts import statusblock
from publisher.job import Job, State
from publisher.store import jobstore
from tests.support.clock import JumpingClock
from tests.support.daemon import open_daemon, settle
from tests.support.ports import free_port
from tests.support.processes import DaemonProcess, SandboxProcess, clean_env
from tests.support.site import DRAFTS, load_config, make_site
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

ACCOUNT_IDS = ("17841400000000011", "17841400000000012", "17841400000000013")


class Site:
    """A config.yaml + content/ in tmp_path, and daemons run on it."""

    def __init__(self, root: Path, sandbox: SandboxProcess, **settings: Any) -> None:
        self.root = root
        self.content = root / "content"
        self.state = root / "state"
        port = free_port()
        self.config = make_site(
            root,
            account={"ig_user_id": ACCOUNT_IDS[0], "base_url": sandbox.url},
            publishing={"poll_interval": "1s", "backoff": "1s"},
            media={
                "host": "serve",
                "listen": f"127.0.0.1:{port}",
                "public_url": f"http://127.0.0.1:{port}",
            },
        )
        self.document: dict[str, Any] = json.loads(self.config.read_text())
        for key, value in settings.items():
            self.document[key] = value
        self.write_config()
        self.runs = 0

    def write_config(self, document: dict[str, Any] | None = None) -> None:
        text = json.dumps(document or self.document, indent=1)
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.config)

    def start(self, **env: str) -> DaemonProcess:
        """`publisher run` on this site, its log in daemon-N.log."""
        self.runs += 1
        return DaemonProcess(
            [sys.executable, "-m", "publisher", "-c", str(self.config), "run"],
            cwd=self.root,
            log=self.root / f"daemon-{self.runs}.log",
            env=clean_env(**env),
        )

    def jobs(self) -> dict[str, Job]:
        return {job.draft: job for job in jobstore.read_jobs(self.state)}

    def draft(self, name: str, text: str) -> Path:
        path = self.content / name
        tmp = path.parent / f".{path.name}.tmp"
        tmp.write_text(text)
        tmp.replace(path)
        return path


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    running = SandboxProcess(tmp_path / "sandbox.json", tmp_path / "sandbox.log")
    yield running
    running.stop()


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.kill()
        # Shown by pytest only when the test failed.
        print(f"--- {daemon.log.name} ---\n{daemon.text()}")


def utc_in(seconds: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


def post_text(caption: str, *, publish_at: str = "now", extra: str = "") -> str:
    return (
        f"type: post\ncaption: {json.dumps(caption)}\nmedia: [sunrise.jpg]\n"
        f"publish_at: {publish_at}\n{extra}"
    )


def media_publish_at(job: Job) -> datetime:
    [call] = [c for c in job.api_calls if c.endpoint.endswith("/media_publish")]
    return call.at


# --- punctuality --------------------------------------------------------------------------


def test_drafts_due_in_a_few_seconds_go_out_within_a_second(
    tmp_path: Path, sandbox: SandboxProcess, daemons: list[DaemonProcess]
) -> None:
    sandbox.faults(processing_polls=0)  # images FINISHED at the first check, videos the third
    site = Site(tmp_path / "site", sandbox)
    daemons.append(site.start().wait_ready())
    due = {"a-post.yaml": utc_in(4), "b-story.yaml": utc_in(5), "c-reel.yaml": utc_in(8)}
    site.draft("a-post.yaml", post_text("punctual post", publish_at=due["a-post.yaml"].isoformat()))
    site.draft("b-story.yaml", DRAFTS["story"] + f"publish_at: {due['b-story.yaml'].isoformat()}\n")
    site.draft("c-reel.yaml", DRAFTS["reel"] + f"publish_at: {due['c-reel.yaml'].isoformat()}\n")

    def all_published() -> bool:
        jobs = site.jobs()
        return len(jobs) == 3 and all(job.state is State.PUBLISHED for job in jobs.values())

    wait_for(all_published, timeout=25, what="three posts")
    for name, when in due.items():
        job = site.jobs()[name]
        assert job.scheduled_for == when
        lateness = (media_publish_at(job) - when).total_seconds()
        assert 0 <= lateness <= 1.0, (name, lateness)
    assert len(sandbox.posts()) == 3


def test_publisher_run_keeps_the_plan_file(
    tmp_path: Path, sandbox: SandboxProcess, daemons: list[DaemonProcess]
) -> None:
    """`plan_file:` through the real `publisher run` (the feed is handed to the daemon by
    the command that starts it): a new draft shows up in the feed."""
    target = tmp_path / "site" / "public" / "plan.ics"
    target.parent.mkdir(parents=True)
    site = Site(tmp_path / "site", sandbox, plan_file=str(target))
    daemons.append(site.start().wait_ready())
    site.draft("later.yaml", post_text("in the calendar", publish_at=utc_in(3600).isoformat()))
    wait_for(
        lambda: target.exists() and b"draft: later.yaml" in target.read_bytes(),
        timeout=20,
        what="the draft in plan_file",
    )
    assert target.read_bytes().startswith(b"BEGIN:VCALENDAR")


# --- drafts and config while running ------------------------------------------------------


def test_drop_edit_rename_delete_and_config_edits_while_running(
    tmp_path: Path, sandbox: SandboxProcess, daemons: list[DaemonProcess]
) -> None:
    site = Site(
        tmp_path / "site",
        sandbox,
        schedule={"slots": [{"days": "daily", "times": ["03:00"]}]},
    )
    daemon = site.start().wait_ready()
    daemons.append(daemon)
    later = utc_in(3600)

    path = site.draft("drop.yaml", post_text("dropped", publish_at=later.isoformat()))
    job = wait_for(lambda: site.jobs().get("drop.yaml"), timeout=5, what="the dropped draft")
    assert (job.state, job.scheduled_for) == (State.SCHEDULED, later)
    wait_for(lambda: (statusblock.read(path.read_bytes()) or {}).get("state") == "scheduled")

    sooner = utc_in(1800)
    site.draft("drop.yaml", post_text("dropped", publish_at=sooner.isoformat()))
    wait_for(lambda: site.jobs()["drop.yaml"].scheduled_for == sooner, what="the edit")

    path.rename(site.content / "renamed.yaml")
    wait_for(lambda: list(site.jobs()) == ["renamed.yaml"], what="the rename")
    assert site.jobs()["renamed.yaml"].id == job.id

    (site.content / "renamed.yaml").unlink()
    wait_for(lambda: site.jobs()["renamed.yaml"].state is State.CANCELLED, what="the delete")

    # A queue draft takes the daily 03:00 slot; moving the slot to 02:00 moves it there.
    site.draft("queue.yaml", post_text("queued", publish_at="null"))
    first = wait_for(lambda: site.jobs().get("queue.yaml"), what="the queue draft")
    assert first.scheduled_for is not None and first.scheduled_for.hour == 3
    site.document["schedule"]["slots"][0]["times"] = ["02:00"]
    site.write_config()
    wait_for(
        lambda: (site.jobs()["queue.yaml"].scheduled_for or later).hour == 2,
        what="the re-plan after a config edit",
    )
    site.write_config({**site.document, "timezone": "Nowhere/Special"})
    wait_for(lambda: "config not reloaded" in daemon.text(), what="the invalid config")
    assert daemon.process.poll() is None
    site.write_config()
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded (SIGHUP)" in daemon.text(), what="SIGHUP")
    assert daemon.stop() == 0


def test_retry_and_cancel_through_the_running_daemon(
    tmp_path: Path, sandbox: SandboxProcess, daemons: list[DaemonProcess]
) -> None:
    site = Site(tmp_path / "site", sandbox)
    daemons.append(site.start().wait_ready())
    path = site.draft("c.yaml", post_text("cancel me", publish_at=utc_in(3600).isoformat()))
    wait_for(lambda: site.jobs().get("c.yaml"), what="the draft")
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "-c", str(site.config), "cancel", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "cancelled" in result.stdout
    assert site.jobs()["c.yaml"].state is State.CANCELLED
    assert list((site.state / inbox.FOLDER).iterdir()) == []


# --- crashes, signals, instances ------------------------------------------------------------


def test_kill_9_at_random_moments_never_posts_twice(
    tmp_path: Path, sandbox: SandboxProcess, daemons: list[DaemonProcess]
) -> None:
    sandbox.faults(processing_polls=0, publish_delay_s=0.3)
    accounts = {
        f"a{index}": {"api": "sandbox", "ig_user_id": ig_id, "base_url": sandbox.url}
        for index, ig_id in enumerate(ACCOUNT_IDS)
    }
    site = Site(
        tmp_path / "site",
        sandbox,
        accounts=accounts,
        publishing={"poll_interval": "0s", "backoff": "1s", "concurrency": 3},
    )
    captions = [f"crash test {index}" for index in range(20)]
    for index, caption in enumerate(captions):
        account = f"a{index % len(accounts)}"
        site.draft(f"d{index:02}.yaml", post_text(caption, extra=f"account: {account}\n"))
    chance = random.Random(os.environ.get("PYTEST_SEED", "4"))
    for _kill in range(5):
        sent = sum(sandbox.publish_calls().values())
        daemon = site.start()
        daemons.append(daemon)
        # Kill while a media_publish is in flight (the sandbox holds its answer 0.3 s), so
        # the next start has to reconcile; never later than a few seconds in any case.
        deadline = time.monotonic() + 8
        while sum(sandbox.publish_calls().values()) == sent and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(chance.uniform(0.0, 0.25))
        daemon.kill()
    # The last run is in-process with a clock that jumps over the reconciliation's settle
    # wait (2 x the read timeout after an interrupted media_publish) instead of waiting.
    config = load_config(site.config)
    recovery = open_daemon(config, JumpingClock())
    try:

        def done() -> bool:
            settle(recovery)
            jobs = site.jobs()
            return len(jobs) == len(captions) and all(
                j.state is State.PUBLISHED for j in jobs.values()
            )

        wait_for(done, timeout=30, what="every draft published")
    finally:
        recovery.shutdown()
    counts = {caption: 0 for caption in captions}
    for post in sandbox.posts():
        counts[post["caption"]] += 1
    assert set(counts.values()) == {1}, counts
    assert set(sandbox.publish_calls().values()) == {1}
    assert "reconcile" in "".join(d.text() for d in daemons)  # some kill hit a publish


def test_sigterm_mid_publish_exits_cleanly_and_the_post_is_recorded(
    tmp_path: Path, sandbox: SandboxProcess, daemons: list[DaemonProcess]
) -> None:
    sandbox.faults(processing_polls=0, publish_delay_s=2.0)
    site = Site(tmp_path / "site", sandbox, publishing={"poll_interval": "0s"})
    daemon = site.start().wait_ready()
    daemons.append(daemon)
    site.draft("slow.yaml", post_text("slow publish"))
    wait_for(sandbox.publish_calls, what="media_publish to be sent")
    daemon.signal(signal.SIGTERM)
    assert daemon.process.wait(30) == 0
    assert "stopped" in daemon.text()

    after = site.start().wait_ready()
    daemons.append(after)
    wait_for(lambda: site.jobs()["slow.yaml"].state is State.PUBLISHED, what="published")
    assert len(sandbox.posts()) == 1
    assert after.stop() == 0


def test_a_second_daemon_on_the_same_state_dir_exits_2(
    tmp_path: Path, sandbox: SandboxProcess, daemons: list[DaemonProcess]
) -> None:
    site = Site(tmp_path / "site", sandbox)
    first = site.start().wait_ready()
    daemons.append(first)
    second = site.start()
    daemons.append(second)
    assert second.process.wait(20) == 2
    assert "state" in second.text() and "stop it first" in second.text()
    assert first.process.poll() is None
    assert first.stop() == 0


def test_a_missing_content_dir_is_a_config_error(
    tmp_path: Path, sandbox: SandboxProcess, daemons: list[DaemonProcess]
) -> None:
    """It exited 1 with a hint about inotify limits (under systemd: a restart loop)."""
    site = Site(tmp_path / "site", sandbox, content_dir="missing")
    daemon = site.start()
    daemons.append(daemon)
    assert daemon.process.wait(20) == 2
    assert "at 'content_dir': the folder" in daemon.text()
    assert "missing does not exist" in daemon.text() and "inotify" not in daemon.text()
