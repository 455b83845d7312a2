"""Notifications end to end: drafts published and failed through the sandbox over loopback,
the notifier sending through Apprise to a real loopback receiver (json://). No mock of Apprise,
no token in what arrives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import SleepClock
from tests.support.receiver import Receiver
from tests.support.site import load_config, make_site, write_draft

TOKEN = "IGQVJ-notify-canary-token-0123456789"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def site_with_notify(root: Path, sandbox: SandboxServer, notify: dict[str, object]) -> Config:
    path = make_site(root, account={"base_url": sandbox.base_url, "access_token": TOKEN})
    document = json.loads(path.read_text())
    document["notify"] = notify
    path.write_text(json.dumps(document))
    return load_config(path)


def test_a_failed_draft_and_a_published_one_each_make_one_notification(
    tmp_path: Path, sandbox: SandboxServer, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    config = site_with_notify(tmp_path, sandbox, {"urls": [url], "on": ["failed", "published"]})
    fake = SleepClock()

    published = publish_draft(
        config,
        write_draft(config, "post", "ok.yaml"),
        progress=print,
        clock=fake,
        sleep=fake.sleep,
    )
    sandbox.faults.error_containers = 10
    failed = publish_draft(
        config,
        write_draft(config, "story", "broken.yaml"),
        progress=print,
        clock=fake,
        sleep=fake.sleep,
    )
    assert published.state is State.PUBLISHED and failed.state is State.FAILED

    requests = receiver.wait_for(2)
    bodies = [request.json() for request in requests]
    texts = [body["title"] + "\n" + body["message"] for body in bodies]
    published_text = next(text for text in texts if "ok.yaml" in text)
    failed_text = next(text for text in texts if "broken.yaml" in text)
    assert "published" in published_text and published.permalink in published_text
    assert "failed" in failed_text and "2207026" in failed_text
    for request in requests:
        raw = request.body.decode() + json.dumps(request.headers)
        assert TOKEN not in raw
    assert len(receiver.requests) == 2  # one per state change, nothing for the steps between


def test_events_not_asked_for_send_nothing(
    tmp_path: Path, sandbox: SandboxServer, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    config = site_with_notify(tmp_path, sandbox, {"urls": [url]})  # default: no "published"
    fake = SleepClock()
    job = publish_draft(
        config, write_draft(config, "post"), progress=print, clock=fake, sleep=fake.sleep
    )
    assert job.state is State.PUBLISHED
    assert receiver.requests == []
