"""The errors the sandbox answers with, in Meta's shape (instagram-api.md §7).

One function per error, named after what went wrong, so the table of codes the sandbox uses
reads in one place. Every body is

    {"error": {"message", "type", "code", "error_subcode"?, "is_transient",
               "error_user_title"?, "error_user_msg"?, "fbtrace_id"}}

with a fresh random `fbtrace_id`, answered with HTTP 400 unless said otherwise (nearly every
Instagram publishing error is a 400; instagram-api.md §7.1).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

OAUTH = "OAuthException"
METHOD = "GraphMethodException"

# Every (code, subcode) the sandbox may answer, with where Meta documents it (instagram-api.md
# §7.2 the Instagram error table, §7.3 the generic Graph codes). `GraphError` refuses any
# other pair: the sandbox is as strict as Meta, it never invents an error publisher would then
# learn to handle (issue 8, point 6).
DOCUMENTED: dict[tuple[int, int | None], str] = {
    (-2, 2207003): "§7.2 timeout downloading media",
    (-2, 2207020): "§7.2 container expired",
    (1, 2207057): "§7.2 thumb_offset out of range",
    (9, 2207042): "§7.2 publishing quota reached",
    (24, 2207006): "§7.2 media not found",
    (100, 2207023): "§7.2 unknown media_type",
    (100, 2207028): "§7.2 carousel outside 2-10 items",
    (100, 2207040): "§7.2 more than 20 @-tags",
    (9004, 2207052): "§7.2 media URL could not be fetched",
    (9007, 2207027): "§7.2 not ready",
    (36000, 2207004): "§7.2 image over 8 MiB",
    (36001, 2207005): "§7.2 unsupported image format",
    (36003, 2207009): "§7.2 aspect ratio",
    (36004, 2207010): "§7.2 caption too long",
    (1, None): "§7.3 API Unknown (temporary)",
    (2, None): "§7.3 API Service (temporary)",
    (10, None): "§7.3 permission denied",
    (100, None): "§7.3 invalid parameter",
    (100, 33): "§7.3 object does not exist / unsupported get request [3P: postiz #1562]",
    (190, None): "§7.3 invalid or expired token",
    (190, 463): "§7.3 token expired",
    (190, 467): "§7.3 invalid token",
    # What Graph answers for a path it does not know ("Unknown path components"): Meta's
    # generic error, not in instagram-api.md's tables; publisher treats it as permanent.
    (2500, None): "Graph API 'Unknown path components' (not in §7)",
}
# Throttling codes (§7.3): app, user, Pages, custom, Page/system-user BUC, Instagram BUC.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001, 80002})
DOCUMENTED.update({(code, None): "§7.3 rate limit" for code in RATE_LIMIT_CODES})


class GraphError(Exception):
    """A Graph API error answer: HTTP status plus Meta's error object."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        http_status: int = 400,
        kind: str = OAUTH,
        is_transient: bool = False,
        user_title: str | None = None,
        user_msg: str | None = None,
        regain_minutes: int | None = None,
    ) -> None:
        if (code, subcode) not in DOCUMENTED:
            raise ValueError(
                f"the sandbox answers only documented errors; {code}/{subcode} is not in "
                "meta_errors.DOCUMENTED (add it there with where Meta documents it)"
            )
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.http_status = http_status
        self.kind = kind
        self.is_transient = is_transient
        self.user_title = user_title
        self.user_msg = user_msg
        # A throttling answer: its usage headers say 100 % and this wait (in minutes).
        self.regain_minutes = regain_minutes

    def body(self) -> dict[str, Any]:
        """Return Meta's error body, with a new fbtrace_id."""
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}


def fbtrace_id() -> str:
    """Return a random trace id shaped like Meta's ("A6LJylpZRKw2xKLFsAP-cJh")."""
    return "A" + secrets.token_urlsafe(16)[:22]


def container_error_status(subcode: int) -> str:
    """The `status` text of a container in ERROR, as Meta words it."""
    return f"Error: Media upload has failed with error code {subcode}"


# --- tokens (code 190) --------------------------------------------------------------------


def token_missing() -> GraphError:
    return GraphError(190, "Invalid OAuth access token - Cannot parse access token")


def token_invalid() -> GraphError:
    return GraphError(190, "Error validating access token: The session is invalid.", subcode=467)


def token_expired(now: datetime) -> GraphError:
    stamp = now.strftime("%A, %d-%b-%y %H:%M:%S UTC")
    return GraphError(
        190,
        f"Error validating access token: Session has expired on {stamp}. "
        f"The current time is {stamp}.",
        subcode=463,
    )


def token_in_url() -> GraphError:
    # Not what Meta does (it accepts access_token=): the sandbox refuses it so that our own
    # client can never start leaking the token into URLs and logs (RELIABILITY.md §5.5).
    return GraphError(
        100,
        "The sandbox refuses access_token in the query string or the body: the token goes "
        "in the Authorization header (Authorization: Bearer <token>), never in a URL.",
    )


def token_too_new(min_age_s: int) -> GraphError:
    # Meta documents the condition (a token "at least 24 hours old") but not the answer.
    hours = min_age_s / 3600
    return GraphError(
        100,
        f"(#100) The access token cannot be refreshed yet: it must be at least {hours:g} hours old",
    )


# --- generic Graph errors -----------------------------------------------------------------


def transient() -> GraphError:
    return GraphError(
        2,
        "An unexpected error has occurred. Please retry your request later.",
        http_status=500,
        is_transient=True,
    )


_THROTTLE_MESSAGES = {
    4: "Application request limit reached",
    17: "User request limit reached",
    32: "Page request limit reached",
    613: "Calls to this api have exceeded the rate limit.",
    80002: "There have been too many calls to this Instagram account. Wait a bit and try "
    "again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}


def rate_limited(code: int, regain_minutes: int) -> GraphError:
    """A throttling answer with Meta's code (4, 17, 32, 613, 80002...); the usage headers
    sent with it say 100 % and `regain_minutes`."""
    return GraphError(
        code,
        _THROTTLE_MESSAGES.get(code, "Calls to this api have exceeded the rate limit."),
        is_transient=True,
        regain_minutes=regain_minutes,
    )


def unknown_path(method: str, path: str) -> GraphError:
    return GraphError(2500, f"Unknown path components: {path} ({method})")


def no_such_object(method: str, object_id: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        kind=METHOD,
    )


def unknown_field(field: str, node_type: str) -> GraphError:
    return GraphError(
        100, f"(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})"
    )


def bad_parameter(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(100, f"(#100) {message}", subcode=subcode)


# --- container creation -------------------------------------------------------------------


def unknown_media_type(media_type: str) -> GraphError:
    return GraphError(
        100,
        f"The media type {media_type!r} is not supported",
        subcode=2207023,
        user_title="Unknown media type",
        user_msg="The media type you entered is not supported: use REELS, STORIES, CAROUSEL, "
        "VIDEO (carousel items only) or none for an image.",
    )


def carousel_size(count: int) -> GraphError:
    return GraphError(
        100,
        f"Invalid number of carousel items: {count}",
        subcode=2207028,
        user_title="Carousel validation failed",
        user_msg="A carousel takes between 2 and 10 photos or videos.",
    )


def caption_too_long(length: int) -> GraphError:
    return GraphError(
        36004,
        f"The caption is too long ({length} characters)",
        subcode=2207010,
        user_title="Caption too long",
        user_msg="The caption can have at most 2200 characters.",
    )


def too_many_tags(hashtags: int, mentions: int) -> GraphError:
    return GraphError(
        100,
        f"Too many tags in the caption ({hashtags} hashtags, {mentions} @-mentions)",
        subcode=2207040,
        user_title="Too many tags",
        user_msg="A caption can have at most 30 hashtags and 20 @-mentions.",
    )


def fetch_failed(url: str) -> GraphError:
    return GraphError(
        9004,
        "Only photo or video can be accepted as media type.",
        subcode=2207052,
        user_title="Media download has failed.",
        user_msg=f"The media could not be fetched from this URI: {url}",
    )


def fetch_timeout() -> GraphError:
    return GraphError(
        -2,
        "Timeout downloading the media",
        subcode=2207003,
        is_transient=True,
        user_title="Timeout",
        user_msg="It took too long to download the media.",
    )


def image_too_large() -> GraphError:
    return GraphError(
        36000,
        "The image size is too large.",
        subcode=2207004,
        user_title="Image size too large",
        user_msg="The image is too large to download. It should be less than 8 MiB.",
    )


def image_format() -> GraphError:
    return GraphError(
        36001,
        "The image format is not supported.",
        subcode=2207005,
        user_title="Unsupported format",
        user_msg="The image format is not supported. Supported formats are: JPEG",
    )


def aspect_ratio(width: int, height: int) -> GraphError:
    return GraphError(
        36003,
        f"The aspect ratio is not supported ({width}x{height}).",
        subcode=2207009,
        user_title="Aspect ratio not supported",
        user_msg="The submitted image with aspect ratio must be within the 4:5 to 1.91:1 range.",
    )


def child_not_found(child_id: str) -> GraphError:
    return GraphError(
        24,
        f"The carousel item {child_id} cannot be found",
        subcode=2207006,
        user_title="Media not found",
        user_msg="The media with the given id cannot be found.",
    )


# --- publishing ---------------------------------------------------------------------------


def not_ready() -> GraphError:
    return GraphError(
        9007,
        "Media ID is not available",
        subcode=2207027,
        user_title="Media not ready",
        user_msg="The media is not ready for publishing, please wait for a moment",
    )


def container_expired() -> GraphError:
    return GraphError(
        -2,
        "The media container has expired",
        subcode=2207020,
        user_title="Media expired",
        user_msg="The media you are trying to publish has expired. Please try again.",
    )


def container_not_found(container_id: str) -> GraphError:
    return GraphError(
        24,
        f"The media container {container_id} cannot be found",
        subcode=2207006,
        user_title="Media not found",
        user_msg="The media with the given id cannot be found.",
    )


def already_published(container_id: str) -> GraphError:
    # Meta documents no answer for this; the sandbox refuses it (and makes no second post).
    return bad_parameter(
        f"The media container {container_id} has already been published; a container is "
        "published once"
    )


def quota_reached() -> GraphError:
    return GraphError(
        9,
        "Application request limit reached",
        subcode=2207042,
        user_title="Maximum number of posts reached",
        user_msg="You reached maximum number of posts that is allowed to be published by "
        "Content Publishing API.",
    )


# --- comments -----------------------------------------------------------------------------


def comment_without_message() -> GraphError:
    return bad_parameter("The parameter message is required")


def comment_too_long(length: int) -> GraphError:
    return bad_parameter(f"The comment is too long ({length} characters; at most 2200)")


def comment_permission() -> GraphError:
    return GraphError(10, "(#10) Application does not have permission for this action")
