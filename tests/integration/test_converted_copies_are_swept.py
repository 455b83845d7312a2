"""The converted copies in state_dir/cache are deleted at start once no link can point to
them: older (by the time a link to them was last made) than media.link_ttl + a day."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from publisher.config import Config
from publisher.hosting import mediahost
from publisher.hosting.cache import CACHE_MARGIN
from publisher.publishing.runtime import Runtime
from tests.support.clock import SleepClock

ENTRY = "{}.feed.none.r1.jpg"


def _copy(folder: Path, name: str, age: timedelta, now: float) -> Path:
    path = folder / name
    path.write_bytes(b"\xff\xd8\xff")
    stamp = now - age.total_seconds()
    os.utime(path, (stamp, stamp))
    return path


def test_runtime_open_sweeps_only_copies_no_link_can_need(
    site: Config, fake_time: SleepClock
) -> None:
    cache = mediahost.cache_dir(site)
    cache.mkdir(parents=True)
    now = fake_time().timestamp()
    limit = site.media.link_ttl + CACHE_MARGIN
    old = _copy(cache, ENTRY.format("a" * 64), limit + timedelta(minutes=1), now)
    recent = _copy(cache, ENTRY.format("b" * 64), limit - timedelta(minutes=1), now)
    foreign = _copy(cache, "notes.txt", limit * 10, now)  # not a name convert makes

    runtime = Runtime.open(site, clock=fake_time, sleep=fake_time.sleep, retry_wait=0.0)
    runtime.close()

    assert not old.exists()
    assert recent.exists()
    assert foreign.exists()


def test_a_missing_cache_folder_is_fine(site: Config, fake_time: SleepClock) -> None:
    runtime = Runtime.open(site, clock=fake_time, sleep=fake_time.sleep, retry_wait=0.0)
    runtime.close()
    assert not mediahost.cache_dir(site).exists()
