"""What to send to POST /{ig-user-id}/media for a draft: pure functions, no I/O.

The caller creates the containers in order: every entry of `singles_or_children` first
(carousel children: wait for each to be FINISHED), then, for a carousel, the parent built by
`with_children(parent, child_ids)`. Parameter rules come from instagram-api.md §2.1-§2.2:

    post      image_url, caption, alt_text, location_id, user_tags, collaborators
    carousel  children: image_url | media_type=VIDEO + video_url, is_carousel_item=true;
              each image its own alt_text and user_tags, else the draft's (SPEC §7); a
              video its own user_tags only, without x/y (no caption, location or
              collaborators on children)
              parent: media_type=CAROUSEL, children, caption, location_id, collaborators
    reel      media_type=REELS, video_url, caption, cover_url, thumb_offset, share_to_feed,
              collaborators, location_id, user_tags, audio_name, trial_params
              ({"graduation_strategy": "MANUAL" | "SS_PERFORMANCE"})
    story     media_type=STORIES, image_url | video_url, user_tags

Lists and objects are JSON text, booleans "true"/"false", as form fields. Usernames go
without a leading "@" (LESSONS.md). The token is never a parameter: it travels in the
Authorization header only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from publisher.drafts import Draft, UserTag

Params = dict[str, str]


def container_requests(
    draft: Draft, urls: Sequence[str], cover_url: str | None
) -> tuple[list[Params], Params | None]:
    """Given a valid draft, the public URL of each of its media (same order) and the reel
    cover's URL, return (the single container's or the children's parameters, the carousel
    parent's parameters without `children`, or None).

    Raise ValueError if `urls` does not match the draft's media (a caller's mistake)."""
    if len(urls) != len(draft.media):
        raise ValueError(f"{len(draft.media)} media in the draft but {len(urls)} URLs")
    if draft.type == "post":
        return [_post(draft, urls[0])], None
    if draft.type == "carousel":
        return _carousel_children(draft, urls), _carousel_parent(draft)
    if draft.type == "reel":
        return [_reel(draft, urls[0], cover_url)], None
    if draft.type == "story":
        return [_story(draft, urls[0])], None
    raise ValueError(f"unknown draft type {draft.type!r}")


def with_children(parent: Params, child_ids: Sequence[str]) -> Params:
    """Given the carousel parent's parameters and the children's container ids (in the
    draft's order), return the parameters with `children` set (comma-separated, as in Meta's
    guide)."""
    if not child_ids:
        raise ValueError("a carousel parent needs its children's container ids")
    return {**parent, "children": ",".join(child_ids)}


def _post(draft: Draft, url: str) -> Params:
    return _compact(
        image_url=url,
        caption=draft.caption,
        alt_text=draft.alt_text_for(0),
        location_id=draft.location_id,
        user_tags=_tags(draft.user_tags_for(0), positions=True),
        collaborators=_collaborators(draft.collaborators),
    )


def _carousel_children(draft: Draft, urls: Sequence[str]) -> list[Params]:
    children: list[Params] = []
    for index, (item, url) in enumerate(zip(draft.media, urls, strict=True)):
        if item.kind == "video":
            own = draft.items[index].user_tags if index < len(draft.items) else ()
            child = _compact(
                media_type="VIDEO",
                video_url=url,
                is_carousel_item=True,
                user_tags=_tags(own, positions=False),
            )
        else:
            child = _compact(
                image_url=url,
                is_carousel_item=True,
                alt_text=draft.alt_text_for(index),
                user_tags=_tags(draft.user_tags_for(index), positions=True),
            )
        children.append(child)
    return children


def _carousel_parent(draft: Draft) -> Params:
    return _compact(
        media_type="CAROUSEL",
        caption=draft.caption,
        location_id=draft.location_id,
        collaborators=_collaborators(draft.collaborators),
    )


def _reel(draft: Draft, url: str, cover_url: str | None) -> Params:
    return _compact(
        media_type="REELS",
        video_url=url,
        caption=draft.caption,
        cover_url=cover_url,
        thumb_offset=draft.thumb_offset,
        share_to_feed=draft.share_to_feed,
        collaborators=_collaborators(draft.collaborators),
        location_id=draft.location_id,
        user_tags=_tags(draft.user_tags_for(0), positions=False),
        audio_name=draft.audio_name,
        trial_params=_trial(draft.trial),
    )


def _story(draft: Draft, url: str) -> Params:
    key = "video_url" if draft.media[0].kind == "video" else "image_url"
    return _compact(
        media_type="STORIES",
        **{key: url},
        user_tags=_tags(draft.user_tags_for(0), positions=True),
    )


def _tags(tags: Sequence[UserTag], *, positions: bool) -> str | None:
    """JSON `[{"username":..,"x":..,"y":..}]`; x/y only where given (optional on stories)
    and where the media takes them (`positions`: images and stories, not reels)."""
    if not tags:
        return None
    entries: list[dict[str, Any]] = []
    for tag in tags:
        entry: dict[str, Any] = {"username": tag.username.lstrip("@")}
        if positions and tag.x is not None and tag.y is not None:
            entry["x"], entry["y"] = tag.x, tag.y
        entries.append(entry)
    return json.dumps(entries, separators=(",", ":"))


# The draft's `trial` -> Meta's graduation strategy (instagram-api.md §2.1, [CP]): MANUAL, you
# graduate the trial reel in the app; SS_PERFORMANCE, Instagram does on its results.
GRADUATION = {"manual": "MANUAL", "performance": "SS_PERFORMANCE"}


def _trial(trial: str | None) -> str | None:
    if trial is None:
        return None
    return json.dumps({"graduation_strategy": GRADUATION[trial]}, separators=(",", ":"))


def _collaborators(names: Sequence[str]) -> str | None:
    if not names:
        return None
    return json.dumps([name.lstrip("@") for name in names], separators=(",", ":"))


def _compact(**values: str | int | bool | None) -> Params:
    """Drop unset values; write booleans and numbers the way the Graph API reads them."""
    params: Params = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
        else:
            params[key] = str(value)
    return params
