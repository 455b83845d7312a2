"""A draft's `media:` list: each entry a file name or URL, or a mapping that gives the item
its own options (SPEC §7: `{file, alt_text, user_tags}`); the count and kinds the draft
type takes; and each local file checked by `images` or `videos`.

`read(...)` returns the `MediaItem`s and, when any entry is a mapping, one `ItemOptions`
per item; every problem goes to the `Report`, naming the entry (`media[2].file`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from publisher.drafts import images, limits, media, options, videos
from publisher.drafts.media import Finding, MediaItem
from publisher.drafts.model import DraftType, ItemOptions
from publisher.drafts.report import Report
from publisher.hosting.ratio import Fit

ITEM_KEYS = ("file", "alt_text", "user_tags")
# (path, url, role, fit, transcode) -> what `check_file` found
Known = dict[tuple[object, ...], list[Finding]]


@dataclass
class MediaList:
    """What reading a `media:` list needs to know about its draft."""

    type: DraftType | None
    draft_dir: Path
    content_dir: Path
    report: Report
    check_media: bool = True
    fit: Fit | None = None
    transcode: videos.Transcode = "auto"
    # What each file was found to be, kept across drafts when given (`import`: the rows of
    # a sheet often share a photo, and opening it, or probing a video, once is enough).
    known: Known | None = None

    def read(self, value: object) -> tuple[tuple[MediaItem, ...], tuple[ItemOptions, ...]]:
        """Given the `media:` value as written, return its items and, when any entry is a
        mapping, every item's own options (same order); `()` for the options otherwise."""
        if value is None or value == []:
            self.report.error("media", "required: list the files, e.g. media: [photo.jpg]")
            return (), ()
        entries = [value] if isinstance(value, str) else value
        if not isinstance(entries, list):
            self.report.error(
                "media", "must be a list of files or URLs, e.g. media: [look1.jpg, look2.jpg]"
            )
            return (), ()
        found: list[tuple[int, MediaItem, ItemOptions]] = []
        default: media.Kind = "video" if self.type == "reel" else "image"
        # Past the carousel maximum the count error says it all; do not stat thousands.
        for index, entry in enumerate(entries[: limits.MEDIA_COUNT["carousel"][1]]):
            read = self._entry(index, entry, default)
            if read is not None:
                found.append((index, *read))
        items = tuple(item for _, item, _ in found)
        mapped = any(isinstance(entry, dict) for entry in entries)
        given = tuple(item_options for _, _, item_options in found) if mapped else ()
        if self.type is None:
            return items, given
        fitting = self._fits_type(len(entries), [(index, item) for index, item, _ in found])
        if self.check_media:
            for index, item in fitting:
                self.check(f"media[{index}]", item, self.type)
        return items, given

    def _entry(
        self, index: int, entry: object, default: media.Kind
    ) -> tuple[MediaItem, ItemOptions] | None:
        where = f"media[{index}]"
        if not isinstance(entry, dict):
            source = options.text(self.report, "media", entry, where)
            if source is None:
                return None
            item = self._resolve(where, source, default)
            return None if item is None else (item, ItemOptions())
        for key in entry:
            if key not in ITEM_KEYS:
                self.report.error(
                    f"{where}.{key}", f"unknown key; an item takes {', '.join(ITEM_KEYS)}"
                )
        if entry.get("file") is None:
            self.report.error(
                f"{where}.file", "required: the item's file, e.g. {file: look1.jpg, alt_text: ...}"
            )
            return None
        source = options.text(self.report, "file", entry["file"], f"{where}.file")
        if source is None:
            return None
        item = self._resolve(f"{where}.file", source, default)
        return None if item is None else (item, self._item_options(where, entry, item))

    def _resolve(self, where: str, source: str, default: media.Kind) -> MediaItem | None:
        item = media.resolve(source, self.draft_dir, self.content_dir, default_kind=default)
        if isinstance(item, str):
            self.report.error(where, item)
            return None
        return item

    def _item_options(
        self, where: str, entry: dict[object, object], item: MediaItem
    ) -> ItemOptions:
        alt_text = None
        if entry.get("alt_text") is not None:
            if self.type is not None and self.type not in limits.OPTION_TYPES["alt_text"]:
                self.report.error(
                    f"{where}.alt_text", f"Instagram takes no alt text on a {self.type}; remove it"
                )
            elif item.kind == "video":
                self.report.error(
                    f"{where}.alt_text", "Instagram takes alt text on images only; remove it"
                )
            else:
                alt_text = options.alt_text(self.report, entry["alt_text"], f"{where}.alt_text")
        tags = options.user_tags(
            self.report,
            entry.get("user_tags"),
            need_position=self.type in ("post", "carousel") and item.kind == "image",
            where=f"{where}.user_tags",
        )
        return ItemOptions(alt_text, tags)

    def _fits_type(
        self, count: int, found: Sequence[tuple[int, MediaItem]]
    ) -> list[tuple[int, MediaItem]]:
        """Check the count and kinds for the type; return the items worth opening."""
        if self.type is None:
            return []
        low, high = limits.MEDIA_COUNT[self.type]
        if self.type == "post" and count > 1:
            self.report.error("media", f"a post has one image, this has {count}: use carousel")
        elif self.type == "carousel" and not low <= count <= high:
            hint = "; for one image use type: post" if count < low else ""
            self.report.error("media", f"a carousel has 2 to 10 items, this has {count}{hint}")
        elif self.type in ("reel", "story") and count != 1:
            what = "one video" if self.type == "reel" else "one image or video"
            self.report.error(
                "media", f"a {self.type} has {what}, this has {count}: make one draft for each"
            )
        fitting = []
        for index, item in found:
            if self.type == "post" and item.kind == "video":
                self.report.error(
                    f"media[{index}]", "a post is one image; for a video use type: reel"
                )
            elif self.type == "reel" and item.kind == "image":
                self.report.error(
                    f"media[{index}]",
                    "a reel is one video (.mp4 or .mov); for an image use type: post",
                )
            else:
                fitting.append((index, item))
        return fitting

    def check(self, where: str, item: MediaItem, role: media.Role) -> None:
        """Report what is wrong with `item`'s file, used as `role`."""
        key = (item.path, item.url, role, self.fit, self.transcode)
        findings = self.known.get(key) if self.known is not None else None
        if findings is None:
            findings = check_file(item, role, fit=self.fit, transcode=self.transcode)
            if self.known is not None:
                self.known[key] = findings
        for finding in findings:
            message = f"{media.short(item.source)} {finding.message}"
            if finding.severity == "warning":
                self.report.warn(where, message)
            else:
                self.report.error(where, message)


def check_file(
    item: MediaItem,
    role: media.Role,
    *,
    fit: Fit | None = None,
    transcode: videos.Transcode = "auto",
) -> list[Finding]:
    """Given a media item, how it is used (the draft type, or "cover"), the draft's `fit`
    and `media.transcode`, return what is wrong with its file. URLs are not fetched here
    (Instagram fetches them; the media host checks that they answer)."""
    if item.path is None:
        return []
    if item.kind == "video":
        return videos.check(item.path, role, transcode=transcode)
    return images.check(item.path, role, fit=fit)
