"""`publisher accounts`: per account, is the token good, whose is it, when does it expire
(and how many days are left, where known: a token publisher refreshed, or the sandbox's),
how much of the publishing quota is used.

It must work while the daemon runs, so it takes no store lock and builds its clients
directly. An account on the in-process sandbox (api: sandbox, no base_url) is checked
against a sandbox started here on a *copy* of state_dir/sandbox.json: the quota it shows
counts the posts made so far, and the daemon's own sandbox state is never written by a
second process.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from publisher.clock import Clock, system_clock, system_sleep
from publisher.config import Config, tokens
from publisher.errors import ApiError, AuthFailed
from publisher.instagram import client as graph
from publisher.instagram import session
from publisher.publishing import apihost
from publisher.sandbox.server import SandboxServer


@dataclass(frozen=True)
class AccountRow:
    """What `publisher accounts` shows for one account. `reason` says why the token is not
    valid (or what could not be read) and what to do; empty when all is well."""

    name: str
    api: str
    valid: bool
    reason: str = ""
    username: str | None = None
    token_expires: datetime | None = None
    quota_used: int | None = None
    quota_total: int | None = None
    days_left: int | None = None  # until token_expires
    scopes: tuple[str, ...] = ()  # the token's permissions, where the API tells them


def check(
    config: Config, *, http: httpx.Client | None = None, clock: Clock = system_clock
) -> list[AccountRow]:
    """Given the config, ask the API about every account (in config order) and return one
    row each. Never raises for an API problem: it becomes the row's `reason`."""
    owns_http = http is None
    client_http = http if http is not None else session.make_http()
    try:
        with _sandbox_copy(config, clock) as sandbox_url:
            return [
                _check_one(config, name, client_http, sandbox_url, clock)
                for name in config.accounts
            ]
    finally:
        if owns_http:
            client_http.close()


def _check_one(
    config: Config, name: str, http: httpx.Client, sandbox_url: str | None, clock: Clock
) -> AccountRow:
    spec = config.accounts[name]
    token = tokens.token(config, name)
    if token is None:
        return AccountRow(name, spec.api, False, f"no access token: {tokens.how_to_give(name)}")
    client = graph.Client(
        http=http,
        base_url=apihost.base_url(config, name, sandbox_url),
        api_version=spec.api_version,
        ig_user_id=spec.ig_user_id,
        token=token,
        sleep=system_sleep,
        clock=clock,
        max_retries=1,
        api=spec.api,
    )
    try:
        me = client.me()
        info = client.token_info()
    except ApiError as exc:
        return AccountRow(name, spec.api, False, exc.describe())
    username = me.get("username")
    # A refreshed token's expiry is known here; Meta's lookup needs the token in a URL.
    expires = (info.get("expires_at") if info else None) or tokens.expires(config, name)
    if info is not None and not info.get("is_valid", True):
        return AccountRow(name, spec.api, False, "the API says the token is not valid", username)
    if me.get("id") and me["id"] != spec.ig_user_id:
        return AccountRow(
            name,
            spec.api,
            False,
            f"the token belongs to Instagram user {me['id']}, not to ig_user_id "
            f"{spec.ig_user_id}: fix accounts.{name}.ig_user_id or use that account's token",
            username,
            expires,
        )
    try:
        quota = client.publishing_limit()
    except AuthFailed as exc:
        return AccountRow(name, spec.api, False, exc.describe(), username, expires)
    except ApiError as exc:
        return AccountRow(
            name, spec.api, True, f"quota not read: {exc.describe()}", username, expires
        )
    days = (expires - clock()).days if expires is not None else None
    scopes = tuple(info.get("scopes") or ()) if info else ()
    return AccountRow(
        name,
        spec.api,
        True,
        "",
        username,
        expires,
        quota.used,
        quota.total,
        days_left=days,
        scopes=scopes,
    )


@contextmanager
def _sandbox_copy(config: Config, clock: Clock) -> Iterator[str | None]:
    """A sandbox on a throwaway copy of state_dir/sandbox.json, when an account needs one."""
    if not any(apihost.uses_inprocess_sandbox(config, name) for name in config.accounts):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="publisher-accounts-") as folder:
        source = config.state_dir / apihost.SANDBOX_STATE
        copy = Path(folder) / apihost.SANDBOX_STATE
        if source.is_file():
            shutil.copyfile(source, copy)
        server = SandboxServer(state_path=copy, fetch_media=False, clock=clock)
        try:
            yield server.start()
        finally:
            server.close()


def render(rows: list[AccountRow], tz: ZoneInfo | None = None) -> str:
    """Given the rows, return a table (one line per account), then one line per problem."""
    header = ("ACCOUNT", "API", "TOKEN", "USERNAME", "EXPIRES", "QUOTA")
    lines = [header]
    for row in rows:
        expires = "-"
        if row.token_expires is not None:
            moment = row.token_expires.astimezone(tz) if tz else row.token_expires
            expires = moment.strftime("%Y-%m-%d")
            if row.days_left is not None:
                expires += f" ({row.days_left} days left)"
        quota = (
            f"{row.quota_used}/{row.quota_total} in 24 h"
            if row.quota_used is not None and row.quota_total is not None
            else "-"
        )
        lines.append(
            (
                row.name,
                row.api,
                "valid" if row.valid else "INVALID",
                row.username or "-",
                expires,
                quota,
            )
        )
    widths = [max(len(line[index]) for line in lines) for index in range(len(header))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    text += [f"{row.name}: {row.reason}" for row in rows if row.reason]
    return "\n".join(text)


def as_json(rows: list[AccountRow]) -> str:
    """Given the rows, return `publisher accounts --json`: an array with one object per
    account (`name`, `api`, `valid`, `reason`, `username`, `token_expires` in ISO 8601 or
    null, `days_left`, `quota_used`, `quota_total`). Never a token."""
    items = [
        {
            "name": row.name,
            "api": row.api,
            "valid": row.valid,
            "reason": row.reason or None,
            "username": row.username,
            "token_expires": row.token_expires.isoformat() if row.token_expires else None,
            "days_left": row.days_left,
            "quota_used": row.quota_used,
            "quota_total": row.quota_total,
        }
        for row in rows
    ]
    return json.dumps(items, indent=2, ensure_ascii=False)
