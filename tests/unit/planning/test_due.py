"""`due`: what the daemon starts now, and when it looks next. Pure: fixed `now`, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.job import Job, State
from publisher.planning import due
from tests.support.site import load_config, make_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # The defaults: misfire_grace 1h, concurrency 2, prepare_ahead 10m.
    site = make_site(tmp_path, extra_accounts={"b": {"ig_user_id": "17841400000000002"}})
    return load_config(site)


def job(
    name: str,
    when: datetime,
    *,
    account: str = "main",
    state: State = State.SCHEDULED,
    **fields: object,
) -> Job:
    if state is State.RETRYING:
        fields.setdefault("next_attempt_at", when)
        when = when - timedelta(hours=5)
    return Job(
        id=name,
        draft=f"{name}.yaml",
        account=account,
        state=state,  # type: ignore[arg-type]
        scheduled_for=when,
        **fields,
    )


def actions(work: list[due.Work]) -> list[tuple[str, str]]:
    return [(item.job_id, item.action) for item in work]


@pytest.mark.parametrize(
    ("jobs", "options", "expected"),
    [
        # due now, on time: published
        ([job("j", NOW)], {}, [("j", "publish")]),
        # 59 min late: still within misfire_grace; 61 min: missed
        ([job("late", NOW - 59 * MIN)], {}, [("late", "publish")]),
        ([job("old", NOW - 61 * MIN)], {}, [("old", "miss")]),
        # within prepare_ahead: prepare; further: nothing yet
        ([job("soon", NOW + 9 * MIN)], {}, [("soon", "prepare")]),
        ([job("far", NOW + 11 * MIN)], {}, []),
        # prepared already: nothing until its slot
        ([job("soon", NOW + 9 * MIN)], {"prepared": {"soon"}}, []),
        # one publish per account, the earliest first; the other account in parallel
        (
            [job("a2", NOW), job("a1", NOW - MIN), job("b1", NOW, account="b")],
            {},
            [("a1", "publish"), ("a2", "prepare"), ("b1", "publish")],
        ),
        # an account already publishing: its due draft is prepared meanwhile, once
        ([job("a1", NOW)], {"busy_accounts": {"main"}}, [("a1", "prepare")]),
        ([job("a1", NOW)], {"busy_accounts": {"main"}, "prepared": {"a1"}}, []),
        # capacity: concurrency 2 with one running leaves one
        (
            [job("a1", NOW), job("b1", NOW, account="b")],
            {"capacity": 1},
            [("a1", "publish"), ("b1", "prepare")],
        ),
        # misses are never held back by capacity
        (
            [job("old", NOW - 2 * 60 * MIN), job("a1", NOW)],
            {"capacity": 0},
            [("old", "miss"), ("a1", "prepare")],
        ),
        # a job a worker holds is skipped
        ([job("j", NOW)], {"busy": {"j"}}, []),
        # retrying: due at its next attempt, judged from it
        ([job("r", NOW, state=State.RETRYING)], {}, [("r", "publish")]),
        ([job("r", NOW + MIN, state=State.RETRYING)], {}, []),
        # states that wait for nobody
        ([job("p", NOW, state=State.PAUSED), job("c", NOW, state=State.CANCELLED)], {}, []),
        # a publish in doubt is reconciled however late it comes up, never missed
        (
            [
                job(
                    "doubt",
                    NOW - 2 * 60 * MIN,
                    state=State.RETRYING,
                    publish_requested_at=NOW - 3 * 60 * MIN,
                )
            ],
            {},
            [("doubt", "publish")],
        ),
        # prepares are capped overall
        (
            [job(f"s{i}", NOW + MIN * (i + 1)) for i in range(3)],
            {"prepare_capacity": 2},
            [("s0", "prepare"), ("s1", "prepare")],
        ),
    ],
)
def test_what_is_started_now(
    config: Config, jobs: list[Job], options: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    arguments: dict[str, object] = {"capacity": 2, "prepare_capacity": 4, **options}
    assert actions(due.work(jobs, NOW, config, **arguments)) == expected  # type: ignore[arg-type]


def test_alarms_ring_at_prepare_time_and_slot(config: Config) -> None:
    jobs = [
        job("later", NOW + 60 * MIN),
        job("soon", NOW + 5 * MIN),  # its prepare time has passed: now
        job("retry", NOW + 2 * MIN, state=State.RETRYING),
        job("done", NOW, state=State.PUBLISHED),
    ]
    assert due.alarms(jobs, config, NOW) == {
        "later": [NOW + 50 * MIN, NOW + 60 * MIN],
        "soon": [NOW, NOW + 5 * MIN],
        "retry": [NOW + 2 * MIN],
    }


@pytest.mark.parametrize(
    ("late", "when", "started", "text"),
    [
        (
            timedelta(minutes=12),
            NOW,
            NOW + MIN,
            "published 12 min late: the daemon was not running at 10:00",
        ),
        (
            timedelta(seconds=40),
            NOW,
            NOW - MIN,
            "published 40 s late: the daemon could not start it at 10:00",
        ),
        (
            timedelta(minutes=90),
            NOW,
            NOW + MIN,
            "published 1h30m late: the daemon was not running at 10:00",
        ),
    ],
)
def test_late_text(late: timedelta, when: datetime, started: datetime, text: str) -> None:
    from zoneinfo import ZoneInfo

    assert due.late_text(late, when, started, ZoneInfo("Europe/Paris")).startswith(text)


def test_missed_text_says_how_to_publish_anyway() -> None:
    text = due.missed_text("a/b.yaml", NOW, timedelta(hours=1), NOW + MIN, UTC)
    assert "2026-12-01 09:00 UTC" in text
    assert "the daemon was not running then" in text
    assert "misfire_grace (1h)" in text
    assert "`publisher retry a/b.yaml`" in text
