"""Files in content_dir a draft cannot be: a name that is not valid UTF-8 is one invalid draft,
said once with its name escaped, and never reaches the job store (other drafts keep
publishing); a 50 MB `x.yaml` is refused without being read into memory. In-process daemon
with its real watcher, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import io
import logging
import os
import tracemalloc
from datetime import timedelta

import pytest

from publisher import cli
from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from publisher.store.jobstore import read_jobs
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, jobs_by_draft, settle
from tests.support.site import DRAFTS
from tests.support.wait import wait_for

BIG = 50 * 1024 * 1024


def test_a_name_that_is_not_utf8_stops_nothing(
    daemon: Daemon,
    config: Config,
    clock: ManualClock,
    posts: SandboxServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One such name made every write of the job store fail (UnicodeEncodeError): no later
    change was recorded, a due draft never went out, and `publisher run` exited 1 with
    "internal error" without naming the file."""
    caplog.set_level(logging.INFO, logger="publisher")
    slot = START + timedelta(hours=1)
    bad = os.fsdecode(bytes(config.content_dir) + b"/\xff.yaml")
    with open(bad, "w", encoding="utf-8") as file:
        file.write(DRAFTS["post"] + f"publish_at: {at(slot)}\n")
    good = draft(config, "good.yaml", publish_at=at(slot))
    wait_for(lambda: (daemon.step(), "good.yaml" in jobs_by_draft(config))[1])
    bad_path = good.with_name(os.path.basename(bad))
    daemon.on_paths({good, bad_path})  # again, as a rescan would
    settle(daemon)

    assert daemon.store.failing is None
    assert [job.draft for job in read_jobs(config.state_dir)] == ["good.yaml"]
    told = [r.getMessage() for r in caplog.records if "not valid UTF-8" in r.getMessage()]
    assert len(told) == 1, told  # once, though it was delivered twice
    assert told[0].startswith(f"{config.content_dir}/\\xff.yaml")
    assert bad_path.read_bytes().endswith(f"publish_at: {at(slot)}\n".encode())  # untouched

    clock.advance(slot - clock())
    settle(daemon)
    assert jobs_by_draft(config)["good.yaml"].state is State.PUBLISHED
    assert len(posts.posts()) == 1


def test_the_commands_show_a_name_that_is_not_utf8_escaped(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = os.fsdecode(bytes(config.content_dir) + b"/\xff.yaml")
    with open(bad, "w", encoding="utf-8") as file:
        file.write(DRAFTS["post"])
    assert cli.main(["-c", str(config.config_path), "validate"], out=(out := io.StringIO())) == 1
    assert "\\xff.yaml: -: the file name is not valid UTF-8" in out.getvalue()
    assert cli.main(["-c", str(config.config_path), "plan"], out=io.StringIO()) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_50_mb_draft_is_refused_without_being_read(
    daemon: Daemon, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon's RSS went from 50 to 250 MB: the write-back of the invalid draft's status
    read the whole file and built new copies of it."""
    big = config.content_dir / "x.yaml"
    with big.open("wb") as file:
        file.truncate(BIG)  # sparse: no disk used
    tracemalloc.start()
    try:
        daemon.on_paths({big})
        settle(daemon)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak
    job = jobs_by_draft(config)["x.yaml"]
    assert job.state is State.INVALID and "at most 262144 bytes" in str(job.error)
    assert big.stat().st_size == BIG  # no status block appended to it
