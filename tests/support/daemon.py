"""Shared by the daemon tests: an in-process daemon on a site in tmp_path, drafts for it, and
a way to let it run until nothing is left to do. Its clock is a `tests.support.clock` one."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.commands import calendar
from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.drafts import statusblock
from publisher.job import Job
from publisher.publishing.runtime import Runtime
from publisher.store import jobstore
from tests.support.clock import START, JumpingClock, ManualClock
from tests.support.site import DRAFTS, load_config, make_site
from tests.support.wait import wait_for


def open_daemon(config: Config, clock: ManualClock | JumpingClock, **kwargs: object) -> Daemon:
    runtime = Runtime.open(config, clock=clock, sleep=clock.sleep, retry_wait=0.0)
    # wired as `commands.run` wires it
    options: dict[str, object] = {"quiet": 0.05, "heartbeat": 0.2, "plan_feed": calendar.plan_feed}
    options.update(kwargs)
    daemon = Daemon(config, runtime, clock=clock, **options)  # type: ignore[arg-type]
    daemon.start()
    return daemon


def settle(daemon: Daemon, *, timeout: float = 10.0) -> None:
    """Run steps until no task runs and no message waits (two quiet rounds in a row)."""
    deadline = time.monotonic() + timeout
    quiet_rounds = 0
    while quiet_rounds < 2:
        daemon.step()
        daemon.workers.wait(max(0.0, deadline - time.monotonic()))
        quiet_rounds = quiet_rounds + 1 if daemon.settled() else 0
        if time.monotonic() > deadline:
            raise AssertionError("the daemon did not settle in time")


def jobs_by_draft(config: Config) -> dict[str, Job]:
    return {job.draft: job for job in jobstore.read_jobs(config.state_dir)}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def at(moment: datetime) -> str:
    """A publish_at value for a draft: aware ISO 8601."""
    return moment.isoformat()


def status(path: Path) -> dict[str, object]:
    """The draft's status block, which must be there."""
    block = statusblock.read(path.read_bytes())
    assert block is not None, path.read_text()
    return block


def site_config(root: Path, base_url: str | None, **kwargs: Any) -> Config:
    """A site in `root` (see `make_site`) whose account is the sandbox at `base_url`; media
    are not fetched, so no media server runs (media.host: base_url)."""
    account = {"base_url": base_url, **kwargs.pop("account", {})}
    media = {"host": "base_url", "public_url": "http://127.0.0.1:9"}
    return load_config(make_site(root, account=account, media=media, **kwargs))


def draft(config: Config, name: str, kind: str = "post", **extra: str) -> Path:
    """Write content_dir/name: the example draft of `kind`, plus `key: value` lines."""
    text = DRAFTS[kind] + "".join(f"{key}: {value}\n" for key, value in extra.items())
    return write(config.content_dir / name, text)


def watched(daemon: Daemon, config: Config, name: str) -> None:
    """Write a draft the usual way and wait for its job: the watcher has handled every
    earlier file event by then (it settles events in the order they came)."""
    draft(config, name, publish_at=at(START + timedelta(hours=3)))
    wait_for(lambda: (daemon.step(), name in jobs_by_draft(config))[1])
