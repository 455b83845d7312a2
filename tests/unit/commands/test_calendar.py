"""`publisher plan --ics` and `--json`: one event per planned draft at its time, stable UIDs
across runs, read back with the icalendar library itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from icalendar import Calendar

from publisher.commands import calendar, plan
from publisher.config import Config
from tests.support.clock import ManualClock
from tests.support.site import DRAFTS, load_config, make_site, write_draft

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def site(tmp_path: Path) -> Config:
    config = load_config(make_site(tmp_path))
    write_draft(config, "post", "a.yaml", DRAFTS["post"] + "publish_at: 2026-12-03T09:30:00Z\n")
    write_draft(config, "story", "b.yaml", DRAFTS["story"] + "publish_at: 2026-12-04T18:00:00Z\n")
    return config


def feed(config: Config) -> Calendar:
    found = plan.gather(config, clock=ManualClock(NOW))
    return Calendar.from_ical(calendar.feed(plan.entries(found, config), config))


def test_one_event_per_planned_draft_at_its_time(tmp_path: Path) -> None:
    config = site(tmp_path)
    events = {
        str(event["description"]).split("\n")[0]: event for event in feed(config).walk("VEVENT")
    }
    assert set(events) == {"draft: a.yaml", "draft: b.yaml"}
    post = events["draft: a.yaml"]
    assert post.decoded("dtstart") == datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    assert str(post["summary"]) == "First light over the roofs."
    assert "account: main" in str(post["description"]) and "type: post" in str(post["description"])
    assert events["draft: b.yaml"].decoded("dtstart") == datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def test_uids_are_stable_across_runs(tmp_path: Path) -> None:
    config = site(tmp_path)
    first = sorted(str(event["uid"]) for event in feed(config).walk("VEVENT"))
    second = sorted(str(event["uid"]) for event in feed(config).walk("VEVENT"))
    assert first == second and len(set(first)) == 2


def test_json_lists_the_same_drafts(tmp_path: Path) -> None:
    config = site(tmp_path)
    items = json.loads(plan.as_json(config, clock=ManualClock(NOW)))
    assert [(item["draft"], item["when"], item["type"]) for item in items] == [
        ("a.yaml", "2026-12-03T09:30:00+00:00", "post"),
        ("b.yaml", "2026-12-04T18:00:00+00:00", "story"),
    ]
