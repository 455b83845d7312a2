"""What a Graph API failure means and what to do about it: ONE table, each row with its source.

`classify(...)` turns an HTTP answer (or its absence) into a `publisher.errors.ApiError`
subclass that says what to do next: retry (`Transient`), make a new container
(`RebuildContainer`), wait (`RateLimited`, `QuotaExhausted`), re-authenticate (`AuthFailed`),
give up (`Permanent`), or reconcile (`Ambiguous`, only for `media_publish`). Errors are
classified by Meta's `code` AND `error_subcode`, never by HTTP status: nearly every Instagram
publishing error is an HTTP 400 (instagram-api.md §7.1).

`container_failed(...)` does the same for a container whose `status_code` is ERROR/EXPIRED.

Sources (instagram-api.md "Sources"): [ERR] Instagram Error Codes page; [GERR] Graph API
Handling Errors; [RL] Rate Limits; [CODE: POSTIZ], [CODE: MIXPOST] open-source schedulers;
[3P] third-party reports. Every message is built from Meta's error body and our own words,
passed through `logs.redact`; never from an httpx exception (which carries the URL).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from publisher import errors, logs
from publisher.instagram import usage

# Seconds to wait when throttled and Meta gives no estimate (instagram-api.md §7.4).
DEFAULT_RATE_LIMIT_WAIT = 60.0
# A server's figure beyond a day is not believed (nor is "inf").
MAX_RATE_LIMIT_WAIT = 86400.0
# Steps that only read: an error there never means something was published.
READ_STEPS = frozenset(
    {"poll", "permalink", "reconcile", "quota", "account", "media", "comments", "token"}
)
PUBLISH_STEP = "publish"
COMMENT_STEP = "comment"
# Writes that are never sent twice: a doubt about them is `Ambiguous`, and the caller looks
# at what Meta has before anything else (a container can be made twice: an orphan expires).
AMBIGUOUS_STEPS = frozenset({PUBLISH_STEP, COMMENT_STEP})
AMBIGUOUS_HINT = (
    "The post may or may not have gone out; publisher checks the container's status "
    "before doing anything else and never publishes it twice."
)
AMBIGUOUS_COMMENT_HINT = (
    "The comment may or may not have been made; publisher lists the post's comments before "
    "doing anything else and never comments twice."
)
_THROTTLED = (
    "Meta's usage headers say a call budget is used up; publisher waits until Meta says "
    "access is back (calls made while throttled extend the block)."
)


def ambiguous_hint(step: str) -> str:
    """What a user is told about a doubtful write of this step."""
    return AMBIGUOUS_COMMENT_HINT if step == COMMENT_STEP else AMBIGUOUS_HINT


@dataclass(frozen=True)
class Rule:
    """One row: Meta codes (None = any) and subcodes (None = any) -> what to do."""

    codes: frozenset[int] | None
    subcodes: frozenset[int] | None
    kind: type[errors.ApiError]
    hint: str
    source: str
    wait: float | None = None  # RateLimited: seconds to wait when Meta gives no estimate
    on_read: type[errors.ApiError] | None = None  # a different class on read steps
    nothing_published: bool = False  # on media_publish: certainly not published

    def matches(self, code: int | None, subcode: int | None) -> bool:
        if self.codes is not None and code not in self.codes:
            return False
        return self.subcodes is None or subcode in self.subcodes

    @property
    def specificity(self) -> int:
        # code+subcode beats subcode alone (undocumented subcodes seen with several codes),
        # which beats code alone.
        return (2 if self.subcodes is not None else 0) + (1 if self.codes is not None else 0)


def _row(
    codes: int | range | tuple[int, ...] | None,
    subcodes: int | tuple[int, ...] | None,
    kind: type[errors.ApiError],
    source: str,
    hint: str,
    **extra: Any,
) -> Rule:
    def as_set(value: int | range | tuple[int, ...] | None) -> frozenset[int] | None:
        if value is None:
            return None
        if isinstance(value, int):
            return frozenset({value})
        return frozenset(value)

    return Rule(as_set(codes), as_set(subcodes), kind, hint, source, **extra)


_RETRIED = "publisher retries it by itself."
_NEW_TOKEN = (
    "Create a new long-lived token and give it to publisher "
    "(PUBLISHER_ACCOUNTS__<NAME>__ACCESS_TOKEN, access_token_file or LoadCredential), "
    "then check it with `publisher accounts`."
)
_FETCH = (
    "Instagram could not download the media from its URL (the URL is in Meta's message). "
    "It must be reachable from the internet without login or cookies and answer with the "
    "media itself (image/jpeg, video/mp4), not an HTML page; check media.public_url. " + _RETRIED
)

E = errors
# fmt: off
TABLE: tuple[Rule, ...] = (
    # --- Instagram publishing errors, code / subcode (instagram-api.md §7.2) ---------------
    _row(-2, 2207003, E.Transient, "[ERR]",
         "Instagram timed out downloading the media; " + _RETRIED
         + " If it repeats, make sure the media URL answers quickly."),
    _row(-2, 2207020, E.RebuildContainer, "[ERR]",
         "The container expired before it was published; publisher creates a new one."),
    _row(-1, 2207001, E.Transient, "[ERR]", "Instagram had a server error; " + _RETRIED),
    _row(-1, 2207032, E.Transient, "[ERR]",
         "Instagram could not create the container; " + _RETRIED),
    _row(-1, 2207053, E.RebuildContainer, "[ERR]",
         "The video upload failed on Instagram's side; publisher creates a new container. "
         "If it repeats, re-encode the video as MP4 (H.264 video, AAC audio)."),
    _row(1, 2207057, E.Permanent, "[ERR]",
         "thumb_offset is not inside the video: set it in milliseconds, below the video's "
         "length."),
    _row(4, 2207051, E.Permanent, "[ERR] [CODE: POSTIZ PR #1681]",
         "Instagram restricted this account's activity as suspected spam. Open the Instagram "
         "app and check whether the post went out anyway (it sometimes does) BEFORE retrying; "
         "publisher does not retry this by itself."),
    _row(9, 2207042, E.QuotaExhausted, "[ERR]",
         "The account reached its publishing limit for the last 24 hours; the post waits "
         "until the window frees (see `publisher accounts`)."),
    _row(24, 2207006, E.RebuildContainer, "[ERR]",
         "Instagram cannot find the container (expired, or the token lost access); publisher "
         "creates a new one. If it repeats, check the token with `publisher accounts`."),
    _row(24, 2207008, E.Transient, "[ERR]",
         "Instagram's media builder was not ready; " + _RETRIED
         + " If it repeats, a new container is made."),
    # [ERR] says "permanent"; LESSONS.md (postiz #2054): a restricted account fails every
    # post, so block the account (pause its drafts, tell the user once) instead.
    _row(25, 2207050, E.AuthFailed, "[ERR] [3P: postiz #2054]",
         "The Instagram account is restricted or checkpointed: open the Instagram app and "
         "complete what it asks; the account's drafts wait until then."),
    _row(100, 2207023, E.Permanent, "[ERR]",
         "Instagram does not accept this media type: check the draft's `type` and media."),
    _row(100, 2207028, E.Permanent, "[ERR]",
         "A carousel takes 2 to 10 items: change the draft's `media` list."),
    _row(100, (2207035, 2207036, 2207037), E.Permanent, "[ERR]",
         "Instagram rejected the product tags: remove them or fix the catalog permissions."),
    _row(100, 2207040, E.Permanent, "[ERR]",
         "The caption has more than 20 @-mentions: remove some."),
    _row(352, 2207026, E.Permanent, "[ERR]",
         "The video format is not supported: re-encode it as MP4 (H.264, AAC, moov atom at "
         "the front, 23-60 fps)."),
    _row(9004, 2207052, E.Transient, "[ERR] [3P: mixpost #197]", _FETCH),
    _row(9007, 2207027, E.Transient, "[ERR] [3P: meta-mcp #138]",
         "The container was not ready to publish (nothing was published); publisher waits "
         "for FINISHED and publishes then.",
         nothing_published=True),
    _row(36000, 2207004, E.Permanent, "[ERR]",
         "The image is larger than 8 MiB: recompress it."),
    _row(36001, 2207005, E.Permanent, "[ERR]",
         "The image format is not supported: use a baseline JPEG (not PNG, HEIC or MPO)."),
    _row(36003, 2207009, E.Permanent, "[ERR]",
         "The image's aspect ratio must be between 4:5 and 1.91:1: crop it."),
    _row(36004, 2207010, E.Permanent, "[ERR]",
         "The caption is too long (at most 2200 characters): shorten it."),
    # --- undocumented subcodes seen with several codes -------------------------------------
    _row(None, 2207081, E.Permanent, "[CODE: POSTIZ]",
         "This account cannot publish trial reels: remove that option from the draft."),
    _row(None, 2207018, E.Permanent, "[CODE: POSTIZ]",
         "A collaborator cannot be tagged (wrong username, private or ineligible account): "
         "fix `collaborators` (usernames without @)."),
    _row(None, 2207076, E.Transient, "[3P]",
         "The video URL was too slow to answer; " + _RETRIED
         + " Serve the file directly, not transcoded on first request."),
    _row(None, 2207077, E.Permanent, "[3P]",
         "Instagram could not fetch the video: the server at the media URL must support HTTP "
         "Range requests."),
    _row(None, (2207082, 2207085), E.RebuildContainer, "[3P] [CODE: POSTIZ handleErrors]",
         "Instagram could not process the video; publisher tries a new container. If it "
         "repeats, re-encode it as MP4 (H.264, AAC)."),
    # --- the same Instagram codes without a known subcode ----------------------------------
    _row((-1, -2), None, E.Transient, "[ERR]", "Instagram had a server error; " + _RETRIED),
    _row(9004, None, E.Transient, "[ERR]", _FETCH),
    _row(9007, None, E.Transient, "[ERR]",
         "The container was not ready to publish (nothing was published); publisher waits "
         "for FINISHED and publishes then.",
         nothing_published=True),
    _row(24, None, E.RebuildContainer, "[ERR]",
         "Instagram cannot find the container; publisher creates a new one. If it repeats, "
         "check the token with `publisher accounts`."),
    _row(25, None, E.AuthFailed, "[ERR]",
         "The Instagram account is restricted: open the Instagram app and complete what it "
         "asks; the account's drafts wait until then."),
    _row(352, None, E.Permanent, "[ERR]",
         "The video format is not supported: re-encode it as MP4 (H.264, AAC)."),
    _row((36000, 36001, 36003, 36004), None, E.Permanent, "[ERR]",
         "Instagram rejected the image or caption as it is: Meta's message says what to "
         "change."),
    # --- tokens: 190 and 102 with their subcodes (instagram-api.md §7.3) -------------------
    _row((190, 102), 458, E.AuthFailed, "[GERR]",
         "The user removed the app from the Instagram/Facebook account. " + _NEW_TOKEN),
    _row((190, 102), 459, E.AuthFailed, "[GERR]",
         "The account is checkpointed: log in to Instagram/Facebook in a browser and complete "
         "the check, then " + _NEW_TOKEN[0].lower() + _NEW_TOKEN[1:]),
    _row((190, 102), 460, E.AuthFailed, "[GERR]",
         "The password changed, which invalidated the token. " + _NEW_TOKEN),
    _row((190, 102), 463, E.AuthFailed, "[GERR]",
         "The access token expired (long-lived tokens last 60 days). " + _NEW_TOKEN),
    _row((190, 102), 464, E.AuthFailed, "[GERR]",
         "The user has not confirmed their account: confirm it, then " + _NEW_TOKEN[0].lower()
         + _NEW_TOKEN[1:]),
    _row((190, 102), 467, E.AuthFailed, "[GERR]",
         "The access token is invalid (revoked, mistyped, or meant for the other API host: "
         "check `api:`). " + _NEW_TOKEN),
    _row((190, 102), 492, E.AuthFailed, "[GERR]",
         "The user lost their role on the Facebook Page linked to the account: restore it. "
         + _NEW_TOKEN),
    _row(190, None, E.AuthFailed, "[GERR] [CODE: MIXPOST]",
         "The access token is invalid or expired (or belongs to the other API host: check "
         "`api:`). " + _NEW_TOKEN),
    _row(102, None, E.AuthFailed, "[GERR]", "The API session is invalid. " + _NEW_TOKEN),
    _row((10, *range(200, 300)), None, E.AuthFailed, "[GERR] [ERR]",
         "The token lacks a permission needed to publish (instagram_business_basic and "
         "instagram_business_content_publish with Instagram Login; instagram_basic, "
         "instagram_content_publish, pages_read_engagement, and ads_management when the Page "
         "comes through Business Manager, with Facebook Login): grant it and renew the token."),
    # --- generic Graph errors (instagram-api.md §7.3) ---------------------------------------
    _row((1, 2), None, E.Transient, "[GERR]", "Meta had a temporary error; " + _RETRIED),
    _row((4, 17, 32, 341, 613, *range(80000, 80010), 80014), None, E.RateLimited,
         "[GERR] [RL] [CODE: MIXPOST]",
         "Meta is throttling this app or account; publisher waits and tries again (calls "
         "made while throttled extend the block)."),
    _row(368, None, E.RateLimited, "[GERR]",
         "Meta temporarily blocked the account for a policy reason: publisher waits an hour; "
         "look for a notice in the Instagram app.",
         wait=3600.0),
    # An intermittent 100/33 on reads of good containers and posts (postiz #1562); on a write
    # it means the object (usually ig_user_id) does not exist for this token.
    _row(100, 33, E.Permanent, "[GERR] [3P: postiz #1562]",
         "Meta says the object does not exist or the token cannot see it: check the "
         "account's ig_user_id and `api:` in config.yaml.",
         on_read=E.Transient),
    _row(100, None, E.Permanent, "[GERR]",
         "Instagram rejected a parameter (Meta's message says which): change the draft."),
)
# fmt: on


def _lookup(code: int | None, subcode: int | None) -> Rule | None:
    best: Rule | None = None
    for rule in TABLE:
        if rule.matches(code, subcode) and (best is None or rule.specificity > best.specificity):
            best = rule
    return best


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _as_text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return logs.redact(value.strip())
    return None


def graph_error(body: Any) -> dict[str, Any] | None:
    """Given a response body (parsed JSON, text or bytes), return its Graph `error` object,
    or None when the body is not in Meta's error shape."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return dict(error)
    return None


def _headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {key.lower(): value for key, value in (headers or {}).items()}


def rate_limit_wait(headers: Mapping[str, str] | None, default: float) -> float:
    """Seconds to wait before calling again: `Retry-After` (seconds) when present, else how
    long the usage headers say access stays blocked (`usage.regain_seconds`:
    estimated_time_to_regain_access, in minutes), else `default`. [RL] [CODE: MIXPOST]"""
    lowered = _headers(headers)
    retry_after = lowered.get("retry-after", "").strip()
    try:
        seconds = float(retry_after)
    except ValueError:
        seconds = -1.0  # absent, or an HTTP date: fall back to Meta's estimate
    if math.isfinite(seconds) and seconds >= 0:
        return min(seconds, MAX_RATE_LIMIT_WAIT)
    regain = usage.regain_seconds(lowered)
    if regain is not None:
        return min(regain, MAX_RATE_LIMIT_WAIT)
    return default


def _at_the_limit(headers: Mapping[str, str] | None) -> bool:
    """True when the usage headers say a call budget is used up (100 %, or a wait to regain
    access): a failure then is Meta throttling, whatever its code says. [RL]"""
    lowered = _headers(headers)
    figure = usage.percent(lowered)
    return (figure is not None and figure >= usage.LIMITED_AT) or (
        usage.regain_seconds(lowered) is not None
    )


def _message(error: Mapping[str, Any]) -> str | None:
    message = _as_text(error.get("message"))
    user_message = _as_text(error.get("error_user_msg"))
    if message and user_message and user_message not in message:
        return f"{message} ({user_message})"
    return message or user_message


def classify(
    *,
    http_status: int | None,
    body: Any,
    step: str,
    container_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> errors.ApiError:
    """Given a failed call's HTTP status (None: no response), its body (parsed JSON, raw text
    or None), the step (create / poll / publish / permalink / quota / account / reconcile /
    comment / comments / token), the container it concerned and the answer's headers, return
    the ApiError that says what to do next.

    On the publish and comment steps an outcome that does not prove the write was refused (a
    5xx or a body that is not a Graph error, a Meta server error) is `Ambiguous`: the caller
    reconciles. Elsewhere a temporary failure while the usage headers say a budget is used
    up is `RateLimited`.
    """
    error = graph_error(body)
    code = _as_int(error.get("code")) if error else None
    subcode = _as_int(error.get("error_subcode")) if error else None
    fields: dict[str, Any] = {
        "step": step,
        "container_id": container_id,
        "code": code,
        "subcode": subcode,
        "fbtrace_id": _as_text(error.get("fbtrace_id")) if error else None,
        "http_status": http_status,
    }
    if error is None or code is None:
        return _without_graph_code(http_status, step, headers, fields)

    message = _message(error) or f"Meta answered HTTP {http_status} with code {code}"
    rule = _lookup(code, subcode)
    kind: type[errors.ApiError]
    if rule is None:
        unknown_text = "unknown error occurred" in message.lower()  # [CODE: POSTIZ]
        if error.get("is_transient") is True or unknown_text:
            kind, hint = errors.Transient, "Meta calls this error temporary; " + _RETRIED
        else:
            kind = errors.Permanent
            hint = (
                f"Instagram refused the request with code {code}"
                + (f"/{subcode}" if subcode is not None else "")
                + ": look it up on Meta's Instagram error-codes page and change the draft or "
                "the account settings accordingly; quote the fbtrace_id to Meta support."
            )
        nothing_published = False
    else:
        kind, hint, nothing_published = rule.kind, rule.hint, rule.nothing_published
        if rule.on_read is not None and step in READ_STEPS:
            kind = rule.on_read
            hint = "Meta returned a known intermittent error on a read; " + _RETRIED

    if step in AMBIGUOUS_STEPS and kind is errors.Transient and not nothing_published:
        return errors.Ambiguous(message, hint=ambiguous_hint(step), **fields)
    if kind is errors.Transient and _at_the_limit(headers):
        kind, hint = errors.RateLimited, _THROTTLED
    if kind is errors.RateLimited:
        default = rule.wait if rule is not None and rule.wait else DEFAULT_RATE_LIMIT_WAIT
        fields["retry_after"] = rate_limit_wait(headers, default)
    return kind(message, hint=hint, **fields)


def _without_graph_code(
    http_status: int | None,
    step: str,
    headers: Mapping[str, str] | None,
    fields: dict[str, Any],
) -> errors.ApiError:
    """No Meta error code: decide from the HTTP status alone, conservatively."""
    if http_status is None:
        message = "no answer from the API"
    elif 200 <= http_status < 300:
        message = f"the API answered HTTP {http_status} with an unexpected body"
    else:
        message = f"the API answered HTTP {http_status} without a Graph API error"
    if http_status == 429:
        return errors.RateLimited(
            message,
            hint="Meta is throttling calls; publisher waits and tries again.",
            retry_after=rate_limit_wait(headers, DEFAULT_RATE_LIMIT_WAIT),
            **fields,
        )
    if http_status in (401, 403):
        return errors.AuthFailed(
            message,
            hint="The server refused the credentials. "
            + _NEW_TOKEN
            + " If a proxy sits in between (base_url), check it too.",
            **fields,
        )
    if http_status is not None and 300 <= http_status < 500:
        return errors.Permanent(
            message,
            hint="Check the account's api, api_version and base_url in config.yaml: the "
            "request did not reach a Graph API endpoint.",
            **fields,
        )
    if step in AMBIGUOUS_STEPS:
        return errors.Ambiguous(message, hint=ambiguous_hint(step), **fields)
    if _at_the_limit(headers):
        return errors.RateLimited(
            message,
            hint=_THROTTLED,
            retry_after=rate_limit_wait(headers, DEFAULT_RATE_LIMIT_WAIT),
            **fields,
        )
    return errors.Transient(
        message,
        hint="Meta or the network had a temporary problem; " + _RETRIED,
        **fields,
    )


_SUBCODE_IN_STATUS = re.compile(r"\b(2207\d{3})\b")


def container_failed(
    status_code: str, status: str | None, *, container_id: str, step: str = "poll"
) -> errors.ApiError:
    """Given a container's `status_code` ERROR or EXPIRED and its `status` text (which on
    ERROR holds Meta's subcode, e.g. "Error: Media upload has failed with error code
    2207026"), return what to do: the table's class for a known subcode, otherwise
    `RebuildContainer`. Meta's status text is kept in the message. [CONT] [3P]"""
    text = _as_text(status) or ""
    if status_code == "EXPIRED":
        return errors.RebuildContainer(
            f"container expired{': ' + text if text else ''}",
            step=step,
            container_id=container_id,
            hint="It was not published within 24 hours; publisher creates a new one.",
        )
    match = _SUBCODE_IN_STATUS.search(text)
    subcode = int(match.group(1)) if match else None
    # The status text carries the subcode only: the first row naming it decides.
    rule = next((row for row in TABLE if row.subcodes and subcode in row.subcodes), None)
    message = f"container status {status_code}{': ' + text if text else ''}"
    if rule is None or rule.kind in (errors.Transient, errors.RateLimited):
        # A dead container cannot be polled back to life: a retry means a new container.
        return errors.RebuildContainer(
            message,
            step=step,
            container_id=container_id,
            subcode=subcode,
            hint=(
                rule.hint
                if rule
                else "Instagram could not process the media; publisher "
                "creates a new container. If it repeats, check the media file and its URL."
            ),
        )
    return rule.kind(message, step=step, container_id=container_id, subcode=subcode, hint=rule.hint)
