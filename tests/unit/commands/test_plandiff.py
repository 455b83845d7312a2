"""`plandiff.compare` and its renderings: pure, over two plans."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.commands import plandiff
from publisher.commands.plan import Entry
from publisher.config import Config
from publisher.errors import ConfigError

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CONFIG = Config(timezone="Europe/Paris", accounts={"main": {"ig_user_id": "1"}})


def entry(draft: str, hours: int = 0, account: str = "main", summary: str = "") -> Entry:
    return Entry(draft, account, "post", "new", T0 + timedelta(hours=hours), "slot", summary, None)


def side(*entries: Entry, prints: dict[str, str] | None = None, **why: str) -> plandiff.Side:
    return plandiff.Side({e.draft: e for e in entries}, prints or {}, dict(why))


def kinds(changes: list[plandiff.Change]) -> list[tuple[str, str]]:
    return [(change.kind, change.draft) for change in changes]


def test_the_same_plan_is_no_change() -> None:
    plan = side(entry("a.yaml"), prints={"a.yaml": "1"})
    assert plandiff.compare(plan, plan) == []


def test_added_moved_shifted_renamed_removed() -> None:
    before = side(
        entry("edited.yaml", 0),
        entry("queued.yaml", 1),
        entry("old-name.yaml", 2),
        entry("gone.yaml", 3),
        entry("same.yaml", 4),
        prints={
            "edited.yaml": "e1",
            "queued.yaml": "q",
            "old-name.yaml": "r",
            "gone.yaml": "g",
            "same.yaml": "s",
        },
    )
    after = side(
        entry("new.yaml", 0),
        entry("edited.yaml", 5),
        entry("queued.yaml", 6),
        entry("new-name.yaml", 2),
        entry("same.yaml", 4),
        prints={
            "new.yaml": "n",
            "edited.yaml": "e2",
            "queued.yaml": "q",
            "new-name.yaml": "r",
            "same.yaml": "s",
        },
    )
    changes = plandiff.compare(before, after)
    assert kinds(changes) == [
        ("added", "new.yaml"),
        ("moved", "edited.yaml"),
        ("shifted", "queued.yaml"),
        ("renamed", "new-name.yaml"),
        ("removed", "gone.yaml"),
    ]
    assert changes[3].note == "was old-name.yaml"
    assert changes[4].note == "deleted"
    assert changes[1].before == T0 and changes[1].after == T0 + timedelta(hours=5)


def test_a_removed_draft_says_why() -> None:
    before = side(entry("a.yaml"), prints={"a.yaml": "1"})
    after = side(prints={"a.yaml": "2"}, **{"a.yaml": "invalid (type: required)"})
    (change,) = plandiff.compare(before, after)
    assert (change.kind, change.note) == ("removed", "invalid (type: required)")


def test_an_account_change_is_a_move() -> None:
    before = side(entry("a.yaml"), prints={"a.yaml": "1"})
    after = side(entry("a.yaml", account="shop"), prints={"a.yaml": "2"})
    (change,) = plandiff.compare(before, after)
    assert (change.kind, change.note) == ("moved", "account main -> shop")


def test_without_fingerprints_a_time_change_is_a_move() -> None:
    before = side(entry("a.yaml", 0))  # a saved plan --json: no files known
    after = side(entry("a.yaml", 1), prints={"a.yaml": "1"})
    assert kinds(plandiff.compare(before, after)) == [("moved", "a.yaml")]


def test_text_and_markdown() -> None:
    changes = plandiff.compare(
        side(entry("gone.yaml", 2)),
        side(entry("new|odd.yaml", 1, summary="Winter | sale")),
    )
    text = plandiff.text(changes, CONFIG, "origin/main (abc)", [])
    assert text.splitlines()[0] == (
        "Plan changes against origin/main (abc), times in Europe/Paris: 1 added, 1 removed"
    )
    assert "added    new|odd.yaml (main, post): 2026-12-01 10:00 CET (+01:00)" in text
    assert "removed  gone.yaml (main, post): was 2026-12-01 11:00 CET (+01:00); deleted" in text
    md = plandiff.markdown(changes, CONFIG, "origin/main (abc)", ["a note"])
    assert md.startswith("### publisher plan: 1 added, 1 removed\n")
    assert "> a note" in md
    row = next(line for line in md.splitlines() if line.startswith("| added"))
    assert row.count(" | ") == 6  # the pipes of the name and the caption are escaped
    assert "`new\\|odd.yaml`" in row and "Winter \\| sale" in row
    assert "no change" in plandiff.text([], CONFIG, "HEAD", [])


def test_from_json_reads_a_saved_plan(tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    common = {"account": "main", "type": "post", "summary": "", "permalink": None}
    items = [
        {"draft": "a.yaml", "state": "new", "when": "2026-12-01T08:00:00+00:00", **common},
        {"draft": "b.yaml", "state": "published", "when": "2026-11-01T08:00:00+00:00", **common},
    ]
    items[0]["source"], items[1]["source"] = "slot", "published"
    saved.write_text(json.dumps(items))
    loaded = plandiff.from_json(saved)
    assert list(loaded.entries) == ["a.yaml"]
    assert loaded.entries["a.yaml"].when == T0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "is not JSON"),
        ('{"draft": "a"}', "is not the array"),
        ('[{"draft": "a"}]', "item 0 has no draft and ISO 8601 when"),
        ('[{"draft": "a", "when": "2026-12-01 09:00"}]', "has no UTC offset"),
    ],
)
def test_from_json_refuses_what_is_not_a_plan(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    saved = tmp_path / "plan.json"
    if content is not None:
        saved.write_text(content)
    with pytest.raises(ConfigError) as raised:
        plandiff.from_json(saved)
    assert expected in str(raised.value)
    assert str(saved) in str(raised.value)
