"""messages.build: one message per change, grouped per (account, event), redacted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from publisher import logs
from publisher.notify import change as changes
from publisher.notify import messages
from publisher.notify.change import Change, Event

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
TOKEN = "IGAAT-notify-messages-canary-0123456789abcdef"
PERMALINK = "https://www.instagram.com/p/C0abc123/"


def _change(event: Event, draft: str = "posts/beach.yaml", **fields: str) -> Change:
    return Change(event=event, account="main", at=AT, draft=draft, **fields)


@pytest.mark.parametrize(
    ("change", "title", "lines"),
    [
        (
            _change(Event.FAILED, error="Instagram refused the image (code 36001)."),
            "failed: posts/beach.yaml (main)",
            [
                "Draft posts/beach.yaml of account main is now failed.",
                "Error: Instagram refused the image (code 36001).",
                "To try again: publisher retry posts/beach.yaml",
            ],
        ),
        (
            _change(Event.BLOCKED, error="The access token was refused (code 190)."),
            "blocked: posts/beach.yaml (main)",
            [
                "Draft posts/beach.yaml of account main is now blocked.",
                "Error: The access token was refused (code 190).",
                "its drafts move on by themselves.",
            ],
        ),
        (
            _change(Event.UNCONFIRMED, error="Published, but the post was not found."),
            "unconfirmed: posts/beach.yaml (main)",
            ["is now unconfirmed.", "Error: Published, but the post was not found.", "never"],
        ),
        (
            _change(Event.MISSED, error="The slot passed while the daemon was down."),
            "missed: posts/beach.yaml (main)",
            ["is now missed.", "publisher retry posts/beach.yaml"],
        ),
        (
            _change(Event.INVALID, draft="my posts/day 1.yaml", error="caption: too long"),
            "invalid: my posts/day 1.yaml (main)",
            ["Draft my posts/day 1.yaml of account main is now invalid.", "Fix the draft"],
        ),
        (
            _change(Event.PUBLISHED, permalink=PERMALINK),
            "published: posts/beach.yaml (main)",
            ["is now published.", f"Permalink: {PERMALINK}"],
        ),
        (
            changes.token_expiring("main", AT + timedelta(days=5), "refreshing failed.", AT),
            "token expiring: account main",
            ["Account main: its access token expires in 5 days (2026-12-06); refreshing failed."],
        ),
    ],
    ids=lambda value: value.event.value if isinstance(value, Change) else "",
)
def test_one_change_one_message(change: Change, title: str, lines: list[str]) -> None:
    [message] = messages.build([change], PARIS)
    assert (message.event, message.account, message.title) == (change.event, "main", title)
    for line in lines:
        assert line in message.body
    assert "When: 2026-12-01 09:00 CET" in message.body


def test_published_has_no_error_line_and_no_next_step() -> None:
    [message] = messages.build([_change(Event.PUBLISHED, permalink=PERMALINK)])
    assert message.body.splitlines() == [
        "Draft posts/beach.yaml of account main is now published.",
        f"Permalink: {PERMALINK}",
        "When: 2026-12-01 08:00 UTC",
    ]


def test_a_draft_path_is_quoted_in_the_command_to_run() -> None:
    [message] = messages.build([_change(Event.FAILED, draft="my posts/day 1.yaml")])
    assert "publisher retry 'my posts/day 1.yaml'" in message.body


def _blocked(count: int, error: str = "The access token was refused (code 190).") -> list[Change]:
    return [
        Change(Event.BLOCKED, "main", AT + timedelta(seconds=n), f"p/{n:03}.yaml", error)
        for n in range(count)
    ]


def test_two_hundred_drafts_of_a_blocked_account_make_one_message() -> None:
    [message] = messages.build(_blocked(200))
    assert message.title == "blocked: 200 drafts (main)"
    lines = message.body.splitlines()
    assert lines[0] == "200 drafts of account main are now blocked."
    assert lines[1] == "Error (all of them): The access token was refused (code 190)."
    listed = [line for line in lines if line.startswith("- ")]
    assert listed == [f"- p/{n:03}.yaml" for n in range(messages.MAX_LISTED)]
    assert "and 180 more" in lines
    assert "When: 2026-12-01 08:03 UTC" in lines  # the latest change (199 s after the first)
    assert len(message.body) < 2000


@pytest.mark.parametrize(
    ("count", "more"),
    [(2, None), (messages.MAX_LISTED, None), (messages.MAX_LISTED + 1, "and 1 more")],
)
def test_the_list_is_cut_only_past_max_listed(count: int, more: str | None) -> None:
    [message] = messages.build(_blocked(count))
    listed = [line for line in message.body.splitlines() if line.startswith("- ")]
    assert len(listed) == min(count, messages.MAX_LISTED)
    assert ("more" in message.body) == (more is not None)
    if more:
        assert more in message.body


def test_grouped_drafts_with_their_own_errors_each_show_theirs_shortened() -> None:
    long = "Meta says: " + "the media could not be fetched " * 20
    batch = [
        _change(Event.FAILED, draft="b.yaml", error="Caption too long.\nShorten it."),
        _change(Event.FAILED, draft="a.yaml", error=long),
    ]
    [message] = messages.build(batch)
    assert message.title == "failed: 2 drafts (main)"
    assert "Error (all of them)" not in message.body
    first, second = (line for line in message.body.splitlines() if line.startswith("- "))
    assert first.startswith("- a.yaml: Meta says: the media")
    assert first.endswith("…") and len(first) <= len("- a.yaml: ") + messages.MAX_LINE
    assert second == "- b.yaml: Caption too long. Shorten it."


def test_grouped_published_drafts_show_their_permalinks() -> None:
    batch = [
        _change(Event.PUBLISHED, draft="a.yaml", permalink=PERMALINK),
        _change(Event.PUBLISHED, draft="b.yaml", permalink=PERMALINK + "2"),
    ]
    [message] = messages.build(batch)
    assert f"- a.yaml: {PERMALINK}" in message.body
    assert f"- b.yaml: {PERMALINK}2" in message.body


def test_groups_are_per_account_and_event_in_the_order_they_first_appear() -> None:
    batch = [
        _change(Event.FAILED, draft="a.yaml"),
        Change(Event.BLOCKED, "shop", AT, draft="s1.yaml"),
        _change(Event.PUBLISHED, draft="b.yaml", permalink=PERMALINK),
        Change(Event.BLOCKED, "shop", AT, draft="s2.yaml"),
        _change(Event.FAILED, draft="c.yaml"),
    ]
    built = messages.build(batch)
    assert [(m.account, m.event, m.title) for m in built] == [
        ("main", Event.FAILED, "failed: 2 drafts (main)"),
        ("shop", Event.BLOCKED, "blocked: 2 drafts (shop)"),
        ("main", Event.PUBLISHED, "published: b.yaml (main)"),
    ]


def test_a_draft_that_changed_twice_is_told_once_as_it_is_last() -> None:
    batch = [
        _change(Event.MISSED, error="first"),
        _change(Event.MISSED, error="second"),
    ]
    [message] = messages.build(batch)
    assert message.title == "missed: posts/beach.yaml (main)"
    assert "Error: second" in message.body and "first" not in message.body


def test_nothing_to_tell_builds_nothing() -> None:
    assert messages.build([]) == []


@pytest.mark.parametrize("grouped", [False, True])
def test_a_token_planted_in_an_error_never_appears(grouped: bool) -> None:
    logs.register_secret(TOKEN)
    planted = [
        _change(Event.FAILED, draft=f"{n}.yaml", error=f"GET /me?access_token={TOKEN} failed")
        for n in range(2 if grouped else 1)
    ]
    planted.append(
        _change(Event.PUBLISHED, permalink=f"{PERMALINK}?token={TOKEN}", error=f"said {TOKEN}")
    )
    planted.append(
        _change(Event.MISSED, draft="x.yaml", error="Authorization: Bearer IGQVJunregistered99")
    )
    built = messages.build(planted)
    assert len(built) == 3
    for message in built:
        assert TOKEN not in message.title + message.body
        assert "IGQVJunregistered99" not in message.body
    assert "***" in built[0].body
