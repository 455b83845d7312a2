"""Blocked accounts: whose drafts wait, why, and whether to ask Instagram again.

An account is blocked when it has no access token, when Instagram refuses its token, or when
a publish found it restricted (a job in state `blocked`). Its drafts stay `blocked` and move
on by themselves once it is fixed: every few minutes (a chore) the daemon asks Instagram about
the blocked accounts that have a token (a worker task, `ask`), and re-reads config.yaml
first when a token kept in a file may have changed (`tokens_changed`).

The daemon holds `blocked` (account -> the sentence saying why); the functions here decide
it. Which accounts have no token at all is `tokenless`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from publisher import config as config_module
from publisher.config import Config, tokens
from publisher.errors import ApiError, AuthFailed, ConfigError
from publisher.job import Job, State
from publisher.publishing.runtime import Runtime


def at_start(without_token: Mapping[str, str], jobs: Iterable[Job]) -> dict[str, str]:
    """Given the accounts without a token (with the sentence for each) and every job, return
    the blocked accounts: those, and the accounts of jobs the store left `blocked`."""
    blocked = dict(without_token)
    for job in jobs:
        if job.state is State.BLOCKED and job.account and job.account not in blocked:
            blocked[job.account] = job.error or f"account {job.account} is blocked"
    return blocked


def after_reload(
    blocked: Mapping[str, str],
    old_without_token: Mapping[str, str],
    new_without_token: Mapping[str, str],
    accounts: Iterable[str],
) -> dict[str, str]:
    """Given the accounts blocked under the old config, those without a token under the old
    and the new one, and the new config's accounts, return the accounts blocked now: a
    token added unblocks (it is asked about next), an account removed is forgotten, and one
    Instagram refused stays blocked until it answers otherwise."""
    names = set(accounts)
    kept = {
        name: reason
        for name, reason in blocked.items()
        if name in names and name not in old_without_token
    }
    return {**new_without_token, **kept}


def to_ask(
    blocked: Mapping[str, str], without_token: Mapping[str, str], accounts: Iterable[str]
) -> list[str]:
    """The blocked accounts worth asking Instagram about: still configured, with a token."""
    names = set(accounts)
    return [name for name in blocked if name in names and name not in without_token]


def because_of(job: Job) -> str:
    """Why a publish that ended `blocked` blocks its account's other drafts."""
    return f"account {job.account}: {job.error}; its drafts move on once it is fixed"


def refused(why: str) -> str:
    """Why a token Meta refused (when it was refreshed or checked) blocks the account."""
    return f"{why}; its drafts move on once it is fixed"


def tokens_changed(config: Config, blocked: Iterable[str]) -> bool:
    """True when a blocked account's token is no longer the one `config` holds: a token kept
    in a file (access_token_file) is read with the config, so read the config again. An
    invalid config is no change (the reload reports it)."""
    try:
        fresh = config_module.load(config.config_path)
    except ConfigError:
        return False
    return any(
        name in fresh.accounts
        and name in config.accounts
        and tokens.configured(fresh, name) != tokens.configured(config, name)
        for name in blocked
    )


def ask(rt: Runtime, account: str) -> str | None:
    """A worker's account check: None if the token works, else why not."""
    try:
        rt.client(account).me()
    except AuthFailed as exc:
        return f"account {account}: {exc.describe()}"
    except ApiError as exc:
        return f"account {account} could not be checked: {exc.describe()}"
    return None


def tokenless(config: Config) -> dict[str, str]:
    """Given a config, return the accounts that cannot publish at all (no token), with the
    sentence saying how to give them one."""
    return {
        name: f"account {name} has no access token: {how}; its drafts move on by themselves "
        "once it has one"
        for name, how in tokens.missing(config).items()
    }
