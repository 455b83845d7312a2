"""How the sandbox's objects read through the Graph API: the fields of containers, posts and
accounts, `fields=` parsing, and listing cursors. Pure functions.

Like Meta, a read returns `id` plus the fields asked for, and refuses a field the node does
not have with 100 "Tried accessing nonexisting field".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from publisher.sandbox import meta_errors
from publisher.sandbox.world import Account, Container, Post

IN_PROGRESS, FINISHED, PUBLISHED = "IN_PROGRESS", "FINISHED", "PUBLISHED"
ERROR, EXPIRED = "ERROR", "EXPIRED"
STATUS_TEXT = {
    IN_PROGRESS: "In Progress: Media is still being processed.",
    FINISHED: "Finished: Media has been uploaded and it is ready to be published.",
    PUBLISHED: "Published: Media has been successfully published.",
    EXPIRED: "Expired: Media was not published within 24 hours.",
}

CONTAINER_FIELDS = frozenset(
    {"id", "status_code", "status", "copyright_check_status", "video_status"}
)
MEDIA_FIELDS = frozenset(
    {
        "id", "caption", "media_type", "media_product_type", "permalink", "shortcode",
        "timestamp", "username", "owner", "is_comment_enabled", "comments_count", "like_count",
    }
)  # fmt: skip
USER_FIELDS = frozenset(
    {
        "id", "user_id", "username", "name", "account_type", "media_count",
        "followers_count", "follows_count", "profile_picture_url", "biography", "website",
    }
)  # fmt: skip


def fields_of(query: Mapping[str, str], allowed: frozenset[str], node_type: str) -> list[str]:
    """`fields=a,b` -> ["a", "b"]. Raise GraphError (100) for a field the node lacks."""
    names = [name.strip() for name in query.get("fields", "").split(",") if name.strip()]
    for name in names:
        if name not in allowed:
            raise meta_errors.unknown_field(name, node_type)
    return names


def whole(query: Mapping[str, str], name: str, default: int, *, low: int) -> int:
    """A whole-number query parameter, or `default`. Raise GraphError (100) otherwise."""
    text = query.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or int(text) < low:
        raise meta_errors.bad_parameter(f"Param {name} must be a whole number >= {low}")
    return int(text)


def container_fields(container: Container, status: str, names: list[str]) -> dict[str, Any]:
    """A container read with its current `status` (IN_PROGRESS ... PUBLISHED)."""
    values: dict[str, Any] = {
        "id": container.id,
        "status_code": status,
        "status": container.error_status if status == ERROR else STATUS_TEXT[status],
        "copyright_check_status": {"matches_found": False, "status": "completed"},
        "video_status": _video_status(container, status),
    }
    return {"id": container.id} | {name: values[name] for name in names}


def _video_status(container: Container, status: str) -> dict[str, Any]:
    """Upload and processing phases, as the resumable-upload page shows them
    (`uploading_phase.bytes_transferred` is where an interrupted upload resumes)."""
    received = container.upload_received
    uploading = {
        "status": "in_progress" if container.uploading else "complete",
        "bytes_transferred": received if received is not None else 0,
    }
    if container.uploading:
        processing = "not_started"
    elif status == IN_PROGRESS:
        processing = "in_progress"
    else:
        processing = "error" if status == ERROR else "complete"
    return {"uploading_phase": uploading, "processing_phase": {"status": processing}}


# The "@" that starts a mention (the same mention pattern as `params`).
_MENTION_SIGN = re.compile(r"(?<![\w@.])@(?=[A-Za-z0-9_.])")


def caption_read_back(caption: str, *, without_at: bool) -> str:
    """A caption as Meta reads it back: `without_at`, the "@" of its mentions left out, as
    Meta does unless the app user can perform admin-equivalent tasks on the app (IG Media
    reference, `caption`)."""
    return _MENTION_SIGN.sub("", caption) if without_at else caption


def media_fields(
    post: Post,
    username: str,
    names: list[str],
    *,
    without_at: bool = False,
    comments_count: int = 0,
) -> dict[str, Any]:
    """A post read, by its owner's `username`; its caption as `caption_read_back` says. An
    empty caption is left out, like Meta."""
    values: dict[str, Any] = {
        "id": post.id,
        "caption": caption_read_back(post.caption, without_at=without_at),
        "media_type": post.media_type,
        "media_product_type": post.media_product_type,
        "permalink": post.permalink,
        "shortcode": post.shortcode,
        "timestamp": post.timestamp,
        "username": username,
        "owner": {"id": post.ig_user_id},
        "is_comment_enabled": True,
        "comments_count": comments_count,
        "like_count": 0,
    }
    answer = {"id": post.id} | {name: values[name] for name in names}
    if not post.caption:
        answer.pop("caption", None)
    return answer


def user_fields(account: Account, media_count: int, names: list[str]) -> dict[str, Any]:
    """An account read (GET /{ig-user-id}, GET /me)."""
    values: dict[str, Any] = {
        "id": account.ig_user_id,
        "user_id": account.ig_user_id,
        "username": account.username,
        "name": f"Sandbox {account.ig_user_id[-4:]}",
        "account_type": "BUSINESS",
        "media_count": media_count,
        "followers_count": 0,
        "follows_count": 0,
        "profile_picture_url": "https://www.instagram.com/static/images/anonymousUser.jpg",
        "biography": "publisher sandbox account",
        "website": "https://example.invalid/",
    }
    return {"id": account.ig_user_id} | {name: values[name] for name in names}


def app_scoped_id(ig_user_id: str) -> str:
    """The `id` GET /me gives with Instagram Login: app-scoped, not the Instagram user id."""
    digest = hashlib.sha256(f"app-scoped:{ig_user_id}".encode()).hexdigest()
    return "26" + str(int(digest[:16], 16) % 10**15).zfill(15)


class _Listed(Protocol):
    @property
    def id(self) -> str: ...


def cursor(item: _Listed, kind: str = "media") -> str:
    """An opaque paging cursor pointing at `item` (a post, or a comment with kind
    "comment")."""
    return base64.urlsafe_b64encode(f"{kind}:{item.id}".encode()).decode().rstrip("=")


def cursor_position(items: Sequence[_Listed], text: str, kind: str = "media") -> int:
    """The index in `items` of the item `text` points at. Raise GraphError (100) if none."""
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    for index, item in enumerate(items):
        if decoded == f"{kind}:{item.id}":
            return index
    raise meta_errors.bad_parameter("The cursor is not valid for this listing")
