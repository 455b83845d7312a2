"""Draft files: finding them, and reading each into a frozen `Draft` with every problem at once.

    discover(content_dir)        every draft file under content_dir, sorted
    load(path, config)           -> Loaded: the Draft (when valid), its problems, fingerprint
                                    and the daemon's own `status:` block as read

`load` never raises for anything a user can put on disk: hostile YAML (yamlsafe refuses it),
directories, FIFOs, broken symlinks, bad media and bad values all become `Problem`s naming the
file, the field and the fix (SPEC §4). Media files are checked by `publisher.media`.
The fingerprint ignores the `status:` block, so the daemon's own write-back never looks like a
user edit.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from publisher import yamlsafe
from publisher.config import Config
from publisher.drafts import media, statusblock
from publisher.drafts.media import MediaItem
from publisher.errors import Problem

__all__ = [
    "DRAFT_SUFFIXES",
    "Draft",
    "Loaded",
    "MediaItem",
    "UserTag",
    "caption_hash",
    "discover",
    "is_draft_path",
    "load",
    "parse_publish_at",
    "user_bytes",
]

DRAFT_SUFFIXES = (".yaml", ".yml")
DraftType = Literal["post", "carousel", "reel", "story"]
TYPES: dict[str, DraftType] = {
    "post": "post",
    "carousel": "carousel",
    "reel": "reel",
    "story": "story",
}
# Limits from instagram-api.md §2.1 and §6.
CAPTION_MAX = 2200
HASHTAGS_MAX = 30
HASHTAGS_APP = 5  # the Instagram app caps posts at 5 since Dec 2025; the API may follow
MENTIONS_MAX = 20
COLLABORATORS_MAX = 3
USER_TAGS_MAX = 20
ALT_TEXT_MAX = 1000
YEARS = (2000, 2100)  # publish_at outside these is a typo
MEDIA_COUNT: dict[str, tuple[int, int]] = {
    "post": (1, 1),
    "carousel": (2, 10),
    "reel": (1, 1),
    "story": (1, 1),
}
# Which draft types take each option (instagram-api.md §2.1).
OPTION_TYPES: dict[str, tuple[str, ...]] = {
    "alt_text": ("post", "carousel"),
    "location_id": ("post", "carousel", "reel"),
    "user_tags": ("post", "carousel", "reel", "story"),
    "collaborators": ("post", "carousel", "reel"),
    "cover": ("reel",),
    "thumb_offset": ("reel",),
    "share_to_feed": ("reel",),
}
KEYS = ("type", "account", "caption", "media", "publish_at", "platforms", *OPTION_TYPES)
KEYS += ("paused", "status")  # `status` is the daemon's own block (SPEC §5)

_HASHTAG = re.compile(r"(?<![\w#&])#\w+")
_MENTION = re.compile(r"(?<![\w@.])@[A-Za-z0-9_.]+")
_MAY_HAVE_STATUS = re.compile(rb"^[ \t]*[\"']?status[\"']?[ \t]*:", re.MULTILINE)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class UserTag:
    """A tagged account; x/y (0..1 from the top left) are required on images."""

    username: str
    x: float | None = None
    y: float | None = None


@dataclass(frozen=True)
class Draft:
    """A valid draft. `publish_at` is aware UTC (or None: `publish_now`, or the next slot)."""

    path: Path
    rel: str
    type: DraftType
    account: str
    caption: str
    media: tuple[MediaItem, ...]
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
    paused: bool = False
    fingerprint: str = ""
    caption_hash: str = ""

    def __post_init__(self) -> None:
        if not self.caption_hash:
            # A story's caption is never sent (payloads), so its post on Instagram has none.
            sent = "" if self.type == "story" else self.caption
            object.__setattr__(self, "caption_hash", caption_hash(sent))


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
    """Given a caption, return the sha256 (hex) of its NFC-normalised, stripped text: the key
    used to recognise the post on Instagram after a crash."""
    return hashlib.sha256(unicodedata.normalize("NFC", caption).strip().encode()).hexdigest()


def user_bytes(data: bytes) -> bytes:
    """Given a draft file's bytes, return them without the daemon's top-level `status:` block
    (`statusblock.split`), so that rewriting the status does not look like a user edit."""
    if not _MAY_HAVE_STATUS.search(data):
        return data  # the common fresh draft: no second parse
    return statusblock.split(data)[0]


def fingerprint(data: bytes) -> str:
    """The sha256 (hex) of what the user wrote: `statusblock.fingerprint`, the same hash the
    write-back uses."""
    if not _MAY_HAVE_STATUS.search(data):
        return hashlib.sha256(data.rstrip(b"\r\n")).hexdigest()
    return statusblock.fingerprint(data)


def is_draft_path(path: Path, content_dir: Path) -> bool:
    """True if `path` names a draft: a .yaml/.yml name inside `content_dir`, with no part
    (file or folder, below content_dir) starting with "." or "_"."""
    try:
        parts = Path(os.path.abspath(path)).relative_to(os.path.abspath(content_dir)).parts
    except ValueError:
        return False
    if not parts or not parts[-1].endswith(DRAFT_SUFFIXES):
        return False
    return not any(part.startswith((".", "_")) for part in parts)


def discover(content_dir: Path) -> list[Path]:
    """Return every draft file under `content_dir`, at any depth, sorted. Names (files or
    folders) starting with "." or "_" are skipped. Symlinked folders are never entered: one
    inside content_dir would show its drafts twice (two jobs, two posts), one outside would
    leave content_dir. Entries that are not folders are listed even when they are not
    regular files (a FIFO, a broken link): `load` reports them as invalid."""
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(content_dir, followlinks=False):
        dirnames[:] = [name for name in dirnames if not name.startswith((".", "_"))]
        for name in filenames:
            if name.endswith(DRAFT_SUFFIXES) and not name.startswith((".", "_")):
                found.append(Path(folder, name))
    return sorted(found)


class _Report:
    """The problems of one draft, in the order found."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.items: list[Problem] = []

    def error(self, where: str, message: str) -> None:
        self.items.append(Problem(self.shown, where, message))

    def warn(self, where: str, message: str) -> None:
        self.items.append(Problem(self.shown, where, message, "warning"))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.items)


def load(
    path: Path, config: Config, *, check_media: bool = True, ffprobe: str | None = "ffprobe"
) -> Loaded:
    """Given a draft file and the config, return what it holds (see `Loaded`). Never raises
    for user errors. `check_media=False` skips opening media files (paths, existence and
    safety are still checked). `ffprobe` names the ffprobe program (None: not installed)."""
    shown = _shown(path)
    content_dir = config.content_dir.resolve()
    absolute = _absolute(path)
    try:
        rel = absolute.relative_to(content_dir).as_posix()
    except ValueError:
        rel = absolute.as_posix()
    report = _Report(shown)
    data, digest = _read(absolute, content_dir, report)
    if data is None:
        return Loaded(absolute, rel, None, tuple(report.items), digest)
    if rel == absolute.as_posix():
        report.error("", f"is outside content_dir ({content_dir}); move it there to publish it")
    elif not is_draft_path(absolute, content_dir):
        report.warn("", "the daemon ignores this file: a name in its path starts with . or _")
    try:
        document = yamlsafe.loads(data)
    except yamlsafe.YamlRejected as exc:
        report.error(f"line {exc.line}" if exc.line else "", str(exc))
        return Loaded(absolute, rel, None, tuple(report.items), digest)
    if document is None:
        report.error("", "the file is empty; a draft needs at least type: and media:")
        return Loaded(absolute, rel, None, tuple(report.items), digest)
    if not isinstance(document, dict):
        found = "a list" if isinstance(document, list) else f"the value {document!r}"[:80]
        report.error("", f"must be a mapping of keys (type: post, media: [...]), not {found}")
        return Loaded(absolute, rel, None, tuple(report.items), digest)
    status = document.get("status")
    if status is not None and not isinstance(status, dict):
        report.warn("status", "is written by publisher and will be rewritten; leave it alone")
        status = None
    checker = _Checker(document, config, content_dir, absolute.parent, report, ffprobe, check_media)
    draft_fields = checker.run()
    draft = None
    if not report.failed and draft_fields is not None:
        draft = Draft(path=absolute, rel=rel, fingerprint=digest, **draft_fields)
    return Loaded(
        absolute, rel, draft, tuple(report.items), digest, status, checker.locked_platforms
    )


def _shown(path: Path) -> str:
    """The path as the user will recognise it: relative to the working folder when inside it."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def _absolute(path: Path) -> Path:
    """`path` made absolute with its folder's symlinks resolved, but not the file's own
    (a draft that is a symlink keeps its own name and folder)."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.parent.resolve() / absolute.name
    except (OSError, RuntimeError):
        return absolute


def _read(path: Path, content_dir: Path, report: _Report) -> tuple[bytes | None, str]:
    """Read the file once, refusing what is not a small regular file. Return (bytes or None,
    fingerprint); the fingerprint of an unreadable file describes what was found instead."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            report.error("", f"is a symlink to {os.readlink(path)}, which does not exist")
            return None, _digest("broken-link", os.readlink(path))
        report.error("", "no such file")
        return None, _digest("missing")
    except OSError as exc:
        report.error("", f"cannot be read: {exc.strerror}")
        return None, _digest("unreadable", exc.strerror)
    if stat.S_ISDIR(info.st_mode):
        report.error("", "is a folder, not a draft file; rename it so it does not end .yaml")
        return None, _digest("folder")
    if not stat.S_ISREG(info.st_mode):
        report.error("", "is not a regular file (a pipe or device?); drafts are text files")
        return None, _digest("special", info.st_mode)
    if info.st_size > yamlsafe.MAX_BYTES:
        report.error(
            "",
            f"the file is {info.st_size} bytes; a draft may be at most {yamlsafe.MAX_BYTES} "
            "bytes (256 KiB): shorten it",
        )
        return None, _digest("too-big", info.st_size, info.st_mtime_ns)
    if os.path.islink(path):
        target = path.resolve()
        if target != path and is_draft_path(target, content_dir):
            report.error(
                "",
                f"is a link to {target.relative_to(content_dir).as_posix()}, a draft itself; "
                "remove the link (two drafts would publish twice)",
            )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise OSError(0, "not a regular file")
            data = handle.read(yamlsafe.MAX_BYTES + 1)
    except OSError as exc:
        report.error("", f"cannot be read: {exc.strerror}")
        return None, _digest("unreadable", exc.strerror)
    return data, fingerprint(data)


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def parse_publish_at(value: object, zone: tzinfo) -> tuple[datetime | None, bool, str | None]:
    """Given `publish_at` as written and the config's zone, return (aware UTC time or None,
    publish_now, warning or None). Naive times are in `zone`; an ambiguous one (clocks go
    back) takes the first occurrence, with a warning. Raise ValueError with the fix for
    anything else, including a local time skipped by a daylight-saving change."""
    if value is None:
        return None, False, None
    if isinstance(value, str) and value.strip().lower() == "now":
        return None, True, None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        text = value.strip()
        if _DATE_ONLY.match(text):
            try:
                date.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"{text!r} is not a date; write it like 2026-12-01 09:00 (year-month-day)"
                ) from None
            raise ValueError(f"{text!r} has no time of day; write it like {text} 09:00")
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date and time; write it like 2026-12-01 09:00 "
                "(in the config's timezone), 2026-12-01T09:00+01:00, or now"
            ) from None
    else:
        raise ValueError(
            f"{value!r} is not a date and time; write it like 2026-12-01 09:00, or now"
        )
    if not YEARS[0] <= when.year <= YEARS[1]:
        # Far years overflow datetime arithmetic (UTC conversion, slot maths) downstream.
        raise ValueError(
            f"{value!s} is not a plausible time; give a year from {YEARS[0]} to {YEARS[1]}"
        )
    if when.tzinfo is not None and when.utcoffset() is not None:
        return when.astimezone(UTC), False, None
    return _localize(when.replace(tzinfo=None), zone)


def _localize(naive: datetime, zone: tzinfo) -> tuple[datetime, bool, str | None]:
    first = naive.replace(tzinfo=zone, fold=0)
    if not _exists(naive, zone):
        start = end = naive.replace(second=0, microsecond=0)
        for _ in range(24 * 60):  # gaps last minutes to an hour or two; never loop forever
            if _exists(start - timedelta(minutes=1), zone):
                break
            start -= timedelta(minutes=1)
        for _ in range(24 * 60):
            if _exists(end, zone):
                break
            end += timedelta(minutes=1)
        raise ValueError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone}: the clocks jump from "
            f"{start:%H:%M} to {end:%H:%M} that night (daylight saving time); "
            f"write {end:%Y-%m-%d %H:%M} or a time before {start:%H:%M}"
        )
    second = naive.replace(tzinfo=zone, fold=1)
    warning = None
    if first.utcoffset() != second.utcoffset():
        warning = (
            f"{naive:%Y-%m-%d %H:%M} happens twice in {zone} (the clocks go back that night); "
            f"the first one is used, {first.isoformat(timespec='minutes')}; write "
            f"{second.isoformat(timespec='minutes')} for the second"
        )
    return first.astimezone(UTC), False, warning


def _exists(naive: datetime, zone: tzinfo) -> bool:
    """False for a wall time skipped by a clock change (it does not survive a round trip)."""
    there = naive.replace(tzinfo=zone)
    return there.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def _kind_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


@dataclass
class _Checker:
    """Checks one parsed draft mapping; every problem goes to `report`."""

    data: dict[Any, Any]
    config: Config
    content_dir: Path
    draft_dir: Path
    report: _Report
    ffprobe: str | None = "ffprobe"
    check_media: bool = True
    locked_platforms: tuple[str, ...] = ()
    type: DraftType | None = None
    _ffprobe_path: list[str | None] = field(default_factory=list)

    def run(self) -> dict[str, Any] | None:
        """Return the Draft's fields (without path/rel/fingerprint), or None if unusable."""
        for key in self.data:
            if key not in KEYS:
                self.report.error(str(key), f"unknown key; allowed: {', '.join(KEYS)}")
        self.type = self._type()
        account = self._account()
        caption = self._caption()
        items = self._media()
        publish_at, publish_now = self._publish_at()
        platforms = self._platforms()
        self._options_allowed()
        fields: dict[str, Any] = {
            "type": self.type,
            "account": account,
            "caption": caption,
            "media": items,
            "publish_at": publish_at,
            "publish_now": publish_now,
            "platforms": platforms,
            "alt_text": self._alt_text(),
            "location_id": self._location_id(),
            "user_tags": self._user_tags(),
            "collaborators": self._collaborators(),
            "cover": self._cover(),
            "thumb_offset": self._thumb_offset(),
            "share_to_feed": self._bool("share_to_feed")
            if self._allowed("share_to_feed")
            else None,
            "paused": bool(self._bool("paused")),
        }
        if self.type is None or account is None:
            return None
        return fields

    # -- scalar helpers -------------------------------------------------------------------

    def _text(self, key: str, value: object, where: str | None = None) -> str | None:
        """`value` as text, or None (with an error) when it is not."""
        where = where or key
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            self.report.error(
                where, f'is {_kind_name(value)}, not text; quote it: {key}: "{shown}"'
            )
        else:
            self.report.error(where, f"must be text, not {_kind_name(value)}")
        return None

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
        if len(caption) > CAPTION_MAX:
            self.report.error(
                "caption", f"is {len(caption)} characters; Instagram allows {CAPTION_MAX}"
            )
        hashtags = len(_HASHTAG.findall(caption))
        if hashtags > HASHTAGS_MAX:
            self.report.error(
                "caption", f"has {hashtags} hashtags; Instagram allows {HASHTAGS_MAX}"
            )
        elif hashtags > HASHTAGS_APP:
            self.report.warn(
                "caption",
                f"has {hashtags} hashtags; the Instagram app now caps posts at {HASHTAGS_APP}, "
                "and the API may follow",
            )
        mentions = len(_MENTION.findall(caption))
        if mentions > MENTIONS_MAX:
            self.report.error(
                "caption", f"has {mentions} @mentions; Instagram allows {MENTIONS_MAX}"
            )
        if self.type == "story" and caption.strip():
            self.report.warn("caption", "stories have no caption on Instagram; it is not sent")
        return caption

    def _media(self) -> tuple[MediaItem, ...]:
        value = self.data.get("media")
        if value is None or value == []:
            self.report.error("media", "required: list the files, e.g. media: [photo.jpg]")
            return ()
        entries = [value] if isinstance(value, str) else value
        if not isinstance(entries, list):
            self.report.error(
                "media", "must be a list of files or URLs, e.g. media: [look1.jpg, look2.jpg]"
            )
            return ()
        found: list[tuple[int, MediaItem]] = []
        default: media.Kind = "video" if self.type == "reel" else "image"
        # Past the carousel maximum the count error says it all; do not stat thousands.
        for index, entry in enumerate(entries[: MEDIA_COUNT["carousel"][1]]):
            where = f"media[{index}]"
            source = self._text("media", entry, where)
            if source is None:
                continue
            item = media.resolve(source, self.draft_dir, self.content_dir, default_kind=default)
            if isinstance(item, str):
                self.report.error(where, item)
                continue
            found.append((index, item))
        if self.type is None:
            return tuple(item for _, item in found)
        fitting = self._media_fits_type(len(entries), found)
        if self.check_media:
            for index, item in fitting:
                self._check_file(f"media[{index}]", item, self.type)
        return tuple(item for _, item in found)

    def _media_fits_type(
        self, count: int, found: Sequence[tuple[int, MediaItem]]
    ) -> list[tuple[int, MediaItem]]:
        """Check the count and kinds for the type; return the items worth opening."""
        if self.type is None:
            return []
        low, high = MEDIA_COUNT[self.type]
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

    def _check_file(self, where: str, item: MediaItem, role: media.Role) -> None:
        if item.kind == "video" and not self._ffprobe_path:
            self._ffprobe_path.append(shutil.which(self.ffprobe) if self.ffprobe else None)
        program = self._ffprobe_path[0] if self._ffprobe_path else None
        for finding in media.check(item, role, ffprobe=program):
            message = f"{media.short(item.source)} {finding.message}"
            if finding.severity == "warning":
                self.report.warn(where, message)
            else:
                self.report.error(where, message)

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
        for key, types in OPTION_TYPES.items():
            if self.data.get(key) is not None and self.type not in types:
                self.report.error(
                    key, f"is for {', '.join(types)} drafts only, not a {self.type}; remove it"
                )

    def _allowed(self, key: str) -> bool:
        return self.type is None or self.type in OPTION_TYPES[key]

    def _alt_text(self) -> str | None:
        value = self.data.get("alt_text")
        if value is None or not self._allowed("alt_text"):
            return None
        text = self._text("alt_text", value)
        if text is not None and len(text) > ALT_TEXT_MAX:
            self.report.error(
                "alt_text", f"is {len(text)} characters; Instagram allows {ALT_TEXT_MAX}"
            )
        return text

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
        value = self.data.get("user_tags")
        if value is None or not self._allowed("user_tags"):
            return ()
        if not isinstance(value, list):
            self.report.error(
                "user_tags", "must be a list, e.g. user_tags: [{username: jane, x: 0.5, y: 0.8}]"
            )
            return ()
        if len(value) > USER_TAGS_MAX:
            self.report.error(
                "user_tags", f"has {len(value)}; Instagram allows up to {USER_TAGS_MAX} tags"
            )
        tags: list[UserTag] = []
        need_position = self.type in ("post", "carousel")
        for index, entry in enumerate(value[:USER_TAGS_MAX]):
            where = f"user_tags[{index}]"
            if not isinstance(entry, dict):
                self.report.error(where, "must be a mapping like {username: jane, x: 0.5, y: 0.8}")
                continue
            for key in entry:
                if key not in ("username", "x", "y"):
                    self.report.error(f"{where}.{key}", "unknown key; allowed: username, x, y")
            username = self._username(entry.get("username"), f"{where}.username", "user_tags")
            position = [self._fraction(entry.get(axis), f"{where}.{axis}") for axis in "xy"]
            for axis, number in zip("xy", position, strict=True):
                if number is None and entry.get(axis) is None and need_position:
                    self.report.error(f"{where}.{axis}", "required on images: a number from 0 to 1")
            if username is not None:
                tags.append(UserTag(username, position[0], position[1]))
        return tuple(tags)

    def _fraction(self, value: object, where: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.report.error(where, f"{value!r} is not a number; write a number from 0 to 1")
            return None
        if not 0 <= value <= 1:
            self.report.error(where, f"{value} is outside 0 to 1 (0 = left/top, 1 = right/bottom)")
            return None
        return float(value)

    def _username(self, value: object, where: str, key: str) -> str | None:
        if value is None:
            self.report.error(where, "required: the Instagram username")
            return None
        name = self._text(key, value, where)
        if name is None:
            return None
        name = name.strip()
        if name.startswith("@"):
            self.report.error(where, f"write {name[1:]!r} without the @")
            return None
        if not name or not re.fullmatch(r"[A-Za-z0-9_.]{1,30}", name):
            self.report.error(where, f"{name!r} is not an Instagram username")
            return None
        return name

    def _collaborators(self) -> tuple[str, ...]:
        value = self.data.get("collaborators")
        if value is None or not self._allowed("collaborators"):
            return ()
        entries = [value] if isinstance(value, str) else value
        if not isinstance(entries, list):
            self.report.error("collaborators", "must be a list of usernames, e.g. [jane]")
            return ()
        if len(entries) > COLLABORATORS_MAX:
            self.report.error(
                "collaborators",
                f"has {len(entries)}; Instagram allows up to {COLLABORATORS_MAX} collaborators",
            )
        names = [
            self._username(entry, f"collaborators[{index}]", "collaborators")
            for index, entry in enumerate(entries[: COLLABORATORS_MAX * 2])
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
            self._check_file("cover", item, "cover")
        return item

    def _thumb_offset(self) -> int | None:
        value = self.data.get("thumb_offset")
        if value is None or not self._allowed("thumb_offset"):
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.report.error(
                "thumb_offset", f"{value!r}: write whole milliseconds from 0, like 1500"
            )
            return None
        return value
