"""The Graph API over HTTP: one `Client` per account, on an injected `httpx.Client`.

Each method is one Graph API call (retried where that is safe) and returns plain data or
raises a `publisher.errors.ApiError` subclass chosen by `instagram.errors.classify`. Nothing
above this module sees an httpx exception.

Safety rules kept here (RELIABILITY.md §5, §6):
- the token travels only in `Authorization: Bearer ...`, never in a URL or a form field;
- `media_publish` is retried only when the request provably never left (connect errors);
  any other doubt raises `Ambiguous` and the caller reconciles through the container status;
- container creation and reads are retried on transport errors and transient codes, a
  bounded number of times (an orphan container just expires);
- every HTTP attempt is reported to `on_call` as an `ApiCall` (path only, no query).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from publisher import __version__, errors, logs
from publisher.clock import Clock, Sleep, system_clock
from publisher.instagram import errors as graph_errors
from publisher.job import ApiCall

log = logging.getLogger(__name__)

USER_AGENT = f"publisher/{__version__}"
MEDIA_FIELDS = "id,permalink,shortcode,timestamp,media_type,media_product_type"
LISTING_FIELDS = "id,caption,timestamp,permalink,media_product_type"
# A rate-limit wait up to this long is slept here; a longer one goes back to the caller,
# which records the job as retrying instead of holding a worker.
MAX_INLINE_WAIT = 60.0
# Backoff between retries, before scaling by `retry_wait`: 1, 2, 4, ... capped.
MAX_BACKOFF = 30.0

# The request never reached the server: safe to send again, even media_publish (§5.2).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_USAGE_HEADERS = ("x-app-usage", "x-business-use-case-usage")


def timeouts() -> httpx.Timeout:
    """Every timeout explicit: httpx's default is 5 s for all four, too short for a
    media_publish that may succeed after 5 s (RELIABILITY.md §5.1)."""
    return httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)


def make_http(**kwargs: Any) -> httpx.Client:
    """Return an httpx.Client for the Graph API: `timeouts()`, our User-Agent, and redirects
    never followed (a redirect could carry the Authorization header elsewhere). Keyword
    arguments go to httpx.Client (a `transport` in tests)."""
    headers = httpx.Headers({"User-Agent": USER_AGENT})
    headers.update(kwargs.pop("headers", None) or {})
    kwargs.setdefault("timeout", timeouts())
    kwargs["follow_redirects"] = False
    return httpx.Client(headers=headers, **kwargs)


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


class _NotSent(errors.Transient):
    """A transport error before the request left (connect, pool): always safe to resend."""


class Client:
    """The Graph API for one Instagram account. Owns nothing: the httpx.Client is injected
    (and closed by whoever made it).

    `api` is the flavour (instagram | facebook | sandbox); when None it is "instagram" for
    graph.instagram.com and "facebook" otherwise. `max_retries` is the number of retries after
    the first attempt; the wait before retry n is `retry_wait * 2**(n-1)` seconds (capped), or
    Meta's Retry-After / estimated_time_to_regain_access when throttled.
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
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._path_prefix = urlsplit(self._base_url).path
        self._api_version = api_version
        self._ig_user_id = ig_user_id
        self._token = token
        if token:
            logs.register_secret(token)
        self._on_call = on_call
        self._sleep = sleep
        self._clock = clock
        self._retry_wait = retry_wait
        self._max_retries = max_retries
        host = urlsplit(self._base_url).hostname or ""
        self.api = api or ("instagram" if host == "graph.instagram.com" else "facebook")

    def __repr__(self) -> str:  # no token, ever
        return f"Client(api={self.api!r}, ig_user_id={self._ig_user_id!r})"

    # --- the calls ------------------------------------------------------------------------

    def create_container(self, params: Mapping[str, str]) -> str:
        """POST /{ig-user-id}/media with `params` (from `instagram.payloads`); return the
        container id. Retried on transport errors, transient codes and short rate limits.
        Raise the classified ApiError otherwise."""
        if "access_token" in params:
            raise ValueError("the token goes in the Authorization header, not the parameters")
        body = self._call(
            "POST",
            f"/{self._ig_user_id}/media",
            step="create",
            data=dict(params),
            expect="id",
            retry=_retry_safe,
        )
        return str(body["id"])

    def container_status(self, container_id: str) -> ContainerStatus:
        """GET /{container-id}?fields=status_code,status. Retried freely (a read)."""
        body = self._call(
            "GET",
            f"/{container_id}",
            step="poll",
            params={"fields": "status_code,status"},
            container_id=container_id,
            expect="status_code",
            retry=_retry_safe,
        )
        status = body.get("status")
        return ContainerStatus(str(body["status_code"]), str(status) if status else None)

    def publish(self, container_id: str) -> str:
        """POST /{ig-user-id}/media_publish creation_id=<container_id>; return the media id.

        Retried only when the request never left (ConnectError, ConnectTimeout, PoolTimeout).
        Raise `Ambiguous` when it may have been published (a timeout or dropped connection
        after sending, a 5xx, an answer without an id): the caller must reconcile, never
        repeat. A "not ready" 9007/2207027 raises `Transient` (nothing was published).
        """
        body = self._call(
            "POST",
            f"/{self._ig_user_id}/media_publish",
            step=graph_errors.PUBLISH_STEP,
            data={"creation_id": container_id},
            container_id=container_id,
            expect="id",
            retry=_retry_not_sent,
        )
        return str(body["id"])

    def media(self, media_id: str, fields: str = MEDIA_FIELDS) -> dict[str, Any]:
        """GET /{ig-media-id}?fields=...; return Meta's object (permalink, shortcode...)."""
        return self._call(
            "GET",
            f"/{media_id}",
            step="permalink",
            params={"fields": fields},
            expect="id",
            retry=_retry_safe,
        )

    def recent_media(
        self, since: datetime, *, stories: bool = False, limit: int = 50, max_pages: int = 5
    ) -> list[dict[str, Any]]:
        """Return the account's media (or stories) with a `timestamp` at or after `since`
        (aware), newest first, each with id, caption, timestamp, permalink and
        media_product_type. Pages are followed by their `after` cursor only (a `paging.next`
        URL is never sent: it may carry a token), at most `max_pages` of them."""
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime")
        path = f"/{self._ig_user_id}/{'stories' if stories else 'media'}"
        params = {"fields": LISTING_FIELDS, "limit": str(limit)}
        found: list[dict[str, Any]] = []
        for _ in range(max_pages):
            body = self._call(
                "GET", path, step="reconcile", params=params, expect="data", retry=_retry_safe
            )
            items = body["data"] if isinstance(body["data"], list) else []
            older_seen = False
            for item in items:
                if not isinstance(item, dict):
                    continue
                taken = parse_timestamp(item.get("timestamp"))
                if taken is None:
                    log.debug("reconcile: skipping media %s without a timestamp", item.get("id"))
                elif taken >= since:
                    found.append(item)
                else:
                    older_seen = True
            cursor = _next_cursor(body)
            # /media is newest first: once older items appear, later pages hold only older.
            if cursor is None or (older_seen and not stories):
                break
            params = {**params, "after": cursor}
        return found

    def publishing_limit(self) -> Quota:
        """GET /{ig-user-id}/content_publishing_limit?fields=config,quota_usage (data[0])."""
        body = self._call(
            "GET",
            f"/{self._ig_user_id}/content_publishing_limit",
            step="quota",
            params={"fields": "config,quota_usage"},
            expect="data",
            retry=_retry_safe,
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
            body = self._call(
                "GET",
                "/me",
                step="account",
                params={"fields": "user_id,username"},
                retry=_retry_safe,
            )
            data = body.get("data")
            if isinstance(data, list) and data and isinstance(data[0], dict):
                body = data[0]
            user_id = body.get("user_id")
        else:
            body = self._call(
                "GET",
                f"/{self._ig_user_id}",
                step="account",
                params={"fields": "id,username"},
                retry=_retry_safe,
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
        body = self._call("GET", "/debug_token", step="account", expect="data", retry=_retry_safe)
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

    # --- one call, retried --------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        step: str,
        retry: Callable[[BaseException], bool],
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        container_id: str | None = None,
        expect: str | None = None,
    ) -> dict[str, Any]:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._max_retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception(retry),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        result: dict[str, Any] = retrying(
            self._send,
            method,
            path,
            step=step,
            params=params,
            data=data,
            container_id=container_id,
            expect=expect,
        )
        return result

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, errors.RateLimited) and failure.retry_after is not None:
            return failure.retry_after  # Meta's own figure: never scaled down
        backoff: float = min(2.0 ** (state.attempt_number - 1), MAX_BACKOFF)
        return backoff * self._retry_wait

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        # describe() is built from Meta's body and our words only: safe to log.
        text = failure.describe() if isinstance(failure, errors.ApiError) else type(failure)
        log.warning(
            "%s; retrying in %.1f s (attempt %d of %d)",
            text,
            wait,
            state.attempt_number + 1,
            self._max_retries + 1,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        step: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        container_id: str | None,
        expect: str | None,
    ) -> dict[str, Any]:
        """One HTTP attempt. Return the JSON object, or raise the classified ApiError."""
        endpoint = f"{self._path_prefix}/{self._api_version}{path}"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        started = self._clock()
        try:
            response = self._http.request(
                method,
                f"{self._base_url}/{self._api_version}{path}",
                params=dict(params) if params else None,
                data=dict(data) if data else None,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            self._record(method, endpoint, started, step, status=None, error=type(exc).__name__)
            raise _transport_error(exc, step, container_id, endpoint) from exc
        except httpx.InvalidURL as exc:
            self._record(method, endpoint, started, step, status=None, error=type(exc).__name__)
            raise errors.Permanent(
                f"the API address for {endpoint} is not a valid URL",
                step=step,
                container_id=container_id,
                hint="Check the account's base_url and ig_user_id in config.yaml.",
            ) from exc

        usage = _usage(response.headers)
        body = _json(response)
        if (
            response.is_success
            and isinstance(body, dict)
            and graph_errors.graph_error(body) is None
            # {"id": null} is no answer: on media_publish it must reach reconciliation.
            and (expect is None or body.get(expect) not in (None, ""))
        ):
            self._record(method, endpoint, started, step, status=response.status_code, usage=usage)
            return body
        failure = graph_errors.classify(
            http_status=response.status_code,
            body=body if graph_errors.graph_error(body) is not None else None,
            step=step,
            container_id=container_id,
            headers=response.headers,
        )
        self._record(
            method,
            endpoint,
            started,
            step,
            status=response.status_code,
            error=_error_tag(failure),
            usage=usage,
        )
        raise failure

    def _record(
        self,
        method: str,
        endpoint: str,
        started: datetime,
        step: str,
        *,
        status: int | None,
        error: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        duration_ms = (self._clock() - started).total_seconds() * 1000
        log.debug(
            "%s %s (%s) -> %s in %.0f ms%s",
            method,
            endpoint,
            step,
            status if status is not None else "no response",
            duration_ms,
            f" [{error}]" if error else "",
        )
        if self._on_call is None:
            return
        call = ApiCall(
            at=started,
            method=method,
            endpoint=endpoint,
            status=status,
            duration_ms=round(duration_ms, 1),
            step=step,
            error=error,
            usage=usage,
        )
        try:
            self._on_call(call)
        except Exception as exc:  # bookkeeping must never turn a published post into a failure
            log.warning("could not record the API call %s %s: %s", method, endpoint, exc)


# --- helpers over one response ----------------------------------------------------------


def _retry_safe(failure: BaseException) -> bool:
    """Reads and container creation: transient failures and short rate limits."""
    if isinstance(failure, errors.RateLimited):
        return (failure.retry_after or 0.0) <= MAX_INLINE_WAIT
    return isinstance(failure, errors.Transient)


def _retry_not_sent(failure: BaseException) -> bool:
    """media_publish: only a request that never left."""
    return isinstance(failure, _NotSent)


def _transport_error(
    exc: httpx.HTTPError, step: str, container_id: str | None, endpoint: str
) -> errors.ApiError:
    """Translate an httpx exception into our tree. Its text (which holds the URL) is never
    used; only its class name and our own words."""
    name = type(exc).__name__
    fields: dict[str, Any] = {"step": step, "container_id": container_id}
    if isinstance(exc, _NOT_SENT):
        return _NotSent(
            f"{name}: could not reach the API for {endpoint}",
            hint="Check the network connection and DNS; publisher retries it by itself.",
            **fields,
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return errors.Permanent(
            f"{name}: the API address for {endpoint} is not http(s)",
            hint="Check the account's base_url in config.yaml.",
            **fields,
        )
    if step == graph_errors.PUBLISH_STEP:
        return errors.Ambiguous(
            f"{name} after sending {endpoint}", hint=graph_errors.AMBIGUOUS_HINT, **fields
        )
    return errors.Transient(
        f"{name} during {endpoint}",
        hint="The network or Meta was slow or dropped the connection; publisher retries it "
        "by itself.",
        **fields,
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON (a proxy's HTML page), or nested too deep
        return None


def _usage(headers: httpx.Headers) -> dict[str, Any] | None:
    usage: dict[str, Any] = {}
    for name in _USAGE_HEADERS:
        raw = headers.get(name)
        if raw:
            try:
                usage[name] = json.loads(raw)
            except ValueError:
                log.debug("unparsable %s header ignored", name)
    return usage or None


def _error_tag(failure: errors.ApiError) -> str:
    if failure.code is not None:
        return (
            f"{failure.code}/{failure.subcode}"
            if failure.subcode is not None
            else str(failure.code)
        )
    return f"HTTP {failure.http_status}"


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
