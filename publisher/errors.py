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
"""

from __future__ import annotations

from dataclasses import dataclass


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
            return f"{self.path}: {self.field}: {prefix}{self.message}"
        return f"{self.path}: {prefix}{self.message}"


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
