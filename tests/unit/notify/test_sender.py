"""Notifier end to end: Apprise's json:// sender against a real loopback HTTP receiver."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher import logs
from publisher.job import Job, State
from publisher.notify.change import Change, Event
from publisher.notify.sender import Notifier
from publisher.notify.settings import Notify
from tests.support.ports import free_port
from tests.support.receiver import Receiver
from tests.support.wait import wait_for

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TOKEN = "IGAAT-notify-sender-canary-0123456789abcdef"
PERMALINK = "https://www.instagram.com/p/C0abc123/"


def _url(port: int, path: str = "hooks/publisher") -> str:
    return f"json://127.0.0.1:{port}/{path}"


def _notifier(urls: list[str], on: list[str] | None = None, **options: Any) -> Notifier:
    settings = Notify(urls=urls) if on is None else Notify(urls=urls, on=on)
    options.setdefault("window", 0.0)
    options.setdefault("waits", (0.0, 0.0, 0.0))
    return Notifier(settings, **options)


def _job(state: State, **fields: Any) -> Job:
    return Job(draft="posts/beach.yaml", account="main", state=state, updated_at=AT, **fields)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_failed_draft_and_a_published_one_each_make_one_post() -> None:
    logs.register_secret(TOKEN)
    error = f"Instagram refused the image (code 36001); GET /media?access_token={TOKEN}"
    with Receiver() as receiver:
        notifier = _notifier([_url(receiver.port)], on=["failed", "published"])
        try:
            notifier.job_changed(_job(State.PUBLISHING), _job(State.FAILED, error=error))
            receiver.wait_for(1)
            published = _job(State.PUBLISHED, permalink=PERMALINK)
            notifier.job_changed(_job(State.PUBLISHING), published)
            receiver.wait_for(2)
        finally:
            notifier.close()
        failed_post, published_post = receiver.requests
    for post in (failed_post, published_post):
        assert (post.method, post.path) == ("POST", "/hooks/publisher")
        assert TOKEN.encode() not in post.body
    failed = failed_post.json()
    assert failed["type"] == "failure"
    assert failed["title"] == "failed: posts/beach.yaml (main)"
    assert "Draft posts/beach.yaml of account main is now failed." in failed["message"]
    assert (
        "Error: Instagram refused the image (code 36001); GET /media?access_token=***"
        in (failed["message"])
    )
    published_json = published_post.json()
    assert published_json["type"] == "success"
    assert published_json["title"] == "published: posts/beach.yaml (main)"
    assert f"Permalink: {PERMALINK}" in published_json["message"]


def test_only_the_events_in_on_are_sent() -> None:
    with Receiver() as receiver:
        notifier = _notifier([_url(receiver.port)])  # the default: no published
        try:
            notifier.job_changed(_job(State.PUBLISHING), _job(State.PUBLISHED))
            notifier.job_changed(_job(State.SCHEDULED), _job(State.SCHEDULED))  # no change
            notifier.job_changed(_job(State.SCHEDULED), _job(State.MISSED, error="too late"))
            receiver.wait_for(1)
        finally:
            notifier.close()
        [post] = receiver.requests
    assert post.json()["title"] == "missed: posts/beach.yaml (main)"


def test_two_hundred_blocked_drafts_make_one_post() -> None:
    arrived = threading.Event()

    def window(seconds: float) -> None:  # the window ends when the test says so
        if seconds:
            arrived.wait(10)

    with Receiver() as receiver:
        notifier = _notifier([_url(receiver.port)], window=2.0, sleep=window)
        try:
            for n in range(200):
                before = Job(draft=f"p/{n:03}.yaml", account="main", state=State.SCHEDULED)
                after = before.model_copy(
                    update={"state": State.BLOCKED, "error": "token refused", "updated_at": AT}
                )
                notifier.job_changed(before, after)
            arrived.set()
            receiver.wait_for(1)
        finally:
            notifier.close()
        [post] = receiver.requests
    payload = post.json()
    assert payload["title"] == "blocked: 200 drafts (main)"
    assert "- p/000.yaml" in payload["message"] and "and 180 more" in payload["message"]


def test_a_receiver_that_answers_500_twice_gets_the_message_on_the_third_try(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slept: list[float] = []
    with Receiver(statuses=[500, 500]) as receiver:
        notifier = _notifier([_url(receiver.port)], waits=(30.0, 120.0, 600.0), sleep=slept.append)
        try:
            notifier.notify(Change(Event.FAILED, "main", AT, draft="a.yaml", error="why"))
            receiver.wait_for(3)
        finally:
            notifier.close()
        posts = receiver.requests
    assert len(posts) == 3
    assert all(post.body == posts[0].body for post in posts)
    assert posts[0].json()["title"] == "failed: a.yaml (main)"
    assert slept == [0.0, 30.0, 120.0]  # the window, then the first two waits
    assert _warnings(caplog) == []


def test_a_receiver_that_is_down_is_given_up_with_one_line_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slept: list[float] = []
    down = _url(free_port(), "hook")
    with Receiver() as receiver:
        notifier = _notifier([down, _url(receiver.port)], waits=(1.0, 2.0, 3.0), sleep=slept.append)
        try:
            notifier.notify(Change(Event.BLOCKED, "main", AT, draft="a.yaml", error="why"))
            wait_for(lambda: bool(_warnings(caplog)), timeout=10.0)
        finally:
            notifier.close()
        [post] = receiver.requests  # the working target got it once, not once per retry
    assert post.json()["title"] == "blocked: a.yaml (main)"
    assert slept == [0.0, 1.0, 2.0, 3.0]
    [line] = _warnings(caplog)
    assert line.startswith(f"notify.urls[0] ({down}): 1 notification(s) not delivered after 4 ")
    reason = line.partition("tries, given up: ")[2]
    assert "127.0.0.1" in reason  # what Apprise said about the attempt, host and all


def test_a_password_in_the_url_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    url = f"json://alice:hunter2secret@127.0.0.1:{free_port()}/hook"
    notifier = _notifier([url], sleep=lambda _seconds: None)
    try:
        notifier.notify(Change(Event.FAILED, "main", AT, draft="a.yaml"))
        wait_for(lambda: bool(_warnings(caplog)), timeout=10.0)
    finally:
        notifier.close()
    assert "hunter2secret" not in caplog.text
    assert "notify.urls[0] (json://alice:****@127.0.0.1:" in caplog.text


def test_notify_returns_at_once_while_the_receiver_is_slow() -> None:
    with Receiver() as receiver:
        receiver.hold()
        notifier = _notifier([_url(receiver.port)])
        try:
            notifier.notify(Change(Event.FAILED, "main", AT, draft="first.yaml"))
            receiver.wait_for(1)  # the thread is now stuck waiting for an answer
            started = time.monotonic()
            for n in range(100):
                notifier.notify(Change(Event.FAILED, "main", AT, draft=f"{n}.yaml"))
            assert time.monotonic() - started < 0.5
        finally:
            receiver.release()
            notifier.close()
        first, rest = receiver.wait_for(2)
    assert first.json()["title"] == "failed: first.yaml (main)"
    assert rest.json()["title"] == "failed: 100 drafts (main)"


def test_close_cuts_a_backoff_wait_short(caplog: pytest.LogCaptureFixture) -> None:
    with Receiver(statuses=[500] * 5) as receiver:
        notifier = _notifier([_url(receiver.port)], waits=(600.0,))  # the real, interruptible wait
        notifier.notify(Change(Event.FAILED, "main", AT, draft="a.yaml"))
        receiver.wait_for(1)
        started = time.monotonic()
        notifier.close(timeout=5.0)
        assert time.monotonic() - started < 3.0
        assert len(receiver.requests) == 1
    assert not [t for t in threading.enumerate() if t.name == "notifier"]
    [line] = _warnings(caplog)
    assert "1 notification(s) not delivered after 1 tries" in line


def test_what_is_queued_at_close_is_still_sent_once() -> None:
    with Receiver() as receiver:
        notifier = _notifier([_url(receiver.port)], window=60.0)  # close ends the window
        notifier.notify(Change(Event.FAILED, "main", AT, draft="a.yaml"))
        notifier.notify(Change(Event.MISSED, "main", AT + timedelta(seconds=1), draft="b.yaml"))
        notifier.close(timeout=5.0)
        notifier.notify(Change(Event.FAILED, "main", AT, draft="after-close.yaml"))
        titles = [post.json()["title"] for post in receiver.requests]
    assert titles == ["failed: a.yaml (main)", "missed: b.yaml (main)"]


def test_without_urls_there_is_no_thread_and_nothing_happens() -> None:
    before = set(threading.enumerate())
    notifier = Notifier(Notify())
    notifier.notify(Change(Event.FAILED, "main", AT, draft="a.yaml"))
    notifier.job_changed(None, _job(State.FAILED))
    notifier.close()
    assert set(threading.enumerate()) == before
