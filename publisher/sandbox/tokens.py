"""Tokens in the sandbox: the ones it has seen (by fingerprint), `GET /debug_token`, and
Instagram Login's refresh (instagram-api.md §8.1):

    GET /refresh_access_token?grant_type=ig_refresh_token&access_token=<long-lived>
    -> {"access_token": "<new>", "token_type": "bearer", "expires_in": 5183944}

Meta's conditions: the token is at least 24 hours old (`Faults.refresh_min_age_s` here, so
tests need not wait a day) and has not expired. The sandbox issues a new token and the old
one stops working (answered 190/467 from then on). Meta does not document its answer for a
token too new to refresh; the sandbox answers code 100 (`meta_errors.token_too_new`).

Functions over the `World`; the caller (`graph.Graph`) holds its lock and saves it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from publisher.sandbox import meta_errors
from publisher.sandbox.world import TokenRecord, World

LIFETIME = timedelta(days=60)
EXPIRES_IN = 5183944  # seconds, Meta's example answer (about 60 days)
SCOPES = ("instagram_business_basic", "instagram_business_content_publish")


def key(token: str) -> str:
    """A token's fingerprint: the sandbox remembers tokens by it, never by the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def seen(world: World, token_key: str, now: datetime) -> tuple[TokenRecord, bool]:
    """The record of a token, made (issued now) the first time it is seen; return it and
    whether it is new (the caller saves the world then)."""
    record = world.tokens.get(token_key)
    if record is not None:
        return record, False
    record = TokenRecord(key=token_key, issued_at=now.isoformat())
    world.tokens[token_key] = record
    return record, True


def check(world: World, token_key: str) -> None:
    """Raise GraphError (190/467) if a refresh replaced this token."""
    record = world.tokens.get(token_key)
    if record is not None and record.replaced:
        raise meta_errors.token_invalid()


def issued_here(world: World, token_key: str) -> bool:
    """True when the sandbox issued this token (a refresh), whatever token it was told."""
    record = world.tokens.get(token_key)
    return record is not None and record.issued


def refresh(world: World, old_key: str, now: datetime, min_age_s: int) -> tuple[str, str]:
    """Replace the token `old_key` with a new one; return (new token, its key). Raise
    GraphError (190/467) if it was replaced already, (100) if it is younger than
    `min_age_s`."""
    record, _new = seen(world, old_key, now)
    if record.replaced:
        raise meta_errors.token_invalid()
    if now - datetime.fromisoformat(record.issued_at) < timedelta(seconds=min_age_s):
        raise meta_errors.token_too_new(min_age_s)
    token = "IGAA" + secrets.token_urlsafe(60)
    new_key = key(token)
    record.replaced = True
    world.tokens[new_key] = TokenRecord(key=new_key, issued_at=now.isoformat(), issued=True)
    return token, new_key


def refresh_answer(token: str) -> dict[str, Any]:
    return {"access_token": token, "token_type": "bearer", "expires_in": EXPIRES_IN}


def debug(world: World, token_key: str, now: datetime, user_id: str | None) -> dict[str, Any]:
    """GET /debug_token (sandbox only): valid, and a 60-day expiry from when it was issued
    (first seen, or made by a refresh)."""
    record, _new = seen(world, token_key, now)
    issued = datetime.fromisoformat(record.issued_at)
    return {
        "data": {
            "app_id": "sandbox",
            "type": "USER",
            "application": "publisher sandbox",
            "is_valid": not record.replaced,
            "issued_at": int(issued.timestamp()),
            "expires_at": int((issued + LIFETIME).timestamp()),
            "scopes": list(SCOPES),
            "user_id": user_id,
        }
    }
