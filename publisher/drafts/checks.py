"""The field checks of one draft: every value the user wrote, against what Instagram takes.

`Checker(document, ...).run()` returns the `Draft`'s fields, or None when the draft cannot
be used; every problem goes to the `Report`, in the order found, each naming the field and
the fix (SPEC §4). The `media:` list is `medialist`'s (files opened by `images` and
`videos`); alt text, user tags and usernames are `options`'.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.config import Config
from publisher.drafts import limits, media, options, videos
from publisher.drafts.media import MediaItem
from publisher.drafts.medialist import Known, MediaList
from publisher.drafts.model import TYPES, DraftType, UserTag
from publisher.drafts.publish_at import parse_publish_at
from publisher.drafts.report import Report
from publisher.hosting.ratio import Fit

FITS: dict[str, Fit] = {"crop": "crop", "pad": "pad"}

KEYS = ("type", "account", "caption", "media", "publish_at", "platforms", *limits.OPTION_TYPES)
KEYS += ("paused", "status")  # `status` is the daemon's own block (SPEC §5)

_HASHTAG = re.compile(r"(?<![\w#&])#\w+")
_MENTION = re.compile(r"(?<![\w@.])@[A-Za-z0-9_.]+")


@dataclass
class Checker:
    """Checks one parsed draft mapping; every problem goes to `report`."""

    data: dict[Any, Any]
    config: Config
    content_dir: Path
    draft_dir: Path
    report: Report
    check_media: bool = True
    locked_platforms: tuple[str, ...] = ()
    type: DraftType | None = None
    fit: Fit | None = None
    media_known: Known | None = None  # shared by several drafts (MediaList.known)

    def run(self) -> dict[str, Any] | None:
        """Return the Draft's fields (without path/rel/fingerprint), or None if unusable."""
        for key in self.data:
            if key not in KEYS:
                self.report.error(str(key), f"unknown key; allowed: {', '.join(KEYS)}")
        self.type = self._type()
        account = self._account()
        caption = self._caption()
        self.fit = self._fit()  # before the media: it decides whether a ratio is an error
        media_list = self._media_list()
        items, item_options = media_list.read(self.data.get("media"))
        publish_at, publish_now = self._publish_at()
        platforms = self._platforms()
        self._options_allowed()
        fields: dict[str, Any] = {
            "type": self.type,
            "account": account,
            "caption": caption,
            "media": items,
            "items": item_options,
            "publish_at": publish_at,
            "publish_now": publish_now,
            "platforms": platforms,
            "alt_text": self._alt_text(),
            "location_id": self._location_id(),
            "user_tags": self._user_tags(),
            "collaborators": self._collaborators(),
            "cover": self._cover(),
            "thumb_offset": self._thumb_offset(items),
            "share_to_feed": self._bool("share_to_feed")
            if self._allowed("share_to_feed")
            else None,
            "trial": self._trial(),
            "audio_name": self._audio_name(),
            "first_comment": self._first_comment(),
            "fit": self.fit,
            "paused": bool(self._bool("paused")),
        }
        if self.type is None or account is None:
            return None
        return fields

    # -- scalar helpers -------------------------------------------------------------------

    def _text(self, key: str, value: object, where: str | None = None) -> str | None:
        return options.text(self.report, key, value, where)

    def _bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.report.error(key, f"must be true or false, not {value!r}")
        return None

    # -- fields ---------------------------------------------------------------------------

    def _type(self) -> DraftType | None:
        value = self.data.get("type")
        if value is None:
            self.report.error("type", "required: one of post, carousel, reel, story")
            return None
        kind = TYPES.get(value.strip().lower()) if isinstance(value, str) else None
        if kind is None:
            self.report.error(
                "type", f"{value!r} is not a draft type; use one of post, carousel, reel, story"
            )
        return kind

    def _account(self) -> str | None:
        names = sorted(self.config.accounts)
        value = self.data.get("account")
        if value is None:
            if len(names) == 1:
                return names[0]
            self.report.error(
                "account", f"required when several accounts are configured: {', '.join(names)}"
            )
            return None
        if not isinstance(value, str) or value not in self.config.accounts:
            self.report.error(
                "account", f"{value!r} is not a configured account; use one of: {', '.join(names)}"
            )
            return None
        return value

    def _caption(self) -> str:
        value = self.data.get("caption")
        if value is None:
            return ""
        caption = self._text("caption", value)
        if caption is None:
            return ""
        hashtags = self._length_and_hashtags(
            "caption", caption, limits.CAPTION_MAX, limits.HASHTAGS_MAX
        )
        if limits.HASHTAGS_APP < hashtags <= limits.HASHTAGS_MAX:
            self.report.warn(
                "caption",
                f"has {hashtags} hashtags; the Instagram app now caps posts at "
                f"{limits.HASHTAGS_APP}, and the API may follow",
            )
        mentions = len(_MENTION.findall(caption))
        if mentions > limits.MENTIONS_MAX:
            self.report.error(
                "caption", f"has {mentions} @mentions; Instagram allows {limits.MENTIONS_MAX}"
            )
        if self.type == "story" and caption.strip():
            self.report.warn("caption", "stories have no caption on Instagram; it is not sent")
        return caption

    def _length_and_hashtags(self, key: str, text: str, most: int, hashtags_most: int) -> int:
        """Report `text` longer than `most` characters or with more hashtags than
        `hashtags_most`; return its hashtag count."""
        size, hashtags = len(text), len(_HASHTAG.findall(text))
        if size > most:
            self.report.error(key, f"is {size} characters; Instagram allows {most}: shorten it")
        if hashtags > hashtags_most:
            allows = f"Instagram allows {hashtags_most}: remove some"
            self.report.error(key, f"has {hashtags} hashtags; {allows}")
        return hashtags

    def _first_comment(self) -> str | None:
        text = self._some_text("first_comment", "the comment")
        if text is not None:
            self._length_and_hashtags(
                "first_comment", text, limits.FIRST_COMMENT_MAX, limits.FIRST_COMMENT_HASHTAGS_MAX
            )
        return text

    def _some_text(self, key: str, what: str) -> str | None:
        """An optional text option of this draft type, not blank."""
        value = self.data.get(key)
        if value is None or not self._allowed(key):
            return None
        text = self._text(key, value)
        if text is not None and not text.strip():
            self.report.error(key, f"is empty: write {what}, or remove the key")
            return None
        return text

    def _trial(self) -> str | None:
        value = self.data.get("trial")
        if value is None or not self._allowed("trial"):
            return None
        if value not in limits.TRIAL_STRATEGIES:
            choices = " or ".join(limits.TRIAL_STRATEGIES)
            self.report.error(
                "trial",
                f"{value!r} is not a trial strategy: write {choices} (manual: you graduate "
                "the reel in the Instagram app; performance: Instagram does, on its results)",
            )
            return None
        return str(value)

    def _audio_name(self) -> str | None:
        return self._some_text("audio_name", "the audio's name")

    def _publish_at(self) -> tuple[datetime | None, bool]:
        try:
            when, now, warning = parse_publish_at(self.data.get("publish_at"), self.config.tz)
        except ValueError as exc:
            self.report.error("publish_at", str(exc))
            return None, False
        if warning:
            self.report.warn("publish_at", warning)
        return when, now

    def _platforms(self) -> tuple[str, ...]:
        value = self.data.get("platforms")
        if value is None:
            return ("instagram",)
        entries = [value] if isinstance(value, str) else value
        if not isinstance(entries, list):
            self.report.error("platforms", "must be a list, e.g. platforms: [instagram]")
            return ("instagram",)
        if not entries:
            self.report.error("platforms", "list at least one, e.g. platforms: [instagram]")
            return ("instagram",)
        names: list[str] = []
        for index, entry in enumerate(entries):
            name = self._text("platforms", entry, f"platforms[{index}]")
            if name is not None and name.strip() and name.strip() not in names:
                names.append(name.strip())
        self.locked_platforms = tuple(n for n in names if n.lower() != "instagram")
        for name in self.locked_platforms:
            self.report.warn(
                "platforms", f"{name!r} is not available (only instagram): reported as locked"
            )
        return tuple(names)

    def _options_allowed(self) -> None:
        if self.type is None:
            return
        for key, types in limits.OPTION_TYPES.items():
            if self.data.get(key) is not None and self.type not in types:
                self.report.error(
                    key, f"is for {', '.join(types)} drafts only, not a {self.type}; remove it"
                )

    def _allowed(self, key: str) -> bool:
        return self.type is None or self.type in limits.OPTION_TYPES[key]

    def _alt_text(self) -> str | None:
        if not self._allowed("alt_text"):
            return None
        return options.alt_text(self.report, self.data.get("alt_text"))

    def _location_id(self) -> str | None:
        value = self.data.get("location_id")
        if value is None or not self._allowed("location_id"):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip().isdigit():
            self.report.error(
                "location_id",
                f"{value!r} is not a location id: the digits of a Facebook Page with a "
                'location, like "110843418940484"',
            )
            return None
        return value.strip()

    def _user_tags(self) -> tuple[UserTag, ...]:
        if not self._allowed("user_tags"):
            return ()
        return options.user_tags(
            self.report, self.data.get("user_tags"), need_position=self.type in ("post", "carousel")
        )

    def _collaborators(self) -> tuple[str, ...]:
        value = self.data.get("collaborators")
        if value is None or not self._allowed("collaborators"):
            return ()
        entries = [value] if isinstance(value, str) else value
        if not isinstance(entries, list):
            self.report.error("collaborators", "must be a list of usernames, e.g. [jane]")
            return ()
        if len(entries) > limits.COLLABORATORS_MAX:
            self.report.error(
                "collaborators",
                f"has {len(entries)}; Instagram allows up to {limits.COLLABORATORS_MAX} "
                "collaborators",
            )
        names = [
            options.username(self.report, entry, f"collaborators[{index}]", "collaborators")
            for index, entry in enumerate(entries[: limits.COLLABORATORS_MAX * 2])
        ]
        return tuple(name for name in names if name is not None)

    def _cover(self) -> MediaItem | None:
        value = self.data.get("cover")
        if value is None or not self._allowed("cover"):
            return None
        source = self._text("cover", value)
        if source is None:
            return None
        item = media.resolve(source, self.draft_dir, self.content_dir)
        if isinstance(item, str):
            self.report.error("cover", item)
            return None
        if item.kind == "video":
            self.report.error("cover", "must be a JPEG image, not a video")
            return None
        if self.check_media:
            self._media_list().check("cover", item, "cover")
        return item

    def _fit(self) -> Fit | None:
        value = self.data.get("fit")
        if value is None or not self._allowed("fit"):
            return None
        if not isinstance(value, str) or value not in FITS:
            self.report.error("fit", f"{value!r} is not a fit; write fit: crop or fit: pad")
            return None
        return FITS[value]

    def _thumb_offset(self, items: Sequence[MediaItem]) -> int | None:
        value = self.data.get("thumb_offset")
        if value is None or not self._allowed("thumb_offset"):
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.report.error(
                "thumb_offset", f"{value!r}: write whole milliseconds from 0, like 1500"
            )
            return None
        video = items[0] if len(items) == 1 and items[0].kind == "video" else None
        if self.check_media and video is not None and video.path is not None:
            seconds = videos.duration(video.path)
            # Meta: at least 0 and less than the duration (error 2207057)
            if seconds is not None and value >= seconds * 1000:
                self.report.error(
                    "thumb_offset",
                    f"{value} ms is past the end of the video ({media.short(video.source)} "
                    f"lasts {seconds:.1f} s): write a number of milliseconds below "
                    f"{int(seconds * 1000)}",
                )
        return value

    def _media_list(self) -> MediaList:
        return MediaList(
            type=self.type,
            draft_dir=self.draft_dir,
            content_dir=self.content_dir,
            report=self.report,
            check_media=self.check_media,
            fit=self.fit,
            transcode=self.config.media.transcode,
            known=self.media_known,
        )
