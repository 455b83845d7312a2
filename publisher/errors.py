"""Every error publisher raises, in one shallow tree.

    PublisherError
    ├── UserError                 the user must change a file; carries Problems
    │   ├── ConfigError           config.yaml (exit 2)
    │   └── DraftError            a draft file (state invalid, exit 1)
    ├── StoreError                the job store / state_dir
    │   ├── StoreCorrupt          jobs.json cannot be read: refuse to publish, keep the file
    │   ├── StoreUnwritable       jobs.json cannot be written now (full disk, EIO): backing off
    │   ├── StateLocked           another process owns state_dir
    │   │   └── ContentLocked     another process publishes content_dir (another state_dir)
    │   └── ConcurrentEdit        the user saved a draft between our read and our write
    ├── StartFailed               `publisher run` cannot start (content_dir not watchable, ...)
    └── ApiError                  the Graph API; the subclass says what to do next
        ├── Transient             safe to retry the same call
        ├── RebuildContainer      the container is dead (ERROR/EXPIRED): make a new one
        ├── RateLimited           wait `retry_after` seconds, then retry
        ├── QuotaExhausted        the 24 h publishing quota is used up: wait, do not fail
        ├── AuthFailed            the token is invalid/expired: the account is blocked
        ├── Permanent             the draft must change: give up
        └── Ambiguous             a write may or may not have happened: reconcile, never repeat

Foreign exceptions (httpx, yaml, pydantic, OSError) are translated at the module that meets them
(`raise ... from exc`). Messages never contain the access token: API errors are built from the
Graph error body and our own words, never from `str(httpx_exception)`.

A PermissionError (raised as it is, or the cause of one of ours) reaches the user as the
sentence `permission_denied` makes: the path, and what fixes it on a box where the service
user's group holds the editors (README "Running as a service").
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

# Characters a terminal acts on rather than shows: C0/C1 controls (ESC starts a sequence that
# can rewrite the user's screen) and the bidirectional overrides that reorder what is shown.
# Newline and tab are layout, kept.
_UNSHOWN = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        *range(0x202A, 0x202F),
        0x2066,
        0x2067,
        0x2068,
        0x2069,
        0xFEFF,
    ]
}
_LAYOUT = {ord("\n"): "\n", ord("\t"): "\t"}


def printable(text: str, *, one_line: bool = False) -> str:
    """Given text that may hold what a user file holds (a key, a name, a value), return it
    with every control character written as an escape (`\\x1b`), so that printing it on a
    terminal or in a log shows the characters instead of obeying them. Newline and tab are
    kept, unless `one_line` (then `\\n`, `\\t`)."""
    return text.translate(_UNSHOWN if one_line else {**_UNSHOWN, **_LAYOUT})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user file: printed as `path: field: message`."""

    path: str
    field: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        if self.field:
            return printable(f"{self.path}: {self.field}: {prefix}{self.message}", one_line=True)
        return printable(f"{self.path}: {prefix}{self.message}", one_line=True)


class PublisherError(Exception):
    """Root of every error publisher raises on purpose."""


class UserError(PublisherError):
    """A user file must change. `problems` lists every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(UserError):
    """config.yaml (or its environment overrides) is not valid."""


class DraftError(UserError):
    """A draft file is not valid."""


class StoreError(PublisherError):
    """The job store or the state directory cannot be used."""


class StoreCorrupt(StoreError):
    """jobs.json exists but cannot be read. Never start empty over it."""


class StoreUnwritable(StoreError):
    """jobs.json cannot be written (a full disk, a read-only file system, an I/O error); the
    store says so in the log itself, once a minute, and tries again after a backoff."""


class StateLocked(StoreError):
    """Another process holds the state directory's lock."""


class ContentLocked(StateLocked):
    """Another process publishes the same content_dir from another state_dir."""


class ConcurrentEdit(StoreError):
    """The draft changed on disk between our read and our write; the user's edit wins."""


class StartFailed(PublisherError):
    """The daemon cannot start: content_dir cannot be watched, state_dir or the media host
    cannot be opened (exit 1)."""


class ApiError(PublisherError):
    """A Graph API call failed. Built only from safe parts: never the URL or the token.

    `step` is create / poll / publish / permalink / quota / account; `hint` tells the user
    what to do.
    """

    def __init__(
        self,
        message: str,
        *,
        step: str = "",
        code: int | None = None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
        container_id: str | None = None,
        http_status: int | None = None,
        hint: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.step = step
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.container_id = container_id
        self.http_status = http_status
        self.hint = hint
        self.retry_after = retry_after
        super().__init__(self.describe())

    def describe(self) -> str:
        """One sentence a user can act on: the step, Meta's ids and codes, and the fix."""
        parts = [f"{self.step} failed" if self.step else "Instagram API call failed"]
        if self.container_id:
            parts.append(f"container {self.container_id}")
        if self.code is not None:
            code = f"code {self.code}"
            if self.subcode is not None:
                code += f"/{self.subcode}"
            parts.append(code)
        if self.fbtrace_id:
            parts.append(f"fbtrace_id {self.fbtrace_id}")
        text = f"{', '.join(parts)}: {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text


class Transient(ApiError):
    """Temporary (network before sending, 5xx on a read, codes 1/2/-1...). Retry the call."""


class RebuildContainer(ApiError):
    """The container is ERROR/EXPIRED or gone: create a new one."""


class RateLimited(ApiError):
    """Throttled (codes 4, 17, 32, 613, 80001-80014, HTTP 429): wait `retry_after` seconds."""


class QuotaExhausted(ApiError):
    """The publishing quota (content_publishing_limit) is used up: wait for the window."""


class AuthFailed(ApiError):
    """The access token is missing, invalid or expired (190, 102, 10, 200-299)."""


class Permanent(ApiError):
    """Instagram rejects this content as it is: the draft must change."""


class Ambiguous(ApiError):
    """A write was sent but its outcome is unknown (timeout after send, 5xx, dropped
    connection). The caller must reconcile through the container status, never repeat it."""


# --- a PermissionError in words -----------------------------------------------------------


def permission_denied(exc: BaseException) -> str | None:
    """Given an exception, return the sentence for the PermissionError that is it or caused
    it (naming the path and the fix), or None when no PermissionError is involved."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, PermissionError):
            return _permission_sentence(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _permission_sentence(exc: PermissionError) -> str:
    raw = exc.filename
    if not isinstance(raw, str | bytes | os.PathLike):
        return (
            f"permission denied ({exc.strerror or exc}); run publisher as the service user, or "
            'as a member of its group (README "Running as a service")'
        )
    path = Path(os.fsdecode(raw))
    if os.access(path.parent, os.X_OK) and not os.path.lexists(path):
        # a file we tried to make (a temp file, a request): the folder is what refused
        head, path = f"cannot create files in {path.parent}: permission denied", path.parent
    else:
        head = f"cannot open {path}: permission denied"
    found = _nearest_stat(path)
    if found is None:
        return f"{head}; run publisher as the user who owns it, or as a member of its group"
    owner, group = _user_name(found.st_uid), _group_name(found.st_gid)
    if found.st_gid == os.getegid() or found.st_gid in os.getgroups():
        return (
            f"{head}; you are in its group '{group}', but the group may not use it: "
            f'sudo chmod g+rwX {path} (README "Running as a service")'
        )
    me = _user_name(os.geteuid())
    if me in _members(found.st_gid):
        return (
            f"{head}; you were added to the '{group}' group after you logged in: log out and "
            f"in again (or run `newgrp {group}`)"
        )
    run_as = "with sudo" if owner == "root" else f"as {owner} (sudo -u {owner} publisher ...)"
    return (
        f"{head}; run it {run_as} or add yourself to the '{group}' group "
        f"(sudo usermod -aG {group} $USER) and log in again"
    )


def _nearest_stat(path: Path) -> os.stat_result | None:
    """The stat of `path`, or of its nearest folder we may look at."""
    for candidate in (path, *path.parents):
        try:
            return os.stat(candidate)
        except OSError:
            continue
    return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _members(gid: int) -> list[str]:
    try:
        return list(grp.getgrgid(gid).gr_mem)
    except KeyError:
        return []
