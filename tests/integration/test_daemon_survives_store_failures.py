"""A job store write that fails in a worker (a full disk, an I/O error) wedges nothing and
strands nothing: once the store can be written again, every draft goes out exactly once.
In-process daemon, hand-moved clock, loopback sandbox."""

from __future__ import annotations

import shutil
from datetime import timedelta

from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from publisher.store import health
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, settle
from tests.support.wait import wait_for


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
    clock.advance(health.MAX_BACKOFF)  # the store tries again after its backoff
    settle(daemon)

    assert daemon.store.get(job.id).state is State.PUBLISHED  # type: ignore[union-attr]
    assert len(posts.posts()) == 1


def test_a_store_write_failing_after_media_publish_is_reconciled_without_a_restart(
    daemon: Daemon, config: Config, clock: ManualClock, posts: SandboxServer
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
    clock.advance(health.MAX_BACKOFF)
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
