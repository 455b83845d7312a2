"""The daemon's inbox on a box with several users (issue 8, fault 4): a request is applied
once, even when its answer cannot be written or its file cannot be removed (the id is
recorded on the job with the change), and the folder and files are the group's to use."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.daemon import inbox
from publisher.job import Job, State
from publisher.planning import reconciler
from publisher.store.jobstore import JobStore
from tests.support.site import DRAFTS, load_config, make_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = load_config(make_site(tmp_path))
    (config.content_dir / "x.yaml").write_text(DRAFTS["post"])
    return config


@pytest.fixture
def store(config: Config) -> Iterator[JobStore]:
    """The store as the daemon holds it."""
    with JobStore(config.state_dir, clock=lambda: NOW) as held:
        yield held


def serve(store: JobStore, config: Config) -> list[str]:
    return inbox.serve(store, config, now=NOW, busy=lambda _job_id: False)


def unanswerable(config: Config, action: inbox.Action) -> str:
    """A request whose answer can never be written: where `<id>.done` goes, a folder with a
    file in it (a rename onto it fails, even for root), as when another user owns the
    folder. Its request file therefore stays too."""
    request_id = inbox.post(config.state_dir, action, "x.yaml")
    blocked = config.state_dir / inbox.FOLDER / f"{request_id}.done"
    blocked.mkdir()
    (blocked / "keep").write_text("")
    return request_id


def notes(store: JobStore) -> list[str]:
    job = store.by_draft("x.yaml")
    assert job is not None
    return [event.note for event in job.history]


def test_a_request_that_cannot_be_answered_is_applied_once(
    config: Config, store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.add(Job(draft="x.yaml", state=State.SCHEDULED, account="main"))
    request_id = unanswerable(config, "cancel")

    with caplog.at_level(logging.ERROR, logger="publisher"):
        assert serve(store, config) == ["x.yaml"]
        # the service user re-queues it; the stuck cancel must not cancel it again
        inbox.apply(store, "retry", "x.yaml", config=config, now=NOW)
        for _ in range(3):
            assert serve(store, config) == []

    job = store.by_draft("x.yaml")
    assert job is not None and job.state is State.SCHEDULED
    assert notes(store).count(reconciler.CANCELLED_BY_USER) == 1
    assert request_id in job.requests
    [record] = caplog.records  # said once, with the fix
    assert request_id in record.getMessage() and "not applied again" in record.getMessage()
    assert [request.id for request in inbox.pending(config.state_dir)] == [request_id]


def test_the_next_daemon_does_not_apply_it_again_either(config: Config, store: JobStore) -> None:
    """What the job store records, not what one process remembers, keeps it from a second
    application: the request id on the job."""
    store.add(Job(draft="x.yaml", state=State.SCHEDULED, account="main"))
    inbox.apply(store, "cancel", "x.yaml", config=config, now=NOW, request_id="r1")
    inbox.apply(store, "retry", "x.yaml", config=config, now=NOW, request_id="r2")

    said = inbox.apply(store, "cancel", "x.yaml", config=config, now=NOW, request_id="r1")

    job = store.by_draft("x.yaml")
    assert job is not None and job.state is State.SCHEDULED
    assert "already applied" in said
    assert job.requests == ("r1", "r2")


def test_a_cancel_before_the_daemon_saw_the_draft_records_its_id(
    config: Config, store: JobStore
) -> None:
    inbox.apply(store, "cancel", "x.yaml", config=config, now=NOW, request_id="r1")
    inbox.apply(store, "retry", "x.yaml", config=config, now=NOW, request_id="r2")
    inbox.apply(store, "cancel", "x.yaml", config=config, now=NOW, request_id="r1")
    job = store.by_draft("x.yaml")
    assert job is not None and job.state is State.SCHEDULED
    assert job.requests == ("r1", "r2")


def test_a_cancel_of_a_cancelled_draft_is_recorded_too(config: Config, store: JobStore) -> None:
    store.add(Job(draft="x.yaml", state=State.CANCELLED, account="main"))
    inbox.apply(store, "cancel", "x.yaml", config=config, now=NOW, request_id="r1")
    inbox.apply(store, "retry", "x.yaml", config=config, now=NOW)
    inbox.apply(store, "cancel", "x.yaml", config=config, now=NOW, request_id="r1")
    job = store.by_draft("x.yaml")
    assert job is not None and job.state is State.SCHEDULED


def test_only_the_last_request_ids_are_kept(config: Config, store: JobStore) -> None:
    store.add(Job(draft="x.yaml", state=State.SCHEDULED, account="main"))
    for number in range(inbox.KEEP_REQUEST_IDS + 5):
        action = "cancel" if number % 2 == 0 else "retry"
        inbox.apply(store, action, "x.yaml", config=config, now=NOW, request_id=f"r{number}")
    job = store.by_draft("x.yaml")
    assert job is not None and len(job.requests) == inbox.KEEP_REQUEST_IDS
    assert job.requests[-1] == f"r{inbox.KEEP_REQUEST_IDS + 4}"


@pytest.fixture
def strict_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("strict_umask")
def test_the_folder_and_the_files_are_the_groups_whatever_the_umask(
    config: Config, store: JobStore
) -> None:
    store.add(Job(draft="x.yaml", state=State.SCHEDULED, account="main"))
    folder = inbox.open_folder(config.state_dir)
    assert mode(folder) == inbox.FOLDER_MODE  # setgid, group rwx: members hand requests in
    request_id = inbox.post(config.state_dir, "cancel", "x.yaml")
    assert mode(folder / f"{request_id}.json") == inbox.FILE_MODE
    request = inbox.pending(config.state_dir)[0]
    inbox.answer(config.state_dir, request, True, "done")
    assert mode(folder / f"{request_id}.done") == inbox.FILE_MODE
    assert json.loads((folder / f"{request_id}.done").read_text())["ok"] is True


def test_the_daemon_makes_the_folder_before_anyone_hands_a_request_in(
    config: Config, store: JobStore
) -> None:
    """So that the first `sudo publisher cancel` finds a folder the service owns."""
    assert not (config.state_dir / inbox.FOLDER).exists()
    serve(store, config)
    assert mode(config.state_dir / inbox.FOLDER) == inbox.FOLDER_MODE


def test_a_folder_an_older_publisher_made_is_opened_to_the_group(
    config: Config, store: JobStore
) -> None:
    folder = config.state_dir / inbox.FOLDER
    folder.mkdir(mode=0o750)  # UMask=0027: the group could not hand requests in
    folder.chmod(0o750)
    serve(store, config)
    assert mode(folder) == inbox.FOLDER_MODE
