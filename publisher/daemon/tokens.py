"""The token lifecycle, a daemon chore (SPEC §8, issue 9): tokens are looked after between
publishes, never inside one.

- Instagram Login accounts with `token_refresh` (the default): the token is refreshed
  (`instagram.refresh`) when its expiry is unknown (a token never refreshed here) or less
  than REFRESH_WITHIN away, and kept in state_dir/tokens/<account> (`config.refreshed`),
  which `config.tokens.token` then prefers, across restarts, until the configured token
  changes;
- Facebook Login accounts: a cheap validity check (GET the account), there being no
  refresh for their tokens (instagram-api.md §8.2).

Either is tried at most once every TRY_EVERY per account, whatever the outcome: a token too
new to refresh, or a network error, is simply tried again a day later, never a block. A
token Meta refuses (190, 102) blocks the account as a refused publish does: its drafts wait,
and move on once it is fixed.

`due` decides (reading the tokens file only); `look_after` is the worker's task, and the
daemon starts it only while no publish of that account runs (a refresh ends the old
token, which an in-flight publish may still be using).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.config import API_HOSTS, Config, refreshed, tokens
from publisher.errors import ApiError, AuthFailed
from publisher.instagram import refresh
from publisher.notify.change import Change, token_expiring
from publisher.publishing.runtime import Runtime

log = logging.getLogger(__name__)

REFRESH_WITHIN = timedelta(days=30)
TRY_EVERY = timedelta(hours=24)
# Meta's codes for a token that is no good (expired, revoked, password changed...).
_REFUSED = frozenset({190, 102})


@dataclass(frozen=True)
class Outcome:
    """What looking after one account's token came to: `refused` is why Meta refuses the
    token (the account is blocked), None otherwise; `note` is the log line; `expires_at`
    when the token in use ends, where known (a refreshed one), and `renewed` whether it was
    just refreshed (a token near its end that is not being renewed is worth telling)."""

    account: str
    note: str
    refused: str | None = None
    expires_at: datetime | None = None
    renewed: bool = False


def looked_after(config: Config, account: str) -> bool:
    """True for the accounts whose token this chore looks after."""
    spec = config.accounts[account]
    if tokens.configured(config, account) is None:
        return False
    return (spec.api == "instagram" and spec.token_refresh) or spec.api == "facebook"


def due(config: Config, account: str, now: datetime) -> bool:
    """Given the config, an account and now, return True when its token should be looked
    after now (see the module docstring)."""
    if not looked_after(config, account):
        return False
    configured = tokens.configured(config, account)
    assert configured is not None
    kept = refreshed.current(config.state_dir, account, configured)
    if kept is not None and kept.tried_at is not None and now - kept.tried_at < TRY_EVERY:
        return False
    if config.accounts[account].api == "facebook":
        return True
    expires = kept.expires_at if kept is not None and kept.token else None
    return expires is None or expires - now < REFRESH_WITHIN


def look_after(rt: Runtime, account: str) -> Outcome:
    """The worker's task: refresh the account's token (Instagram Login) or check it
    (Facebook Login). That it was tried is recorded first: a tokens folder that cannot be
    written means no refresh (the new token would be lost, the old one ended). Never raises
    for Meta's answers."""
    config = rt.config
    now = rt.clock()
    configured = tokens.configured(config, account)
    if configured is None:
        return Outcome(account, f"account {account}: no token to look after")
    record = refreshed.current(config.state_dir, account, configured)
    record = (record or refreshed.Kept(configured=refreshed.fingerprint(configured))).tried(now)
    try:
        refreshed.write(config.state_dir, account, record)
    except OSError as exc:
        where = refreshed.path(config.state_dir, account)
        return Outcome(account, f"account {account}: token not renewed: {where}: {exc}")
    try:
        if config.accounts[account].api == "facebook":
            rt.client(account).me()
            return Outcome(account, f"account {account}: the token works")
        return _refresh(rt, account, record, now)
    except AuthFailed as exc:
        if exc.code in _REFUSED or exc.code is None:
            return Outcome(account, exc.describe(), f"account {account}: {exc.describe()}")
        return _later(account, exc, now, record.expires_at if record.token else None)
    except ApiError as exc:
        return _later(account, exc, now, record.expires_at if record.token else None)


def _refresh(rt: Runtime, account: str, record: refreshed.Kept, now: datetime) -> Outcome:
    spec = rt.config.accounts[account]
    host = str(spec.base_url) if spec.base_url is not None else API_HOSTS["instagram"]
    current = tokens.token(rt.config, account)
    assert current is not None
    new = refresh.refresh(rt.http, host, current)
    expires = now + timedelta(seconds=new.expires_in) if new.expires_in else None
    fresh = refreshed.Kept(
        configured=record.configured,
        token=new.token,
        expires_at=expires,
        refreshed_at=now,
        tried_at=now,
    )
    try:
        refreshed.write(rt.config.state_dir, account, fresh)
    except OSError as exc:
        # The folder was writable a moment ago; without the file the old token stays in
        # use, and Meta has just ended it: say so loudly.
        log.error("account %s: the refreshed token could not be kept: %s", account, exc)
        raise
    until = f"; it expires {expires.date().isoformat()}" if expires else ""
    note = f"account {account}: access token refreshed{until}"
    return Outcome(account, note, expires_at=expires, renewed=True)


def _later(account: str, exc: ApiError, now: datetime, expires_at: datetime | None) -> Outcome:
    when = (now + TRY_EVERY).isoformat(timespec="minutes")
    note = f"account {account}: token not renewed now ({exc.describe()}); tried again after {when}"
    return Outcome(account, note, expires_at=expires_at)


EXPIRING_WITHIN = timedelta(days=7)  # token_expiring: fewer days left than this
TELL_EVERY = timedelta(hours=20)  # at most once a day per account


class Expiring:
    """Decides when to tell the user (notify `token_expiring`) of a token that has fewer
    than EXPIRING_WITHIN left and was not just renewed: once a day at most per account."""

    def __init__(self) -> None:
        self._told: dict[str, datetime] = {}

    def tell(self, outcome: Outcome, now: datetime) -> Change | None:
        """Given how looking after a token went and now, return the notification to send,
        or None."""
        expires = outcome.expires_at
        if outcome.renewed or expires is None or expires - now >= EXPIRING_WITHIN:
            return None
        last = self._told.get(outcome.account)
        if last is not None and now - last < TELL_EVERY:
            return None
        self._told[outcome.account] = now
        reason = "refreshing it did not work: " + outcome.note
        return token_expiring(outcome.account, expires, reason, at=now)
