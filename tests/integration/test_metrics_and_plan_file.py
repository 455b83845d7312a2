"""The daemon's outputs for other tools: Prometheus metrics on `metrics.listen` and the
calendar feed it keeps at `plan_file`, during a real run against the loopback sandbox."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.errors import ConfigError
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, draft, jobs_by_draft, open_daemon, settle, site_config
from tests.support.ports import free_port
from tests.support.site import load_config
from tests.support.wait import wait_for


def _with(config: Config, **keys: object) -> Config:
    """The same site with more keys in its config.yaml."""
    document = json.loads(config.config_path.read_text())
    document.update(keys)
    config.config_path.write_text(json.dumps(document))
    return load_config(config.config_path)


@pytest.fixture
def watched_site(tmp_path: Path, posts: SandboxServer) -> Config:
    base = site_config(tmp_path, posts.base_url)
    return _with(
        base,
        metrics={"listen": f"127.0.0.1:{free_port()}"},
        plan_file=str(tmp_path / "calendar" / "plan.ics"),
    )


@pytest.fixture
def running(watched_site: Config, clock: ManualClock) -> Iterator[Daemon]:
    (watched_site.plan_file.parent).mkdir()  # type: ignore[union-attr]
    daemon = open_daemon(watched_site, clock)
    yield daemon
    daemon.shutdown()


def _scrape(config: Config) -> str:
    assert config.metrics.listen is not None
    return httpx.get(f"http://{config.metrics.listen}/metrics", timeout=5).text


def _value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name{labels}` of a Prometheus text page (labels in any order)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, number = line.rpartition(" ")
        if head.split("{", 1)[0] != name:
            continue
        found = dict(
            pair.split("=", 1) for pair in head.partition("{")[2].rstrip("}").split(",") if pair
        )
        if {key: value.strip('"') for key, value in found.items()} == labels:
            return float(number)
    return None


def test_metrics_count_the_post_the_calls_and_the_states(
    running: Daemon, watched_site: Config, posts: SandboxServer
) -> None:
    before = _scrape(watched_site)
    assert (
        _value(before, "publisher_posts_total", account="main", type="post", outcome="published")
        is None
    )

    path = draft(watched_site, "now.yaml", publish_at="now")
    running.on_paths({path})
    settle(running)
    job = jobs_by_draft(watched_site)["now.yaml"]
    assert job.state is State.PUBLISHED, job.error

    page = _scrape(watched_site)
    assert (
        _value(page, "publisher_posts_total", account="main", type="post", outcome="published") == 1
    )
    assert _value(page, "publisher_publish_lateness_seconds_count") == 1
    assert (_value(page, "publisher_api_calls_total", step="publish", status="200") or 0) >= 1
    assert _value(page, "publisher_drafts", state="published") == 1
    assert _value(page, "publisher_drafts", state="scheduled") == 0
    assert job.published_at is not None
    assert _value(page, "publisher_last_publish_timestamp_seconds") == pytest.approx(
        job.published_at.timestamp()
    )
    # the quota as Meta gave it before the publish, kept honest by the post counted since
    assert _value(page, "publisher_quota_total", account="main") is not None
    assert "IGQ" not in page and "access_token" not in page


def test_a_failed_post_is_counted_as_failed(
    running: Daemon, watched_site: Config, posts: SandboxServer
) -> None:
    posts.faults.error_containers = 10
    path = draft(watched_site, "bad.yaml", publish_at="now")
    running.on_paths({path})
    settle(running)
    assert jobs_by_draft(watched_site)["bad.yaml"].state is State.FAILED
    page = _scrape(watched_site)
    assert _value(page, "publisher_posts_total", account="main", type="post", outcome="failed") == 1


def test_the_plan_file_follows_the_drafts(running: Daemon, watched_site: Config) -> None:
    target = watched_site.plan_file
    assert target is not None
    later = at(START + timedelta(hours=5))
    path = draft(watched_site, "later.yaml", publish_at=later)
    running.on_paths({path})

    def events() -> list[str]:
        if not target.exists():
            return []
        calendar = Calendar.from_ical(target.read_bytes())
        return [str(event.get("description")) for event in calendar.walk("VEVENT")]

    wait_for(lambda: any("later.yaml" in text for text in events()), timeout=20)
    [event] = [e for e in Calendar.from_ical(target.read_bytes()).walk("VEVENT")]
    assert event.decoded("dtstart") == START + timedelta(hours=5)

    path.unlink()
    running.on_paths({path})
    wait_for(lambda: (running.step(), not any("later.yaml" in t for t in events()))[1], timeout=20)


def test_a_metrics_port_in_use_is_a_config_error_naming_the_key(
    watched_site: Config, clock: ManualClock
) -> None:
    assert watched_site.metrics.listen_address is not None
    host, port = watched_site.metrics.listen_address
    with socket.socket() as taken:
        taken.bind((host, port))
        taken.listen()
        with pytest.raises(ConfigError) as raised:
            open_daemon(watched_site, clock)
    assert "metrics.listen" in str(raised.value)
    assert str(port) in str(raised.value)
