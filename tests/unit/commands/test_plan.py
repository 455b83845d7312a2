"""`publisher plan`'s text: per account, local times with their zone, states, warnings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from publisher.commands import plan as planview
from publisher.config import Config
from publisher.job import Job, State
from publisher.planning.slots import Want, assign

PARIS = ZoneInfo("Europe/Paris")
TWICE_DAILY = [{"days": "daily", "times": ["09:00", "18:30"]}]


def local(text: str, tz: ZoneInfo = PARIS) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


NOW = local("2026-12-01 12:00")


def make_config(timezone: str = "Europe/Paris", **shop: Any) -> Config:
    return Config(
        timezone=timezone,
        schedule={"slots": TWICE_DAILY, "misfire_grace": "1h"},
        accounts={"main": {"ig_user_id": "1"}, "shop": {"ig_user_id": "2", **shop}},
    )


def want(rel: str, account: str = "main", **extra: Any) -> Want:
    return Want(rel=rel, account=account, order_key=rel.rsplit("/", 1)[-1], **extra)


def job(rel: str, state: State, when: str | None, account: str = "main", **extra: Any) -> Job:
    scheduled_for = local(when) if when else None
    return Job(draft=rel, account=account, state=state, scheduled_for=scheduled_for, **extra)


def section(text: str, title: str) -> list[str]:
    """The lines under a heading that starts with `title`, up to the next blank line."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(title))
    out = []
    for line in lines[start + 1 :]:
        if not line:
            break
        out.append(line.split())
    return [" ".join(words) for words in out]


def test_render_lists_each_account_in_local_time_sorted() -> None:
    config = make_config()
    jobs = [job("posts/b.yaml", State.SCHEDULED, "2026-12-01 18:30")]
    wants = [
        want("posts/b.yaml"),
        want("a.yaml"),
        want("n.yaml", account="shop", publish_now=True),
        want("at.yaml", account="shop", publish_at=local("2026-12-24 20:15")),
    ]
    text = planview.render(jobs, assign(wants, jobs, config, NOW), config, NOW)
    assert text.splitlines()[0] == "Plan at 2026-12-01 12:00 CET (+01:00), times in Europe/Paris"
    assert section(text, "main (2 drafts)") == [
        "2026-12-01 18:30 CET (+01:00) scheduled slot posts/b.yaml",
        "2026-12-02 09:00 CET (+01:00) new slot a.yaml",
    ]
    assert section(text, "shop (2 drafts)") == [
        "2026-12-01 12:00 CET (+01:00) new now n.yaml",
        "2026-12-24 20:15 CET (+01:00) new publish_at at.yaml",
    ]
    assert text.endswith("No warnings.")


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        ("Europe/Paris", "2026-12-01 18:30 CET (+01:00)"),
        ("America/New_York", "2026-12-01 12:30 EST (-05:00)"),
        ("UTC", "2026-12-01 17:30 UTC (+00:00)"),
    ],
)
def test_render_shows_the_config_zone(timezone: str, expected: str) -> None:
    config = make_config(timezone)
    jobs = [job("a.yaml", State.SCHEDULED, "2026-12-01 18:30")]
    text = planview.render(jobs, None, config, NOW)
    assert f"{expected}  scheduled  -  a.yaml" in text


def test_render_without_a_plan_shows_what_the_jobs_hold() -> None:
    jobs = [
        job("s.yaml", State.SCHEDULED, "2026-12-01 18:30"),
        job(
            "r.yaml", State.RETRYING, "2026-12-01 11:00", next_attempt_at=local("2026-12-01 12:05")
        ),
        job("busy.yaml", State.PUBLISHING, "2026-12-01 11:59"),
        job("done.yaml", State.PUBLISHED, "2026-12-01 09:00"),
        job("gone.yaml", State.CANCELLED, "2026-12-01 09:00"),
        job("bad.yaml", State.INVALID, None),
    ]
    text = planview.render(jobs, None, make_config(), NOW)
    assert section(text, "main (3 drafts)") == [
        "2026-12-01 11:00 CET (+01:00) retrying - r.yaml next attempt 2026-12-01 12:05 CET "
        "(+01:00)",
        "2026-12-01 11:59 CET (+01:00) publishing - busy.yaml",
        "2026-12-01 18:30 CET (+01:00) scheduled - s.yaml",
    ]
    assert "shop: nothing to publish" in text


def test_render_never_lists_a_published_draft_as_upcoming() -> None:
    config = make_config()
    jobs = [job("done.yaml", State.PUBLISHED, "2026-12-01 09:00")]
    stale = assign([want("done.yaml")], [], config, NOW)  # planned before it went out
    for plan in (assign([want("done.yaml")], jobs, config, NOW), stale):
        text = planview.render(jobs, plan, config, NOW)
        assert "done.yaml" not in text
        assert "main: nothing to publish" in text


@pytest.mark.parametrize(
    ("jobs", "wants", "quota", "warning"),
    [
        pytest.param(
            [],
            [want("a.yaml"), want("b.yaml"), want("c.yaml")],  # 18:30, 09:00, 18:30
            1,
            "account main: up to 2 posts within 24 h from 2026-12-01 18:30 CET (+01:00) to "
            "2026-12-02 18:30 CET (+01:00), more than its publishing quota of 1",
            id="quota",
        ),
        pytest.param(  # a post already out this morning counts against the rolling window
            [
                job(
                    "done.yaml",
                    State.PUBLISHED,
                    "2026-12-01 09:00",
                    published_at=local("2026-12-01 09:00"),
                )
            ],
            [want("pin.yaml", publish_at=local("2026-12-01 12:30")), want("a.yaml")],
            2,
            "account main: up to 3 posts within 24 h from 2026-12-01 09:00 CET (+01:00) to "
            "2026-12-01 18:30 CET (+01:00)",
            id="quota-counts-published",
        ),
        pytest.param(
            [job("old.yaml", State.SCHEDULED, "2026-12-01 09:00")],
            [want("old.yaml")],
            100,
            "old.yaml (main) was due 2026-12-01 09:00 CET (+01:00), more than misfire_grace "
            "(1h) ago: it will be marked missed; `publisher publish old.yaml` publishes it anyway",
            id="missed",
        ),
        pytest.param(
            [],
            [want("pin.yaml", publish_at=local("2026-12-01 11:30"))],
            100,
            "pin.yaml (main) was due 2026-12-01 11:30 CET (+01:00): it goes out late, within "
            "misfire_grace (1h)",
            id="late",
        ),
        pytest.param(
            [],
            [want("s.yaml", account="shop")],
            100,
            "s.yaml (shop) cannot be scheduled: account shop has no queue slots; add "
            "schedule.slots (or accounts.shop.slots) to config.yaml, or set publish_at in the "
            "draft",
            id="no-slots",
        ),
        pytest.param(
            [job("p.yaml", State.PAUSED, None)],
            [],
            100,
            "p.yaml (main) is paused: it is never published while its draft says paused: true",
            id="paused",
        ),
        pytest.param(
            [job("b.yaml", State.BLOCKED, "2026-12-02 09:00")],
            [want("b.yaml")],
            100,
            "b.yaml (main) is blocked: the account's token is not valid",
            id="blocked",
        ),
    ],
)
def test_render_warnings(jobs: list[Job], wants: list[Want], quota: int, warning: str) -> None:
    config = make_config(slots=[])
    text = planview.render(jobs, assign(wants, jobs, config, NOW), config, NOW, quota_total=quota)
    warnings = text.split("\nWarnings\n", 1)[1]
    assert warning in " ".join(warnings.split())
    assert "No warnings." not in text


def test_render_quota_per_account() -> None:
    config = make_config()
    wants = [want(name) for name in ("a.yaml", "b.yaml", "c.yaml")]
    text = planview.render([], assign(wants, [], config, NOW), config, NOW, quota_total={"shop": 1})
    assert text.endswith("No warnings.")  # main has the default quota of 100
