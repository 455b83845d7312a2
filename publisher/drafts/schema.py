"""A draft file's keys as a pydantic model, for the JSON Schema editors read (SPEC §4, §7, §8).

Editors complete and check drafts against `publisher schema draft`, made from `DraftFile`.
The rules themselves live in `checks` (which says what is wrong in words) and `limits` (the
numbers); this model only describes the keys with those same numbers, so an editor flags
what `publisher validate` would. A test keeps its keys equal to `checks.KEYS`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from publisher.drafts import limits

USERNAME = r"^[A-Za-z0-9_.]{1,30}$"
# What `publish_at.parse_publish_at` takes: `now`, or an ISO 8601 date and time (naive = the
# config's timezone). Editors read YAML 1.2, where a timestamp is a string.
PUBLISH_AT = r"^(now|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?)$"
Username = Annotated[
    str, Field(pattern=USERNAME, description="an Instagram username, without the @")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserTag(_Strict):
    """A tagged account. On images, x and y (0..1 from the top left) are required."""

    username: Username = Field(examples=["jane"])
    x: float | None = Field(
        None, ge=0, le=1, description="0 = left edge, 1 = right edge", examples=[0.5]
    )
    y: float | None = Field(
        None, ge=0, le=1, description="0 = top edge, 1 = bottom edge", examples=[0.8]
    )


class MediaItem(_Strict):
    """One media entry with options of its own (SPEC §7)."""

    file: str = Field(
        description="the image or video: a path relative to the draft's folder (inside "
        "content_dir), or an http(s) URL",
        examples=["look2.jpg"],
    )
    alt_text: str | None = Field(
        None,
        max_length=limits.ALT_TEXT_MAX,
        description="this image's alt text (overrides the draft's alt_text)",
        examples=["Back view"],
    )
    user_tags: Annotated[list[UserTag], Field(max_length=limits.USER_TAGS_MAX)] | None = Field(
        None,
        description="accounts tagged on this image (overrides the draft's user_tags)",
        examples=[[{"username": "jane", "x": 0.3, "y": 0.6}]],
    )


MediaEntry = Annotated[
    str | MediaItem,
    Field(description="a file name relative to the draft, an http(s) URL, or {file: ...}"),
]


class DraftFile(_Strict):
    """A publisher draft: one Instagram post, carousel, reel or story. `publisher validate`
    checks it fully (media files included)."""

    model_config = ConfigDict(title="publisher draft")

    type: Literal["post", "carousel", "reel", "story"] = Field(
        description="post: one image; carousel: 2-10 images/videos; reel: one video; "
        "story: one image or video",
        examples=["post"],
    )
    account: str | None = Field(
        None,
        pattern=r"^[a-z0-9_]+$",
        description="the account (a name under accounts: in config.yaml); optional when "
        "there is only one",
        examples=["main"],
    )
    caption: str | None = Field(
        None,
        max_length=limits.CAPTION_MAX,
        description=f"the caption: at most {limits.CAPTION_MAX} characters, "
        f"{limits.HASHTAGS_MAX} hashtags and {limits.MENTIONS_MAX} @mentions (stories have none)",
        examples=["New collection is live #launch"],
    )
    media: (
        str
        | Annotated[
            list[MediaEntry], Field(min_length=1, max_length=limits.MEDIA_COUNT["carousel"][1])
        ]
    ) = Field(
        description="the images and videos, relative to the draft's folder (or http(s) URLs); "
        "an entry may be a mapping {file, alt_text, user_tags}",
        examples=[["look1.jpg", "look2.jpg", "clip.mp4"], "sunrise.jpg"],
    )
    publish_at: str | None = Field(
        None,
        pattern=PUBLISH_AT,
        description="when to publish: ISO 8601 (naive = config timezone), or now; "
        "omitted = the next free slot of the account's queue",
        examples=["2026-12-01 09:00", "2026-12-01T09:00:00+01:00", "now"],
    )
    platforms: str | list[str] | None = Field(
        None,
        description="only instagram is available; any other is reported as locked",
        examples=[["instagram"]],
    )
    alt_text: str | None = Field(
        None,
        max_length=limits.ALT_TEXT_MAX,
        description="alt text for every image without its own (post, carousel)",
        examples=["A red dress on a chair"],
    )
    location_id: Annotated[str, Field(pattern=r"^\s*\d+\s*$")] | int | None = Field(
        None,
        description="the id of a Facebook Page with a location (post, carousel, reel)",
        examples=["110843418940484"],
    )
    user_tags: Annotated[list[UserTag], Field(max_length=limits.USER_TAGS_MAX)] | None = Field(
        None,
        description=f"tagged accounts, up to {limits.USER_TAGS_MAX} (x, y required on images)",
        examples=[[{"username": "jane", "x": 0.5, "y": 0.8}]],
    )
    collaborators: (
        Username | Annotated[list[Username], Field(max_length=limits.COLLABORATORS_MAX)] | None
    ) = Field(
        None,
        description=f"up to {limits.COLLABORATORS_MAX} usernames invited as collaborators, "
        "without @ (post, carousel, reel)",
        examples=[["jane"]],
    )
    cover: str | None = Field(
        None, description="the reel's cover image, relative to the draft", examples=["cover.jpg"]
    )
    thumb_offset: int | None = Field(
        None, ge=0, description="reel: the frame shown as thumbnail, in ms", examples=[1500]
    )
    share_to_feed: bool | None = Field(
        None, description="reel: also show it in the feed", examples=[True]
    )
    trial: Literal["manual", "performance"] | None = Field(
        None,
        description="reel: a trial reel shown first to non-followers; manual (you graduate "
        "it) or performance (Instagram does, on its results)",
        examples=["manual"],
    )
    audio_name: str | None = Field(
        None, description="reel: the name of its audio", examples=["Original sound"]
    )
    first_comment: str | None = Field(
        None,
        max_length=limits.FIRST_COMMENT_MAX,
        description="posted as the account's own first comment right after the post "
        "(post, carousel, reel); never posted twice",
        examples=["Link in bio"],
    )
    fit: Literal["crop", "pad"] | None = Field(
        None,
        description="an image outside 4:5..1.91:1: crop (keep the centre) or pad (white bars) "
        "(post, carousel)",
        examples=["pad"],
    )
    paused: bool | None = Field(
        None,
        description="true: validated and shown, never published while true",
        examples=[False],
    )
    status: dict[str, Any] | None = Field(
        None,
        description="written by publisher (state, scheduled_for, permalink, error, ...); "
        "leave it alone",
    )


def type_rules() -> list[dict[str, Any]]:
    """The JSON Schema `if`/`then` rules that depend on the draft's type: the options each
    type takes (`limits.OPTION_TYPES`) and its media count (`limits.MEDIA_COUNT`)."""
    rules = []
    for kind, (least, most) in limits.MEDIA_COUNT.items():
        refused = {
            key: {"not": {}, "description": f"{key} is for {', '.join(types)} drafts only"}
            for key, types in limits.OPTION_TYPES.items()
            if kind not in types
        }
        many = {"type": "array", "minItems": least, "maxItems": most}
        media = {"anyOf": [{"type": "string"}, many]} if least == 1 else many
        rules.append(
            {
                "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                "then": {"properties": {"media": media, **refused}},
            }
        )
    return rules
