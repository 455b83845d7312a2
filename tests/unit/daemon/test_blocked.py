"""Which accounts are blocked, and which to ask Instagram about again: pure decisions."""

from __future__ import annotations

import pytest

from publisher.daemon import blocked
from publisher.job import Job, State

NO_TOKEN = "account b has no access token: ..."


def job(account: str, state: State, error: str | None = None) -> Job:
    return Job(draft=f"{account}.yaml", account=account, state=state, error=error)


def test_at_start_the_accounts_without_token_and_those_the_store_left_blocked() -> None:
    jobs = [
        job("a", State.BLOCKED, "account a: the token expired"),
        job("b", State.BLOCKED, "stale"),  # already blocked for want of a token
        job("c", State.BLOCKED),
        job("d", State.SCHEDULED),
    ]
    assert blocked.at_start({"b": NO_TOKEN}, jobs) == {
        "a": "account a: the token expired",
        "b": NO_TOKEN,
        "c": "account c is blocked",
    }


@pytest.mark.parametrize(
    ("before", "old_without", "new_without", "accounts", "after"),
    [
        # a token was added: unblocked (the next check asks Instagram)
        ({"b": NO_TOKEN}, {"b": NO_TOKEN}, {}, ["b"], {}),
        # refused by Instagram: stays blocked until it answers otherwise
        ({"a": "refused"}, {}, {}, ["a"], {"a": "refused"}),
        # the account left the config: forgotten
        ({"a": "refused"}, {}, {}, [], {}),
        # the token was removed: blocked for that reason now
        ({}, {}, {"a": "no token"}, ["a"], {"a": "no token"}),
    ],
)
def test_after_reload(
    before: dict[str, str],
    old_without: dict[str, str],
    new_without: dict[str, str],
    accounts: list[str],
    after: dict[str, str],
) -> None:
    assert blocked.after_reload(before, old_without, new_without, accounts) == after


def test_only_configured_accounts_with_a_token_are_asked_about() -> None:
    reasons = {"a": "refused", "b": NO_TOKEN, "gone": "refused"}
    assert blocked.to_ask(reasons, {"b": NO_TOKEN}, ["a", "b"]) == ["a"]


def test_a_blocked_publish_says_why_the_other_drafts_wait() -> None:
    found = job("a", State.BLOCKED, "the account is restricted")
    assert blocked.because_of(found) == (
        "account a: the account is restricted; its drafts move on once it is fixed"
    )
