"""The Graph API calls of one Instagram account: `Client`, over an `instagram.session`.

Each method is one Graph API call (retried where that is safe, see `session`) and returns
plain data or raises a `publisher.errors.ApiError` subclass chosen by
`instagram.errors.classify`. Nothing above this module sees httpx.

Safety rules kept here and in `session` (RELIABILITY.md §5, §6):
- the token travels only in `Authorization: Bearer ...`, never in a URL or a form field;
- `media_publish` is retried only when the request provably never left (connect errors);
  any other doubt raises `Ambiguous` and the caller reconciles through the container status;
- container creation and reads are retried on transport errors and transient codes, a
  bounded number of times (an orphan container just expires); a rate limit never is;
- a listing's `paging.next` URL is never followed (it may carry a token): only its cursor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from publisher import errors
from publisher.clock import Clock, Sleep, system_clock
from publisher.instagram import errors as graph_errors
from publisher.instagram import usage
from publisher.instagram.session import Session, retry_not_sent, retry_safe
from publisher.job import ApiCall

log = logging.getLogger(__name__)

MEDIA_FIELDS = "id,permalink,shortcode,timestamp,media_type,media_product_type"
LISTING_FIELDS = "id,caption,timestamp,permalink,media_product_type"
COMMENT_FIELDS = "id,text,username,timestamp"


@dataclass(frozen=True)
class ContainerStatus:
    """A container's `status_code` (IN_PROGRESS, FINISHED, PUBLISHED, ERROR, EXPIRED) and
    Meta's `status` text (on ERROR it holds the subcode)."""

    status_code: str
    status: str | None


@dataclass(frozen=True)
class Quota:
    """content_publishing_limit: posts published in the window, the cap, the window."""

    used: int
    total: int
    duration_s: int


class Client:
    """The Graph API for one Instagram account. Owns nothing: the httpx.Client is injected
    (and closed by whoever made it).

    `api` is the flavour (instagram | facebook | sandbox); when None it is "instagram" for
    graph.instagram.com and "facebook" otherwise. `max_retries` is the number of retries after
    the first attempt; the wait before retry n is `retry_wait * 2**(n-1)` seconds (capped).
    `pacer`: the account's call pacing (`instagram.usage`), shared by its clients; a
    rate-limit answer is never retried here (RateLimited goes to the caller).
    """

    def __init__(
        self,
        *,
        http: httpx.Client,
        base_url: str,
        api_version: str,
        ig_user_id: str,
        token: str | None,
        on_call: Callable[[ApiCall], None] | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = system_clock,
        retry_wait: float = 1.0,
        max_retries: int = 3,
        api: str | None = None,
        pacer: usage.Pacer | None = None,
    ) -> None:
        self._session = Session(
            http=http,
            base_url=base_url,
            api_version=api_version,
            token=token,
            on_call=on_call,
            sleep=sleep,
            clock=clock,
            retry_wait=retry_wait,
            max_retries=max_retries,
            pacer=pacer,
        )
        self._ig_user_id = ig_user_id
        host = urlsplit(self._session.base_url).hostname or ""
        self.api = api or ("instagram" if host == "graph.instagram.com" else "facebook")

    def __repr__(self) -> str:  # no token, ever
        return f"Client(api={self.api!r}, ig_user_id={self._ig_user_id!r})"

    @property
    def lists_stories(self) -> bool:
        """True when this account's stories can be listed: Meta documents
        `GET /{ig-user-id}/stories` for Facebook Login only (IG User Stories reference,
        https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/stories),
        so not with Instagram Login (the sandbox lists them for either)."""
        return self.api != "instagram"

    # --- the calls ------------------------------------------------------------------------

    def insights(self, media_id: str, metrics: Sequence[str]) -> dict[str, int]:
        """GET /{ig-media-id}/insights?metric=...; return {metric: value} for the metrics
        Meta gave (one it has no data for yet is left out, as Meta leaves it out). Needs
        the insights permission (Instagram Media Insights reference,
        https://developers.facebook.com/documentation/instagram-platform/reference/instagram-media/insights).
        Raise the classified ApiError."""
        body = self._session.call(
            "GET",
            f"/{media_id}/insights",
            step="insights",
            params={"metric": ",".join(metrics)},
            expect="data",
            retry=retry_safe,
        )
        found: dict[str, int] = {}
        for item in body["data"] if isinstance(body["data"], list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            value = _metric_value(item)
            if value is not None:
                found[item["name"]] = value
        return found

    def create_container(self, params: Mapping[str, str]) -> str:
        """POST /{ig-user-id}/media with `params` (from `instagram.payloads`); return the
        container id. Retried on transport errors, transient codes and short rate limits.
        Raise the classified ApiError otherwise."""
        if "access_token" in params:
            raise ValueError("the token goes in the Authorization header, not the parameters")
        body = self._session.call(
            "POST",
            f"/{self._ig_user_id}/media",
            step="create",
            data=dict(params),
            expect="id",
            retry=retry_safe,
        )
        return str(body["id"])

    def container_status(self, container_id: str) -> ContainerStatus:
        """GET /{container-id}?fields=status_code,status. Retried freely (a read)."""
        body = self._session.call(
            "GET",
            f"/{container_id}",
            step="poll",
            params={"fields": "status_code,status"},
            container_id=container_id,
            expect="status_code",
            retry=retry_safe,
        )
        status = body.get("status")
        return ContainerStatus(str(body["status_code"]), str(status) if status else None)

    def upload_progress(self, container_id: str) -> int:
        """GET /{container-id}?fields=video_status: the bytes Meta holds of a resumable
        upload (`uploading_phase.bytes_transferred`; 0 when it says nothing), where the
        next upload POST starts (instagram-api.md §2.3). Retried freely (a read)."""
        body = self._session.call(
            "GET",
            f"/{container_id}",
            step="poll",  # a read of the container, like a status poll
            params={"fields": "video_status"},
            container_id=container_id,
            retry=retry_safe,
        )
        status = body.get("video_status")
        phase = status.get("uploading_phase") if isinstance(status, dict) else None
        sent = phase.get("bytes_transferred") if isinstance(phase, dict) else None
        return _count(sent)

    def publish(self, container_id: str) -> str:
        """POST /{ig-user-id}/media_publish creation_id=<container_id>; return the media id.

        Retried only when the request never left (ConnectError, ConnectTimeout, PoolTimeout).
        Raise `Ambiguous` when it may have been published (a timeout or dropped connection
        after sending, a 5xx, an answer without an id): the caller must reconcile, never
        repeat. A "not ready" 9007/2207027 raises `Transient` (nothing was published).
        """
        body = self._session.call(
            "POST",
            f"/{self._ig_user_id}/media_publish",
            step=graph_errors.PUBLISH_STEP,
            data={"creation_id": container_id},
            container_id=container_id,
            expect="id",
            retry=retry_not_sent,
        )
        return str(body["id"])

    def media(self, media_id: str, fields: str = MEDIA_FIELDS) -> dict[str, Any]:
        """GET /{ig-media-id}?fields=...; return Meta's object (permalink, shortcode...)."""
        return self._session.call(
            "GET",
            f"/{media_id}",
            step="permalink",
            params={"fields": fields},
            expect="id",
            retry=retry_safe,
        )

    def recent_media(
        self, since: datetime, *, stories: bool = False, limit: int = 50, max_pages: int = 5
    ) -> list[dict[str, Any]]:
        """Return the account's media (or stories) with a `timestamp` at or after `since`
        (aware), newest first, each with id, caption, timestamp, permalink and
        media_product_type. Pages are followed by their `after` cursor only (a `paging.next`
        URL is never sent: it may carry a token), at most `max_pages` of them. Raise
        ValueError for stories where they cannot be listed (`lists_stories`)."""
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime")
        if stories and not self.lists_stories:
            raise ValueError("Instagram Login has no documented way to list stories")
        path = f"/{self._ig_user_id}/{'stories' if stories else 'media'}"
        params = {"fields": LISTING_FIELDS, "limit": str(limit)}
        found: list[dict[str, Any]] = []
        for items in self._pages(path, params, step="reconcile", max_pages=max_pages):
            older_seen = False
            for item in items:
                taken = parse_timestamp(item.get("timestamp"))
                if taken is None:
                    log.debug("reconcile: skipping media %s without a timestamp", item.get("id"))
                elif taken >= since:
                    found.append(item)
                else:
                    older_seen = True
            # /media is newest first: once older items appear, later pages hold only older.
            if older_seen and not stories:
                break
        return found

    def comment(self, media_id: str, message: str) -> str:
        """POST /{ig-media-id}/comments message=<message>, as the account; return the new
        comment's id. Never with `fields` (a scheduler saw the comment made, then a 400,
        LESSONS.md). Retried only when the request never left; any other doubt raises
        `Ambiguous`: the caller lists the comments (`comments`) before another POST."""
        body = self._session.call(
            "POST",
            f"/{media_id}/comments",
            step=graph_errors.COMMENT_STEP,
            data={"message": message},
            expect="id",
            retry=retry_not_sent,
        )
        return str(body["id"])

    def comments(
        self, media_id: str, *, limit: int = 50, max_pages: int = 5
    ) -> list[dict[str, Any]]:
        """GET /{ig-media-id}/comments?fields=id,text,username,timestamp: the post's
        comments (at most `max_pages` pages of `limit`), as Meta lists them."""
        params = {"fields": COMMENT_FIELDS, "limit": str(limit)}
        path = f"/{media_id}/comments"
        return [
            item
            for items in self._pages(path, params, step="comments", max_pages=max_pages)
            for item in items
        ]

    def _pages(
        self, path: str, params: dict[str, str], *, step: str, max_pages: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the objects of each page of a listing. Pages are followed by their `after`
        cursor only (a `paging.next` URL is never sent: it may carry a token), at most
        `max_pages` of them."""
        for _ in range(max_pages):
            body = self._session.call(
                "GET", path, step=step, params=params, expect="data", retry=retry_safe
            )
            data = body["data"] if isinstance(body["data"], list) else []
            yield [item for item in data if isinstance(item, dict)]
            cursor = _next_cursor(body)
            if cursor is None:
                return
            params = {**params, "after": cursor}

    def publishing_limit(self) -> Quota:
        """GET /{ig-user-id}/content_publishing_limit?fields=config,quota_usage (data[0])."""
        body = self._session.call(
            "GET",
            f"/{self._ig_user_id}/content_publishing_limit",
            step="quota",
            params={"fields": "config,quota_usage"},
            expect="data",
            retry=retry_safe,
        )
        entries = body["data"]
        entry = entries[0] if isinstance(entries, list) and entries else None
        config = entry.get("config") if isinstance(entry, dict) else None
        total = config.get("quota_total") if isinstance(config, dict) else None
        if not isinstance(entry, dict) or not isinstance(config, dict) or total is None:
            raise errors.Transient(
                "content_publishing_limit answered without config.quota_total",
                step="quota",
                http_status=200,
                hint="Meta's answer had an unexpected shape; publisher asks again later.",
            )
        return Quota(
            used=_count(entry.get("quota_usage")),
            total=_count(total),
            duration_s=_count(config.get("quota_duration")) or 86400,
        )

    def me(self) -> dict[str, Any]:
        """Return {"id": <Instagram user id>, "username": ...} for the token's account.

        Instagram Login: GET /me?fields=user_id,username (`user_id`, not the app-scoped `id`;
        the answer may be wrapped in data[]). Facebook Login and the sandbox:
        GET /{ig-user-id}?fields=id,username. Raise AuthFailed if the token is refused."""
        if self.api == "instagram":
            body = self._session.call(
                "GET",
                "/me",
                step="account",
                params={"fields": "user_id,username"},
                retry=retry_safe,
            )
            data = body.get("data")
            if isinstance(data, list) and data and isinstance(data[0], dict):
                body = data[0]
            user_id = body.get("user_id")
        else:
            body = self._session.call(
                "GET",
                f"/{self._ig_user_id}",
                step="account",
                params={"fields": "id,username"},
                retry=retry_safe,
            )
            user_id = body.get("id")
        username = body.get("username")
        return {
            "id": str(user_id) if user_id is not None else None,
            "username": str(username) if username is not None else None,
        }

    def token_info(self) -> dict[str, Any] | None:
        """Best effort: {"is_valid", "expires_at" (aware datetime, None = never), "scopes"}
        where the API tells it, else None.

        Meta's only expiry lookup (`debug_token?input_token=...`) needs the token in the URL,
        which publisher never does, so for instagram/facebook this returns None without a
        call. The sandbox answers GET /debug_token from the Authorization header alone."""
        if self.api != "sandbox":
            return None
        body = self._session.call(
            "GET", "/debug_token", step="account", expect="data", retry=retry_safe
        )
        data = body["data"] if isinstance(body["data"], dict) else {}
        expires = data.get("expires_at")
        expires_at = (
            datetime.fromtimestamp(expires, UTC)
            if isinstance(expires, int | float) and not isinstance(expires, bool) and expires
            else None
        )
        scopes = data.get("scopes")
        return {
            "is_valid": bool(data.get("is_valid", True)),
            "expires_at": expires_at,
            "scopes": [str(scope) for scope in scopes] if isinstance(scopes, list) else [],
        }


# --- helpers over one answer ---------------------------------------------------------


def _count(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def _next_cursor(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return str(after) if after else None


def parse_timestamp(value: Any) -> datetime | None:
    """Meta's `timestamp` ("2019-09-26T22:36:43+0000") -> aware datetime, or None."""
    if not isinstance(value, str):
        return None
    for parse in (
        lambda text: datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z"),
        datetime.fromisoformat,
    ):
        try:
            moment = parse(value)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _metric_value(item: Mapping[str, Any]) -> int | None:
    """One metric of an insights answer: `values[0].value` (lifetime metrics), or
    `total_value.value` (the shape of newer metrics); None when neither is a number."""
    values = item.get("values")
    candidates: list[Any] = []
    if isinstance(values, list) and values and isinstance(values[0], Mapping):
        candidates.append(values[0].get("value"))
    total = item.get("total_value")
    if isinstance(total, Mapping):
        candidates.append(total.get("value"))
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
