"""Instagram Login's token refresh (instagram-api.md §8.1; Meta's Refresh Access Token
reference, https://developers.facebook.com/documentation/instagram-platform/reference/refresh_access_token):

    GET https://graph.instagram.com/refresh_access_token
        ?grant_type=ig_refresh_token&access_token=<long-lived token>
    -> {"access_token": "<new>", "token_type": "bearer", "expires_in": 5183944}

Meta's conditions: the token is at least 24 hours old, has not expired, and has
`instagram_business_basic`; the new one lasts 60 days from the refresh.

This is the one request publisher sends with a token in its URL, because Meta defines it so.
The URL is built here and goes nowhere else: httpx's own request log line passes through the
redacting filter (`logs.protect_libraries`, the tokens registered before the call), an
exception says what went wrong in our words (the httpx exception, which carries the URL, is
not even chained to it), redirects are never followed (the shared client), and the call is
not recorded on any job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from publisher import errors, logs
from publisher.instagram import errors as graph_errors

log = logging.getLogger(__name__)

STEP = "token"
PATH = "/refresh_access_token"


@dataclass(frozen=True)
class Refreshed:
    """The new token and how many seconds it lasts (None when Meta did not say)."""

    token: str
    expires_in: int | None

    def __repr__(self) -> str:  # never the token
        return f"Refreshed(expires_in={self.expires_in!r})"


def refresh(http: httpx.Client, host: str, token: str) -> Refreshed:
    """Given the HTTP client, the Instagram Login host (https://graph.instagram.com, or an
    account's base_url) and a long-lived token, return the refreshed token. Raise the
    classified ApiError: AuthFailed when Meta refuses the token (190: expired, revoked...),
    another ApiError for anything else (a token too new to refresh, the network)."""
    logs.protect_libraries()
    logs.register_secret(token)
    url = host.rstrip("/") + PATH
    failed: str | None = None
    try:
        response = http.get(url, params={"grant_type": "ig_refresh_token", "access_token": token})
    except httpx.HTTPError as exc:
        failed = type(exc).__name__  # raised below, outside the handler: nothing chained
    if failed is not None:
        raise errors.Transient(
            f"{failed}: the token refresh did not get through",
            step=STEP,
            hint="The network or Meta did not answer; publisher tries again later.",
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    new = body.get("access_token") if isinstance(body, dict) else None
    if response.is_success and isinstance(new, str) and new.strip():
        logs.register_secret(new)
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        lasts = (
            expires_in if isinstance(expires_in, int) and not isinstance(expires_in, bool) else None
        )
        return Refreshed(new.strip(), lasts if lasts and lasts > 0 else None)
    raise graph_errors.classify(
        http_status=response.status_code,
        body=body if graph_errors.graph_error(body) is not None else None,
        step=STEP,
        headers=response.headers,
    )
