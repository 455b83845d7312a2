"""`reconciler`: what a draft asks of its job, and the plan. Pure decisions over drafts read
from real files in tmp_path and jobs built here; a fixed `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher import drafts
from publisher.config import Config
from publisher.drafts import Loaded
from publisher.job import Event, Job, State
from publisher.planning import reconciler
from tests.support.site import DRAFTS, load_config, make_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=5)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(make_site(tmp_path))


def read(config: Config, text: str, name: str = "d.yaml") -> Loaded:
    path = config.content_dir / name
    path.write_text(text)
    return drafts.load(path, config)


def valid(config: Config, extra: str = "", name: str = "d.yaml") -> Loaded:
    return read(config, DRAFTS["post"] + extra, name)


def job_for(loaded: Loaded, state: State, **fields: object) -> Job:
    values: dict[str, object] = {"draft": loaded.rel, "fingerprint": loaded.fingerprint}
    values.update(account="main", state=state, **fields)
    return Job(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "blocked", "state", "error_part"),
    [
        ("", {}, State.SCHEDULED, None),
        ("paused: true\n", {}, State.PAUSED, None),
        ("platforms: [instagram, tiktok]\n", {}, State.LOCKED, "tiktok"),
        ("", {"main": "no token"}, State.BLOCKED, "no token"),
        ("caption: [1]\n", {}, State.INVALID, "caption"),
    ],
)
def test_classify(
    config: Config, extra: str, blocked: dict[str, str], state: State, error_part: str | None
) -> None:
    text = DRAFTS["post"] + extra if "caption:" not in extra else "type: post\n" + extra
    got_state, error = reconciler.classify(read(config, text), blocked)
    assert got_state is state
    assert (error_part in (error or "")) if error_part else error is None


def test_invalid_drafts_list_every_problem_in_one_line(config: Config) -> None:
    loaded = read(config, "type: carousel\nmedia: [nope.jpg]\nlocation_id: abc\n")
    state, error = reconciler.classify(loaded, {})
    assert state is State.INVALID
    assert error is not None and "\n" not in error
    assert len(loaded.errors) >= 2
    assert all(f"{p.field}: {p.message}" in error for p in loaded.errors)


@pytest.mark.parametrize(
    ("state", "edited", "expected_state", "resets"),
    [
        (State.SCHEDULED, False, None, False),  # nothing new: no change at all
        (State.SCHEDULED, True, State.SCHEDULED, True),
        (State.RETRYING, False, None, False),  # keeps waiting for its next attempt
        (State.RETRYING, True, State.SCHEDULED, True),
        (State.FAILED, False, None, False),  # waits for an edit or `publisher retry`
        (State.FAILED, True, State.SCHEDULED, True),
        (State.MISSED, True, State.SCHEDULED, True),
        (State.INVALID, False, State.SCHEDULED, True),  # fixed (media appeared, config)
        (State.PUBLISHING, True, None, False),  # the worker's
    ],
)
def test_target_for_an_existing_job(
    config: Config, state: State, edited: bool, expected_state: State | None, resets: bool
) -> None:
    before = valid(config)
    job = job_for(before, state, attempts=2, error="old" if state is State.INVALID else None)
    text = DRAFTS["post"].replace("First light", "Last light")
    loaded = read(config, text) if edited else before
    change = reconciler.target(loaded, job, {})
    if expected_state is None:
        assert change is None
        return
    assert change is not None
    assert (change.state, change.job_id, change.expect) == (expected_state, job.id, state)
    assert ("attempts" in change.fields) is resets


def test_published_drafts_never_move_and_say_why_once(config: Config) -> None:
    before = valid(config)
    job = job_for(before, State.PUBLISHED, media_id="1")
    assert reconciler.target(before, job, {}) is None
    change = reconciler.target(valid(config, "paused: true\n"), job, {})
    assert change is not None
    assert (change.state, change.fields) == (State.PUBLISHED, {"error": reconciler.REPUBLISH})
    said = job.model_copy(update={"error": reconciler.REPUBLISH})
    assert reconciler.target(valid(config, "paused: true\n"), said, {}) is None


def test_cancelled_by_the_user_stays_cancelled_by_deletion_comes_back(config: Config) -> None:
    loaded = valid(config)
    by_user = job_for(loaded, State.CANCELLED, error="cancelled with `publisher cancel`")
    assert reconciler.target(valid(config, "paused: false\n"), by_user, {}) is None
    by_deletion = job_for(loaded, State.CANCELLED, error=reconciler.DELETED)
    change = reconciler.target(loaded, by_deletion, {})
    assert change is not None and change.state is State.SCHEDULED


@pytest.mark.parametrize(
    ("state", "cancelled"),
    [
        (State.SCHEDULED, True),
        (State.PAUSED, True),
        (State.INVALID, True),
        (State.PUBLISHED, False),
        (State.PUBLISHING, False),
        (State.FAILED, False),
    ],
)
def test_deleted(config: Config, state: State, cancelled: bool) -> None:
    change = reconciler.deleted(job_for(valid(config), state))
    assert (change is not None and change.state is State.CANCELLED) is cancelled


def test_a_rename_moves_the_job(config: Config) -> None:
    old = job_for(valid(config, name="old.yaml"), State.PUBLISHED, media_id="1")
    new = valid(config, name="new.yaml")
    assert reconciler.renamed(new, {new.fingerprint: [old]}) is old
    change = reconciler.moved(reconciler.target(new, old, {}), old, new.rel)
    assert (change.job_id, change.state, change.fields["draft"]) == (
        old.id,
        State.PUBLISHED,
        "new.yaml",
    )


def test_a_published_status_block_is_adopted(config: Config) -> None:
    text = DRAFTS["post"] + (
        'status:\n  state: published\n  media_id: "42"\n  published_at: 2026-11-30T10:00:00+01:00\n'
    )
    change = reconciler.adopted(read(config, text), NOW)
    assert change is not None
    assert change.state is State.PUBLISHED
    assert change.fields["media_id"] == "42"
    assert change.fields["published_at"] == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert reconciler.adopted(valid(config), NOW) is None


def test_plan_gives_new_drafts_their_time_in_the_same_change(config: Config) -> None:
    soon = valid(config, f"publish_at: {LATER.isoformat()}\n", "a.yaml")
    queued = valid(config, "", "b.yaml")  # no slots configured: cannot be scheduled
    changes = [reconciler.target(soon, None, {}), reconciler.target(queued, None, {})]
    planned = {
        change.rel: change
        for change in reconciler.plan(
            {"a.yaml": soon, "b.yaml": queued}, [], [c for c in changes if c], config, NOW
        )
    }
    assert planned["a.yaml"].job_id is None
    assert (planned["a.yaml"].state, planned["a.yaml"].fields["scheduled_for"]) == (
        State.SCHEDULED,
        LATER,
    )
    assert planned["b.yaml"].state is State.INVALID
    assert "no queue slots" in planned["b.yaml"].fields["error"]


def test_plan_changes_nothing_when_all_is_in_place(config: Config) -> None:
    loaded = valid(config, f"publish_at: {LATER.isoformat()}\n")
    job = job_for(loaded, State.SCHEDULED, scheduled_for=LATER)
    assert reconciler.plan({loaded.rel: loaded}, [job], [], config, NOW) == []


def test_a_retry_after_its_time_goes_out_now(config: Config) -> None:
    past = NOW - timedelta(days=1)
    loaded = valid(config, f"publish_at: {past.isoformat()}\n")
    event = Event(at=NOW, state="scheduled", note=reconciler.RETRY_NOW)
    job = job_for(loaded, State.SCHEDULED, scheduled_for=NOW, history=(event,))
    assert reconciler.plan({loaded.rel: loaded}, [job], [], config, NOW) == []
    later = reconciler.plan({loaded.rel: loaded}, [job], [], config, NOW + timedelta(minutes=5))
    assert later == []  # the retried job keeps "now" while it is due within misfire_grace
    plain = job.model_copy(update={"history": ()})
    [moved_back] = reconciler.plan({loaded.rel: loaded}, [plain], [], config, NOW)
    assert moved_back.fields["scheduled_for"] == past  # without the retry: its own publish_at


SOON, PAST = NOW + timedelta(hours=2), NOW - timedelta(hours=2)


@pytest.mark.parametrize(
    ("state", "extra", "held", "expected"),
    [
        # failed or missed: as soon as possible, whatever the draft says
        (State.FAILED, "", PAST, (reconciler.RETRY_NOW, NOW)),
        (State.MISSED, "", None, (reconciler.RETRY_NOW, NOW)),
        # cancelled queue draft: its slot, or the planner's next free one (issue 8, fault 6)
        (State.CANCELLED, "", SOON, (reconciler.RETRY, SOON)),
        (State.CANCELLED, "", PAST, (reconciler.RETRY, None)),
        (State.CANCELLED, "", None, (reconciler.RETRY, None)),
        (State.BLOCKED, "", SOON, (reconciler.RETRY, SOON)),
        # publish_at draft: its time, or now when that went by (never missed for it)
        (State.CANCELLED, f"publish_at: {SOON.isoformat()}\n", None, (reconciler.RETRY, SOON)),
        (State.CANCELLED, f"publish_at: {PAST.isoformat()}\n", PAST, (reconciler.RETRY_NOW, NOW)),
        (State.CANCELLED, "publish_at: now\n", None, (reconciler.RETRY_NOW, NOW)),
    ],
)
def test_retried_puts_a_job_back_in_its_place(
    config: Config,
    state: State,
    extra: str,
    held: datetime | None,
    expected: tuple[str, datetime | None],
) -> None:
    draft = valid(config, extra).draft
    assert draft is not None
    assert reconciler.retried(state, draft, held, NOW) == expected


def test_retried_with_an_unreadable_draft_keeps_only_a_future_time() -> None:
    assert reconciler.retried(State.CANCELLED, None, LATER, NOW) == (reconciler.RETRY, LATER)
    assert reconciler.retried(State.CANCELLED, None, NOW, NOW) == (reconciler.RETRY, None)
