"""What a draft is once read: `Draft` (valid), `Loaded` (what `load` found in one file),
`UserTag`, `ItemOptions` (one media item's own options, SPEC §7), and `caption_hash`, the
key that recognises a post on Instagram after a crash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from publisher.drafts import captions
from publisher.drafts.media import MediaItem
from publisher.errors import Problem
from publisher.hosting.ratio import Fit

DraftType = Literal["post", "carousel", "reel", "story"]
TYPES: dict[str, DraftType] = {
    "post": "post",
    "carousel": "carousel",
    "reel": "reel",
    "story": "story",
}


@dataclass(frozen=True)
class UserTag:
    """A tagged account; x/y (0..1 from the top left) are required on images."""

    username: str
    x: float | None = None
    y: float | None = None


@dataclass(frozen=True)
class ItemOptions:
    """What one `media:` item written as a mapping gives itself (SPEC §7): None / () when it
    gives nothing, and the draft's own value applies."""

    alt_text: str | None = None
    user_tags: tuple[UserTag, ...] = ()


@dataclass(frozen=True)
class Draft:
    """A valid draft. `publish_at` is aware UTC (or None: `publish_now`, or the next slot)."""

    path: Path
    rel: str
    type: DraftType
    account: str
    caption: str
    media: tuple[MediaItem, ...]
    # One per media item, same order, when any item is a mapping; () when none is.
    items: tuple[ItemOptions, ...] = ()
    publish_at: datetime | None = None
    publish_now: bool = False
    platforms: tuple[str, ...] = ("instagram",)
    alt_text: str | None = None
    location_id: str | None = None
    user_tags: tuple[UserTag, ...] = ()
    collaborators: tuple[str, ...] = ()
    cover: MediaItem | None = None
    thumb_offset: int | None = None
    share_to_feed: bool | None = None
    trial: str | None = None  # reel: "manual" | "performance" (limits.TRIAL_STRATEGIES)
    audio_name: str | None = None  # reel
    first_comment: str | None = None
    fit: Fit | None = None  # SPEC §7: how an image outside 4:5..1.91:1 is sent
    paused: bool = False
    fingerprint: str = ""
    caption_hash: str = ""

    def __post_init__(self) -> None:
        if not self.caption_hash:
            # A story's caption is never sent (payloads), so its post on Instagram has none.
            sent = "" if self.type == "story" else self.caption
            object.__setattr__(self, "caption_hash", caption_hash(sent))

    def alt_text_for(self, index: int) -> str | None:
        """The alt text of media item `index`: its own, else the draft's (images only: the
        caller sends it where Meta takes it)."""
        own = self.items[index].alt_text if index < len(self.items) else None
        return own if own is not None else self.alt_text

    def user_tags_for(self, index: int) -> tuple[UserTag, ...]:
        """The tags of media item `index`: its own, else the draft's."""
        own = self.items[index].user_tags if index < len(self.items) else ()
        return own or self.user_tags


@dataclass(frozen=True)
class Loaded:
    """What `load` found in one draft file. `draft` is None when there is any error."""

    path: Path
    rel: str
    draft: Draft | None
    problems: tuple[Problem, ...]
    fingerprint: str
    status: dict[str, Any] | None = None
    locked_platforms: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


def caption_hash(caption: str) -> str:
    """Given a caption, return the key used to recognise the post on Instagram after a
    crash: the sha256 of the caption as it reads whatever Meta does to it on the way back
    (no "@", NFC, stripped; `drafts.captions`)."""
    return captions.fingerprint(caption)
