"""Refreshed access tokens, kept in `state_dir/tokens/<account>` (SPEC §8 `token_refresh`).

An Instagram Login token lives 60 days. The daemon refreshes it (`daemon.tokens`) and keeps
the new one here, in a file of its own per account: mode 0600 in a 0700 folder, written
atomically, with its expiry and the fingerprint (sha256) of the configured token it stands
for. `tokens.token` uses it in preference to the configured one for as long as that
fingerprint matches, across restarts; once the configured token changes, the configured one
wins (and is refreshed in turn).

The same file remembers when the account's token was last tried (refreshed, or checked for
a Facebook Login account), so that Meta is asked at most once a day per account.

A file that cannot be read, or is not what publisher writes, is logged once and left
alone: the configured token is used and nothing crashes (the next refresh replaces it).
The token itself is never logged, and never goes anywhere else publisher writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher import logs
from publisher.store import atomicfile

log = logging.getLogger(__name__)

FOLDER = "tokens"
FORMAT_VERSION = 1
FILE_MODE = 0o600
FOLDER_MODE = 0o700

_warned: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Kept:
    """What the file holds for one account. `configured`: the fingerprint of the configured
    token this record goes with; `token`: the refreshed token, None before any refresh."""

    configured: str
    token: str | None = None
    expires_at: datetime | None = None
    refreshed_at: datetime | None = None
    tried_at: datetime | None = None

    def __repr__(self) -> str:  # never the token
        return (
            f"Kept(token={'***' if self.token else None}, expires_at={self.expires_at!r}, "
            f"refreshed_at={self.refreshed_at!r}, tried_at={self.tried_at!r})"
        )

    def tried(self, at: datetime) -> Kept:
        return replace(self, tried_at=at)


def fingerprint(token: str) -> str:
    """A token's sha256 (hex): how the file recognises the configured token, never it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def path(state_dir: Path, account: str) -> Path:
    return state_dir / FOLDER / account


def current(state_dir: Path, account: str, configured: str) -> Kept | None:
    """Given the state_dir, an account and the token its config gives it, return the kept
    record when it goes with that token; None when there is none, it cannot be read, or the
    configured token has changed since."""
    kept = read(state_dir, account)
    if kept is None or kept.configured != fingerprint(configured):
        return None
    return kept


def read(state_dir: Path, account: str) -> Kept | None:
    """The account's record, or None (missing; unreadable or not publisher's: logged once).
    A token read is registered with the log redaction at once."""
    file = path(state_dir, account)
    try:
        document = json.loads(file.read_bytes())
        kept = _parse(document)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        _warn_once(file, f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}")
        return None
    if kept.token:
        logs.register_secret(kept.token)
    return kept


def write(state_dir: Path, account: str, kept: Kept) -> None:
    """Replace the account's record, atomically, mode 0600 (its folder 0700). Raise OSError
    if it cannot be written."""
    folder = state_dir / FOLDER
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(folder, FOLDER_MODE)
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "configured_sha256": kept.configured,
        "token": kept.token,
        "expires_at": _show(kept.expires_at),
        "refreshed_at": _show(kept.refreshed_at),
        "tried_at": _show(kept.tried_at),
    }
    data = json.dumps(document, indent=1).encode("utf-8")
    atomicfile.write_bytes(path(state_dir, account), data, mode=FILE_MODE)


def _parse(document: Any) -> Kept:
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} tokens file")
    configured = document.get("configured_sha256")
    token = document.get("token")
    if not isinstance(configured, str) or not (token is None or isinstance(token, str)):
        raise ValueError("its fields are not what publisher writes")
    return Kept(
        configured=configured,
        token=token or None,
        expires_at=_moment(document.get("expires_at")),
        refreshed_at=_moment(document.get("refreshed_at")),
        tried_at=_moment(document.get("tried_at")),
    )


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a time is not text")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a time has no zone")
    return moment


def _show(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _warn_once(file: Path, why: str) -> None:
    key = (str(file), why)
    if key in _warned:
        return
    _warned.add(key)
    log.warning(
        "%s cannot be used (%s); the configured token is used instead, and the next refresh "
        "writes it anew",
        file,
        why,
    )
