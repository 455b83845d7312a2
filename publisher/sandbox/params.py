"""`POST /{ig-user-id}/media` parameters → a `ContainerSpec`, checked like Meta checks them.

Pure: no I/O. The media themselves are checked by `sandbox.fetch` and the carousel children
against the world by `sandbox.graph`. The rules follow instagram-api.md §2 and §6.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from publisher.sandbox import meta_errors

IMAGE = "IMAGE"
VIDEO = "VIDEO"
REELS = "REELS"
STORIES = "STORIES"
CAROUSEL = "CAROUSEL"
MEDIA_TYPES = frozenset({IMAGE, VIDEO, REELS, STORIES, CAROUSEL})

CAPTION_MAX = 2200
HASHTAGS_MAX = 30
MENTIONS_MAX = 20
ALT_TEXT_MAX = 1000
COLLABORATORS_MAX = 3
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10

# The same patterns as publisher.drafts, so that a draft that passes validation passes here.
_HASHTAG = re.compile(r"(?<![\w#&])#\w+")
_MENTION = re.compile(r"(?<![\w@.])@[A-Za-z0-9_.]+")
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class ContainerSpec:
    """What a container holds. `kind` is IMAGE, VIDEO (carousel video), REELS, STORIES or
    CAROUSEL; a story or carousel item holds an image or a video (`video_url` set)."""

    kind: str
    image_url: str | None = None
    video_url: str | None = None
    cover_url: str | None = None
    is_carousel_item: bool = False
    children: tuple[str, ...] = ()
    caption: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    resumable: bool = False  # upload_type=resumable: the video comes to the upload host

    @property
    def is_video(self) -> bool:
        return self.video_url is not None or self.resumable

    @property
    def feed_image(self) -> bool:
        """An image shown in the feed (a post or a carousel item): the aspect ratio counts."""
        return self.kind == IMAGE


def hashtags(caption: str) -> int:
    return len(_HASHTAG.findall(caption))


def mentions(caption: str) -> int:
    return len(_MENTION.findall(caption))


def parse(form: Mapping[str, str]) -> ContainerSpec:
    """Given the request's parameters, return the container it describes.

    Raise GraphError with Meta's code and subcode for what Meta refuses: an unknown
    media_type (100/2207023), a carousel outside 2..10 items (100/2207028), a caption over
    2200 characters (36004/2207010) or with more than 30 hashtags or 20 @-mentions
    (100/2207040), and parameters that do not apply to the media type (100).
    """
    media_type = form.get("media_type", "")
    if media_type and media_type not in MEDIA_TYPES:
        raise meta_errors.unknown_media_type(media_type)
    resumable = _resumable(form, media_type)
    item = _flag(form, "is_carousel_item")
    image_url = form.get("image_url") or None
    video_url = form.get("video_url") or None
    kind = media_type or IMAGE
    if resumable and (image_url or video_url):
        raise meta_errors.bad_parameter(
            "upload_type=resumable sends the video to the upload host: no image_url or video_url"
        )

    if kind == CAROUSEL:
        if item:
            raise meta_errors.bad_parameter("A carousel cannot be a carousel item")
        if image_url or video_url:
            raise meta_errors.bad_parameter("A carousel takes children, not image_url or video_url")
        children = _children(form.get("children", ""))
        if not CAROUSEL_MIN <= len(children) <= CAROUSEL_MAX:
            raise meta_errors.carousel_size(len(children))
    else:
        children = ()
        if "children" in form:
            raise meta_errors.bad_parameter("children is only for media_type CAROUSEL")
        # a resumable container holds a video that is not here yet
        _check_media(kind, item, image_url, "(upload)" if resumable else video_url)

    caption = form.get("caption", "")
    if caption and (item or kind == VIDEO):
        raise meta_errors.bad_parameter("Param caption is not supported on carousel items")
    _check_caption(caption)
    extras = _extras(form, kind, item, bool(video_url) or resumable)
    cover_url = form.get("cover_url") or None
    if cover_url and kind != REELS:
        raise meta_errors.bad_parameter("cover_url is only for media_type REELS")
    return ContainerSpec(
        kind=kind,
        image_url=image_url,
        video_url=video_url,
        cover_url=cover_url,
        is_carousel_item=item,
        children=children,
        caption=caption,
        extras=extras,
        resumable=resumable,
    )


def _resumable(form: Mapping[str, str], media_type: str) -> bool:
    """`upload_type=resumable` (lowercase, [MEDIA]): only for video containers, REELS,
    STORIES or VIDEO carousel items (Upload Video to Meta Servers, instagram-api.md §2.3)."""
    upload_type = form.get("upload_type")
    if upload_type is None or upload_type == "":
        return False
    if upload_type != "resumable":
        raise meta_errors.bad_parameter(f"upload_type {upload_type!r} is not supported: resumable")
    if media_type not in (REELS, STORIES, VIDEO):
        raise meta_errors.bad_parameter(
            "upload_type=resumable needs media_type REELS, STORIES or VIDEO (carousel items)"
        )
    return True


def _check_media(kind: str, item: bool, image_url: str | None, video_url: str | None) -> None:
    if image_url and video_url:
        raise meta_errors.bad_parameter("Give image_url or video_url, not both")
    if kind in (REELS, STORIES) and item:
        raise meta_errors.bad_parameter(f"media_type {kind} cannot be a carousel item")
    if kind == VIDEO and not item:
        # Single feed videos are published as REELS since 2023 (instagram-api.md §2.2).
        raise meta_errors.unknown_media_type(VIDEO)
    if kind in (REELS, VIDEO) and not video_url:
        raise meta_errors.bad_parameter(f"media_type {kind} requires video_url")
    if kind in (REELS, VIDEO) and image_url:
        raise meta_errors.bad_parameter(f"media_type {kind} takes video_url, not image_url")
    if kind == IMAGE and video_url:
        raise meta_errors.bad_parameter(
            "video_url requires media_type REELS, STORIES, or VIDEO for carousel items"
        )
    if kind in (IMAGE, STORIES) and not (image_url or video_url):
        raise meta_errors.bad_parameter("The parameter image_url is required")


def _check_caption(caption: str) -> None:
    if len(caption) > CAPTION_MAX:
        raise meta_errors.caption_too_long(len(caption))
    tags, ats = hashtags(caption), mentions(caption)
    if tags > HASHTAGS_MAX or ats > MENTIONS_MAX:
        raise meta_errors.too_many_tags(tags, ats)


def _flag(form: Mapping[str, str], name: str) -> bool:
    value = form.get(name)
    if value is None or value == "":
        return False
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise meta_errors.bad_parameter(f"Param {name} must be a boolean")


def _children(text: str) -> tuple[str, ...]:
    """'1,2,3' or '[1,2,3]' or '["1","2"]' -> ids."""
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            values = text.strip("[]").split(",")
        if not isinstance(values, list):
            raise meta_errors.bad_parameter("Param children must be a list of container ids")
    else:
        values = text.split(",") if text else []
    ids = tuple(str(value).strip() for value in values if str(value).strip())
    for child in ids:
        if not _DIGITS.match(child):
            raise meta_errors.bad_parameter(f"Param children holds {child!r}, not a container id")
    return ids


def _extras(form: Mapping[str, str], kind: str, item: bool, video: bool) -> dict[str, str]:
    """The optional parameters, checked against the media type (instagram-api.md §2.1)."""
    extras: dict[str, str] = {}
    child = item or kind == VIDEO

    alt_text = form.get("alt_text")
    if alt_text is not None:
        if kind in (REELS, STORIES, CAROUSEL) or video:
            raise meta_errors.bad_parameter("alt_text is only for images in the feed")
        if len(alt_text) > ALT_TEXT_MAX:
            raise meta_errors.bad_parameter(f"alt_text is longer than {ALT_TEXT_MAX} characters")
        extras["alt_text"] = alt_text

    location = form.get("location_id")
    if location is not None:
        if child or kind == STORIES:
            raise meta_errors.bad_parameter("location_id is not supported on this media")
        if not _DIGITS.match(location):
            raise meta_errors.bad_parameter("location_id must be a Facebook Page id (digits)")
        extras["location_id"] = location

    collaborators = form.get("collaborators")
    if collaborators is not None:
        if child or kind == STORIES:
            raise meta_errors.bad_parameter("collaborators is not supported on this media")
        names = _names(collaborators)
        if len(names) > COLLABORATORS_MAX:
            raise meta_errors.bad_parameter("At most 3 collaborators can be invited")
        if any(name.startswith("@") or not name for name in names):
            raise meta_errors.bad_parameter("collaborators are usernames without a leading @")
        extras["collaborators"] = ",".join(names)

    user_tags = form.get("user_tags")
    if user_tags is not None:
        if kind == CAROUSEL:
            raise meta_errors.bad_parameter("user_tags go on the carousel items")
        _check_user_tags(user_tags, need_xy=kind == IMAGE or (item and not video))
        extras["user_tags"] = user_tags

    share = form.get("share_to_feed")
    if share is not None:
        if kind != REELS:
            raise meta_errors.bad_parameter("share_to_feed is only for media_type REELS")
        extras["share_to_feed"] = "true" if _flag(form, "share_to_feed") else "false"

    audio_name = form.get("audio_name")
    if audio_name is not None:
        if kind != REELS:
            raise meta_errors.bad_parameter("audio_name is only for media_type REELS")
        extras["audio_name"] = audio_name

    trial = form.get("trial_params")
    if trial is not None:
        if kind != REELS:
            raise meta_errors.bad_parameter("trial_params is only for media_type REELS")
        extras["trial_params"] = _graduation(trial)

    offset = form.get("thumb_offset")
    if offset is not None:
        if not video:
            raise meta_errors.bad_parameter("thumb_offset is only for videos")
        if not _DIGITS.match(offset):
            raise meta_errors.GraphError(
                1, "thumb_offset must be a whole number of milliseconds >= 0", subcode=2207057
            )
        extras["thumb_offset"] = offset
    return extras


def _graduation(text: str) -> str:
    """trial_params: {"graduation_strategy": "MANUAL" | "SS_PERFORMANCE"} (§2.1)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise meta_errors.bad_parameter("trial_params must be a JSON object") from exc
    strategy = value.get("graduation_strategy") if isinstance(value, dict) else None
    if strategy not in ("MANUAL", "SS_PERFORMANCE"):
        raise meta_errors.bad_parameter(
            "trial_params.graduation_strategy must be MANUAL or SS_PERFORMANCE"
        )
    return text


def _names(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise meta_errors.bad_parameter("collaborators must be a JSON list") from exc
        if not isinstance(values, list):
            raise meta_errors.bad_parameter("collaborators must be a JSON list")
        return [str(value).strip() for value in values]
    return [part.strip() for part in text.split(",")]


def _check_user_tags(text: str, *, need_xy: bool) -> None:
    try:
        tags = json.loads(text)
    except ValueError as exc:
        raise meta_errors.bad_parameter("user_tags must be a JSON list") from exc
    if not isinstance(tags, list):
        raise meta_errors.bad_parameter("user_tags must be a JSON list")
    for tag in tags:
        if not isinstance(tag, dict) or not isinstance(tag.get("username"), str):
            raise meta_errors.bad_parameter("each user tag needs a username")
        for axis in ("x", "y"):
            value = tag.get(axis)
            if value is None and not need_xy:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 <= value <= 1)
            ):
                raise meta_errors.bad_parameter(f"user tag {axis} must be a number from 0 to 1")
