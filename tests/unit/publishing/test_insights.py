"""Which posts get their insights read, and when (`publishing.insights.due`): a table over
the post's age, type, what was read before and the account's opt-in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.config import Config
from publisher.job import Job, State
from publisher.publishing import insights
from tests.support.clock import START
from tests.support.site import load_config, make_site


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root: Path = tmp_path_factory.mktemp("site")
    return load_config(
        make_site(
            root,
            account={"insights": True},
            extra_accounts={"quiet": {"api": "sandbox", "ig_user_id": "17841400000000999"}},
        )
    )


def published(age: timedelta, **fields: Any) -> Job:
    base: dict[str, Any] = {
        "draft": "a.yaml",
        "account": "main",
        "type": "post",
        "state": State.PUBLISHED,
        "media_id": "1790001",
        "published_at": START - age,
    }
    base.update(fields)
    return Job(**base)


H, D = timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (published(23 * H), None),  # too early for the first read
        (published(25 * H), "24h"),
        (published(25 * H, insights={"after": "24h"}), None),  # already read
        (published(8 * D, insights={"after": "24h"}), "7d"),
        (published(8 * D), "7d"),  # the daemon was down at 24 h: the 7-day read only
        (published(8 * D, insights={"after": "7d"}), None),
        (published(31 * D), None),  # too old to start reading
        (published(23.5 * H, type="story"), "24h"),  # before Meta drops it at 24 h
        (published(25 * H, type="story"), None),
        (published(8 * D, type="story"), None),
        (published(25 * H, account="quiet"), None),  # not opted in
        (published(25 * H, state=State.UNCONFIRMED), None),
        (published(25 * H, media_id=None), None),
    ],
)
def test_which_read_is_due(config: Config, job: Job, expected: str | None) -> None:
    due = insights.due([job], config, START)
    reads = due.get(job.account, [])
    assert [read.after for read in reads] == ([expected] if expected else [])


def test_a_round_reads_the_oldest_posts_first_and_at_most_per_round(config: Config) -> None:
    jobs = [
        published(25 * H + i * timedelta(minutes=1), draft=f"{i}.yaml", id=f"job{i}")
        for i in range(insights.PER_ROUND + 5)
    ]
    [(account, reads)] = insights.due(jobs, config, START).items()
    assert account == "main"
    assert len(reads) == insights.PER_ROUND
    oldest_first = sorted(jobs, key=lambda job: job.published_at or START)
    assert [read.job_id for read in reads] == [job.id for job in oldest_first][: len(reads)]
