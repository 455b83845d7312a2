"""Comments in the sandbox, like Meta's IG Comments edge (instagram-api.md "Added
2026-12-02"): `POST /{ig-media-id}/comments` with `message` makes a comment as the token's
account; `GET /{ig-media-id}/comments` lists them, newest first, with cursor paging.

Functions over the `World`; the caller (`graph.Graph`) holds its lock and saves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from publisher.sandbox import meta_errors, views
from publisher.sandbox.world import Account, Comment, World, meta_timestamp

FIELDS = frozenset({"id", "text", "username", "timestamp", "like_count", "hidden", "from", "media"})
MESSAGE_MAX = 2200
LIMIT_DEFAULT, LIMIT_MAX = 25, 100


def create(
    world: World, media_id: str, form: Mapping[str, str], author: Account, now: datetime
) -> Comment:
    """Make a comment by `author` on the post `media_id`; return it (not saved yet). Raise
    GraphError for an unknown post or a missing or too long message."""
    if world.post(media_id) is None:
        raise meta_errors.no_such_object("POST", media_id)
    message = form.get("message", "")
    if not message.strip():
        raise meta_errors.comment_without_message()
    if len(message) > MESSAGE_MAX:
        raise meta_errors.comment_too_long(len(message))
    comment = Comment(
        id=world.new_id("17"),
        media_id=media_id,
        ig_user_id=author.ig_user_id,
        username=author.username,
        text=message,
        timestamp=meta_timestamp(now),
    )
    world.comments.append(comment)
    return comment


def listing(world: World, media_id: str, query: Mapping[str, str]) -> dict[str, Any]:
    """The comments of the post `media_id`, newest first, `limit` per page (`after` cursor);
    each with `id` and the fields asked for. Raise GraphError for an unknown post, an
    unknown field or a bad cursor."""
    if world.post(media_id) is None:
        raise meta_errors.no_such_object("GET", media_id)
    names = views.fields_of(query, FIELDS, "IGComment")
    limit = min(views.whole(query, "limit", LIMIT_DEFAULT, low=1), LIMIT_MAX)
    items = [comment for comment in reversed(world.comments) if comment.media_id == media_id]
    after = query.get("after")
    start = views.cursor_position(items, after, "comment") + 1 if after else 0
    page = items[start : start + limit]
    body: dict[str, Any] = {"data": [_fields(comment, names) for comment in page]}
    if page:
        paging: dict[str, Any] = {
            "cursors": {
                "before": views.cursor(page[0], "comment"),
                "after": views.cursor(page[-1], "comment"),
            }
        }
        if start + limit < len(items):
            paging["next"] = "(the sandbox gives cursors only)"
        body["paging"] = paging
    return body


def count(world: World, media_id: str) -> int:
    return sum(1 for comment in world.comments if comment.media_id == media_id)


def _fields(comment: Comment, names: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": comment.id,
        "text": comment.text,
        "username": comment.username,
        "timestamp": comment.timestamp,
        "like_count": 0,
        "hidden": False,
        "from": {"id": comment.ig_user_id, "username": comment.username},
        "media": {"id": comment.media_id},
    }
    return {"id": comment.id} | {name: values[name] for name in names}
