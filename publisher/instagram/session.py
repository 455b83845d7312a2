"""One account's HTTP with the Graph API: the layer under `instagram.client`.

A `Session` sends one request (the token in the `Authorization` header only), retries it as
far as its kind allows, turns every failure into a `publisher.errors.ApiError` (nothing above
this module sees an httpx exception) and reports every attempt to `on_call` as an `ApiCall`
(path only, no query). `make_http` builds the shared `httpx.Client` it sends on.

Retry rules (RELIABILITY.md §5, §6), chosen per call by the client:
- `retry_safe`: reads and container creation, on transport errors and transient codes, a
  bounded number of times (an orphan container just expires);
- `retry_not_sent`: media_publish and comments, only when the request provably never left
  (connect errors); any other doubt raises `Ambiguous` and the caller reconciles.

Throttling is never retried here: a rate-limit answer goes back to the caller, whose job
waits for the time Meta gives (`publishing`), and the account's `usage.Pacer` keeps every
call of the account back until then. Before that, while the usage headers run high, the
pacer spaces the account's calls out (up to a minute apart, slept here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from publisher import __version__, errors, logs
from publisher.clock import Clock, Sleep, system_clock
from publisher.instagram import errors as graph_errors
from publisher.instagram import usage
from publisher.job import ApiCall

log = logging.getLogger(__name__)

USER_AGENT = f"publisher/{__version__}"
# A pacing wait up to this long is slept here; a longer one (the account is held back after
# a rate-limit answer) goes back to the caller, which records the job as retrying instead of
# holding a worker.
MAX_INLINE_WAIT = 60.0
# Backoff between retries, before scaling by `retry_wait`: 1, 2, 4, ... capped.
MAX_BACKOFF = 30.0

# The request never reached the server: safe to send again, even media_publish (§5.2).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Retry = Callable[[BaseException], bool]


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


class _NotSent(errors.Transient):
    """A transport error before the request left (connect, pool): always safe to resend."""


def retry_safe(failure: BaseException) -> bool:
    """Reads and container creation: transient failures (never a rate limit)."""
    return isinstance(failure, errors.Transient)


def retry_not_sent(failure: BaseException) -> bool:
    """media_publish and comments: only a request that never left."""
    return isinstance(failure, _NotSent)


class Session:
    """Requests to one Graph API host for one account's token. Owns nothing: the
    httpx.Client is injected (and closed by whoever made it).

    `max_retries` is the number of retries after the first attempt; the wait before retry n
    is `retry_wait * 2**(n-1)` seconds (capped). `pacer` is the account's (shared by its
    clients); None: calls are not paced.
    """

    def __init__(
        self,
        *,
        http: httpx.Client,
        base_url: str,
        api_version: str,
        token: str | None,
        on_call: Callable[[ApiCall], None] | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = system_clock,
        retry_wait: float = 1.0,
        max_retries: int = 3,
        pacer: usage.Pacer | None = None,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._path_prefix = urlsplit(self.base_url).path
        self._api_version = api_version
        self._token = token
        if token:
            logs.register_secret(token)
        self._on_call = on_call
        self._sleep = sleep
        self._clock = clock
        self._retry_wait = retry_wait
        self._max_retries = max_retries
        self._pacer = pacer

    def __repr__(self) -> str:  # no token, ever
        return f"Session(base_url={self.base_url!r})"

    def call(
        self,
        method: str,
        path: str,
        *,
        step: str,
        retry: Retry,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        container_id: str | None = None,
        expect: str | None = None,
    ) -> dict[str, Any]:
        """Send `method path` (relative to the versioned base URL) with `params` (query) or
        `data` (form), retried while `retry(failure)` says so; return the answer's JSON
        object. With `expect`, an answer without that field (or with it empty) is a failure.
        Raise the classified ApiError (`step` and `container_id` go into it)."""
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
        """One HTTP attempt, after the pacer's wait. Return the JSON object, or raise the
        classified ApiError."""
        endpoint = f"{self._path_prefix}/{self._api_version}{path}"
        self._pace(step, container_id)
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        started = self._clock()
        try:
            response = self._http.request(
                method,
                f"{self.base_url}/{self._api_version}{path}",
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

        if self._pacer is not None:
            self._pacer.answered(response.headers)
        usage_seen = usage.parsed(response.headers)
        body = _json(response)
        if (
            response.is_success
            and isinstance(body, dict)
            and graph_errors.graph_error(body) is None
            # {"id": null} is no answer: on media_publish it must reach reconciliation.
            and (expect is None or body.get(expect) not in (None, ""))
        ):
            self._record(
                method, endpoint, started, step, status=response.status_code, usage=usage_seen
            )
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
            usage=usage_seen,
        )
        if isinstance(failure, errors.RateLimited) and self._pacer is not None:
            wait = failure.retry_after or graph_errors.DEFAULT_RATE_LIMIT_WAIT
            self._pacer.hold(self._clock() + timedelta(seconds=wait))
        raise failure

    def _pace(self, step: str, container_id: str | None) -> None:
        """Wait as the account's pacer says; raise RateLimited (nothing sent) when the
        account is held back for longer than MAX_INLINE_WAIT."""
        if self._pacer is None:
            return
        wait = self._pacer.reserve(self._clock(), MAX_INLINE_WAIT)
        if wait > MAX_INLINE_WAIT:
            raise errors.RateLimited(
                "not sent: Meta throttled this account a moment ago",
                step=step,
                container_id=container_id,
                retry_after=wait,
                hint="publisher waits until Meta said access is back; calls made while "
                "throttled extend the block.",
            )
        if wait > 0:
            log.debug("pacing: waiting %.1f s before the next call (usage high)", wait)
            self._sleep(wait)

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
    if step in graph_errors.AMBIGUOUS_STEPS:
        return errors.Ambiguous(
            f"{name} after sending {endpoint}", hint=graph_errors.ambiguous_hint(step), **fields
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


def _error_tag(failure: errors.ApiError) -> str:
    if failure.code is not None:
        return (
            f"{failure.code}/{failure.subcode}"
            if failure.subcode is not None
            else str(failure.code)
        )
    return f"HTTP {failure.http_status}"
