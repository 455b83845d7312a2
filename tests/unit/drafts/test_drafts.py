"""drafts: discovery, parsing and every rule of SPEC §4, on real files in tmp_path."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from publisher import config
from publisher.config import Config
from publisher.drafts import parse as drafts
from publisher.drafts import statusblock
from tests.support.paths import CLIP, HOSTILE

PARIS = ZoneInfo("Europe/Paris")


def make_config(root: Path, accounts: tuple[str, ...] = ("main",)) -> Config:
    lines = ["timezone: Europe/Paris", "accounts:"]
    for number, name in enumerate(accounts):
        lines += [f"  {name}:", f'    ig_user_id: "1784140000000000{number}"']
    (root / "config.yaml").write_text("\n".join(lines) + "\n")
    (root / "content").mkdir(exist_ok=True)
    return config.load(root / "config.yaml", environ={})


def jpeg(path: Path, size: tuple[int, int] = (1080, 1080)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 120, 40)).save(path, "JPEG", quality=60)


def build(content: Path, files: dict[str, object]) -> None:
    """Create media files: (w, h) -> a JPEG of that size, "clip" -> a real 4 s MP4,
    bytes -> those bytes."""
    for name, spec in files.items():
        target = content / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if spec == "clip":
            shutil.copyfile(CLIP, target)
        elif isinstance(spec, tuple):
            jpeg(target, spec)
        else:
            assert isinstance(spec, bytes)
            target.write_bytes(spec)


@pytest.fixture
def site(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def load_text(
    cfg: Config, text: str, files: dict[str, object] | None = None, name: str = "d.yaml"
) -> drafts.Loaded:
    build(cfg.content_dir, files or {})
    path = cfg.content_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return drafts.load(path, cfg, ffprobe=None)


IMG = {"a.jpg": (1080, 1080)}
TWO = {"a.jpg": (1080, 1080), "b.jpg": (1080, 1350)}

VALID = [
    ("post", "type: post\nmedia: [a.jpg]\n", IMG),
    ("post-single-string-media", "type: post\nmedia: a.jpg\n", IMG),
    ("type-any-case", "type: Post\nmedia: [a.jpg]\n", IMG),
    ("caption-NO-stays-text", "type: post\ncaption: NO\nmedia: [a.jpg]\n", IMG),
    ("caption-time-stays-text", "type: post\ncaption: 12:30\nmedia: [a.jpg]\n", IMG),
    ("carousel-2", "type: carousel\nmedia: [a.jpg, b.jpg]\n", TWO),
    ("carousel-10", "type: carousel\nmedia: [" + ", ".join(["a.jpg"] * 10) + "]\n", IMG),
    ("story-image-9x16", "type: story\nmedia: [s.jpg]\n", {"s.jpg": (1080, 1920)}),
    ("url", "type: post\nmedia: [https://cdn.example.com/a.jpg]\n", {}),
    (
        "subfolder-media",
        "type: post\nmedia: [shared/../shared/a.jpg]\n",
        {"shared/a.jpg": (800, 800)},
    ),
    ("ratio-4x5", "type: post\nmedia: [a.jpg]\n", {"a.jpg": (1080, 1350)}),
    ("ratio-1.91", "type: post\nmedia: [a.jpg]\n", {"a.jpg": (1080, 566)}),
    ("alt-text", "type: post\nmedia: [a.jpg]\nalt_text: A red dress\n", IMG),
    ("location-int", "type: post\nmedia: [a.jpg]\nlocation_id: 110843418940484\n", IMG),
    ("collaborators-3", "type: post\nmedia: [a.jpg]\ncollaborators: [a, b.c, d_e]\n", IMG),
    (
        "user-tags",
        "type: post\nmedia: [a.jpg]\nuser_tags: [{username: jane, x: 0.5, y: 1}]\n",
        IMG,
    ),
    ("story-tag-no-xy", "type: story\nmedia: [a.jpg]\nuser_tags: [{username: jane}]\n", IMG),
    ("paused", "type: post\nmedia: [a.jpg]\npaused: true\n", IMG),
    ("publish-now", "type: post\nmedia: [a.jpg]\npublish_at: now\n", IMG),
    ("publish-naive", "type: post\nmedia: [a.jpg]\npublish_at: 2026-12-01 09:00\n", IMG),
    ("status-allowed", "type: post\nmedia: [a.jpg]\nstatus:\n  state: scheduled\n", IMG),
    ("null-options", "type: post\nmedia: [a.jpg]\ncover:\nthumb_offset:\ncaption:\n", IMG),
    ("comments-and-bom", "\ufeff# hello\ntype: post # post\nmedia: [a.jpg]\n", IMG),
]


@pytest.mark.parametrize(("text", "files"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_drafts(site: Config, text: str, files: dict[str, object]) -> None:
    loaded = load_text(site, text, files)
    assert loaded.errors == ()
    assert loaded.draft is not None


INVALID = [
    # (id, yaml, files, field, part of the message)
    ("unknown-key", "type: post\nmedia: [a.jpg]\ncaptoin: hi\n", IMG, "captoin", "allowed: type"),
    ("caption-number", "type: post\nmedia: [a.jpg]\ncaption: 123\n", IMG, "caption", "quote it"),
    ("caption-bool", "type: post\nmedia: [a.jpg]\ncaption: true\n", IMG, "caption", "quote it"),
    ("caption-list", "type: post\nmedia: [a.jpg]\ncaption: [a]\n", IMG, "caption", "text"),
    ("type-missing", "media: [a.jpg]\n", IMG, "type", "required"),
    ("type-unknown", "type: video\nmedia: [a.jpg]\n", IMG, "type", "post, carousel, reel"),
    ("type-list", "type: [post]\nmedia: [a.jpg]\n", IMG, "type", "not a draft type"),
    ("media-missing", "type: post\n", {}, "media", "required"),
    ("media-empty", "type: post\nmedia: []\n", {}, "media", "required"),
    ("media-mapping", "type: post\nmedia: {a: 1}\n", {}, "media", "must be a list"),
    ("media-number", "type: post\nmedia: [5]\n", {}, "media[0]", "quote it"),
    ("post-two", "type: post\nmedia: [a.jpg, b.jpg]\n", TWO, "media", "use carousel"),
    ("post-video", "type: post\nmedia: [c.mp4]\n", {"c.mp4": "clip"}, "media[0]", "type: reel"),
    ("carousel-one", "type: carousel\nmedia: [a.jpg]\n", IMG, "media", "type: post"),
    (
        "carousel-11",
        "type: carousel\nmedia: [" + ", ".join(["a.jpg"] * 11) + "]\n",
        IMG,
        "media",
        "2 to 10",
    ),
    ("reel-image", "type: reel\nmedia: [a.jpg]\n", IMG, "media[0]", "one video"),
    ("story-two", "type: story\nmedia: [a.jpg, b.jpg]\n", TWO, "media", "one draft for each"),
    ("no-such-file", "type: post\nmedia: [nope.jpg]\n", {}, "media[0]", "no such file"),
    ("absolute", "type: post\nmedia: [/etc/hostname]\n", {}, "media[0]", "absolute path"),
    ("dotdot", "type: post\nmedia: [../../x.jpg]\n", {}, "media[0]", "outside content_dir"),
    ("file-url", "type: post\nmedia: ['file:///etc/x']\n", {}, "media[0]", "http(s)"),
    ("png", "type: post\nmedia: [a.jpg]\n", {"a.jpg": b"\x89PNG\r\n\x1a\n"}, "media[0]", "read"),
    ("zero-bytes", "type: post\nmedia: [a.jpg]\n", {"a.jpg": b""}, "media[0]", "empty"),
    ("ratio-9x16-post", "type: post\nmedia: [a.jpg]\n", {"a.jpg": (1080, 1920)}, "media[0]", "4:5"),
    (
        "ratio-wide",
        "type: carousel\nmedia: [a.jpg, b.jpg]\n",
        {"a.jpg": (1080, 1080), "b.jpg": (1080, 500)},
        "media[1]",
        "aspect ratio",
    ),
    (
        "caption-long",
        "type: post\nmedia: [a.jpg]\ncaption: " + "x" * 2201 + "\n",
        IMG,
        "caption",
        "2201 characters",
    ),
    (
        "hashtags-31",
        "type: post\nmedia: [a.jpg]\ncaption: '" + " ".join(f"#t{i}" for i in range(31)) + "'\n",
        IMG,
        "caption",
        "31 hashtags",
    ),
    (
        "mentions-21",
        "type: post\nmedia: [a.jpg]\ncaption: '" + " ".join(f"@u{i}" for i in range(21)) + "'\n",
        IMG,
        "caption",
        "21 @mentions",
    ),
    (
        "collab-4",
        "type: post\nmedia: [a.jpg]\ncollaborators: [a, b, c, d]\n",
        IMG,
        "collaborators",
        "up to 3",
    ),
    (
        "collab-at",
        "type: post\nmedia: [a.jpg]\ncollaborators: ['@jane']\n",
        IMG,
        "collaborators[0]",
        "without the @",
    ),
    (
        "collab-story",
        "type: story\nmedia: [a.jpg]\ncollaborators: [jane]\n",
        IMG,
        "collaborators",
        "post, carousel, reel drafts only",
    ),
    (
        "tag-x-big",
        "type: post\nmedia: [a.jpg]\nuser_tags: [{username: j, x: 1.5, y: 0}]\n",
        IMG,
        "user_tags[0].x",
        "outside 0 to 1",
    ),
    (
        "tag-x-text",
        "type: post\nmedia: [a.jpg]\nuser_tags: [{username: j, x: a, y: 0}]\n",
        IMG,
        "user_tags[0].x",
        "not a number",
    ),
    (
        "tag-at",
        "type: post\nmedia: [a.jpg]\nuser_tags: [{username: '@j', x: 0, y: 0}]\n",
        IMG,
        "user_tags[0].username",
        "without the @",
    ),
    (
        "tag-no-y",
        "type: post\nmedia: [a.jpg]\nuser_tags: [{username: j, x: 0}]\n",
        IMG,
        "user_tags[0].y",
        "required on images",
    ),
    (
        "tag-extra",
        "type: post\nmedia: [a.jpg]\nuser_tags: [{username: j, x: 0, y: 0, z: 1}]\n",
        IMG,
        "user_tags[0].z",
        "allowed: username, x, y",
    ),
    (
        "tag-not-map",
        "type: post\nmedia: [a.jpg]\nuser_tags: [jane]\n",
        IMG,
        "user_tags[0]",
        "mapping",
    ),
    (
        "thumb-negative",
        "type: reel\nmedia: [c.mp4]\nthumb_offset: -1\n",
        {"c.mp4": "clip"},
        "thumb_offset",
        "from 0",
    ),
    (
        "thumb-float",
        "type: reel\nmedia: [c.mp4]\nthumb_offset: 1.5\n",
        {"c.mp4": "clip"},
        "thumb_offset",
        "whole milliseconds",
    ),
    (
        "thumb-post",
        "type: post\nmedia: [a.jpg]\nthumb_offset: 10\n",
        IMG,
        "thumb_offset",
        "reel drafts only",
    ),
    ("cover-post", "type: post\nmedia: [a.jpg]\ncover: a.jpg\n", IMG, "cover", "reel drafts only"),
    (
        "cover-video",
        "type: reel\nmedia: [c.mp4]\ncover: c.mp4\n",
        {"c.mp4": "clip"},
        "cover",
        "JPEG image",
    ),
    (
        "cover-png",
        "type: reel\nmedia: [c.mp4]\ncover: p.jpg\n",
        {"c.mp4": "clip", "p.jpg": b"not an image"},
        "cover",
        "export it as a JPEG",
    ),
    (
        "share-story",
        "type: story\nmedia: [a.jpg]\nshare_to_feed: true\n",
        IMG,
        "share_to_feed",
        "reel drafts only",
    ),
    (
        "share-yes",
        "type: reel\nmedia: [c.mp4]\nshare_to_feed: yes\n",
        {"c.mp4": "clip"},
        "share_to_feed",
        "true or false",
    ),
    (
        "alt-reel",
        "type: reel\nmedia: [c.mp4]\nalt_text: x\n",
        {"c.mp4": "clip"},
        "alt_text",
        "post, carousel drafts only",
    ),
    (
        "alt-long",
        "type: post\nmedia: [a.jpg]\nalt_text: " + "a" * 1001 + "\n",
        IMG,
        "alt_text",
        "1000",
    ),
    (
        "location-text",
        "type: post\nmedia: [a.jpg]\nlocation_id: paris\n",
        IMG,
        "location_id",
        "digits",
    ),
    (
        "location-story",
        "type: story\nmedia: [a.jpg]\nlocation_id: '1'\n",
        IMG,
        "location_id",
        "post, carousel, reel drafts only",
    ),
    (
        "platforms-empty",
        "type: post\nmedia: [a.jpg]\nplatforms: []\n",
        IMG,
        "platforms",
        "at least one",
    ),
    (
        "account-unknown",
        "type: post\nmedia: [a.jpg]\naccount: shop\n",
        IMG,
        "account",
        "one of: main",
    ),
    ("paused-yes", "type: post\nmedia: [a.jpg]\npaused: yes\n", IMG, "paused", "true or false"),
    (
        "publish-garbage",
        "type: post\nmedia: [a.jpg]\npublish_at: tomorrow\n",
        IMG,
        "publish_at",
        "2026-12-01 09:00",
    ),
    (
        "publish-gap",
        "type: post\nmedia: [a.jpg]\npublish_at: 2026-03-29 02:30\n",
        IMG,
        "publish_at",
        "does not exist",
    ),
    ("empty-file", "", {}, "", "empty"),
    ("top-list", "- type: post\n", {}, "", "not a list"),
    ("top-scalar", "just text\n", {}, "", "mapping"),
    ("bad-yaml", "type: post\nmedia: [a.jpg\n", {}, "line 3", "not valid YAML"),
    ("duplicate-key", "type: post\ntype: reel\nmedia: [a.jpg]\n", IMG, "line 2", "twice"),
    ("alias", "a: &x 1\ntype: *x\n", {}, "line 2", "aliases"),
]


@pytest.mark.parametrize(
    ("text", "files", "where", "part"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_drafts(
    site: Config, text: str, files: dict[str, object], where: str, part: str
) -> None:
    loaded = load_text(site, text, files)
    assert loaded.draft is None
    found = [(p.field, p.message) for p in loaded.errors]
    assert any(f == where and part in m for f, m in found), found


WARNINGS = [
    (
        "hashtags-6",
        "type: post\nmedia: [a.jpg]\ncaption: '#a #b #c #d #e #f'\n",
        IMG,
        "caption",
        "caps posts at 5",
    ),
    ("narrow", "type: post\nmedia: [a.jpg]\n", {"a.jpg": (200, 200)}, "media[0]", "200 px wide"),
    ("wide", "type: post\nmedia: [a.jpg]\n", {"a.jpg": (2000, 2000)}, "media[0]", "2000 px wide"),
    ("story-caption", "type: story\nmedia: [a.jpg]\ncaption: hi\n", IMG, "caption", "no caption"),
    (
        "locked-platform",
        "type: post\nmedia: [a.jpg]\nplatforms: [instagram, tiktok]\n",
        IMG,
        "platforms",
        "'tiktok' is not available",
    ),
    (
        "no-ffprobe",
        "type: reel\nmedia: [c.mp4]\n",
        {"c.mp4": "clip"},
        "media[0]",
        "install ffprobe",
    ),
    (
        "fold",
        "type: post\nmedia: [a.jpg]\npublish_at: 2026-10-25 02:30\n",
        IMG,
        "publish_at",
        "happens twice",
    ),
    ("status-not-map", "type: post\nmedia: [a.jpg]\nstatus: hi\n", IMG, "status", "rewritten"),
]


@pytest.mark.parametrize(
    ("text", "files", "where", "part"), [c[1:] for c in WARNINGS], ids=[c[0] for c in WARNINGS]
)
def test_warnings_keep_the_draft_valid(
    site: Config, text: str, files: dict[str, object], where: str, part: str
) -> None:
    loaded = load_text(site, text, files)
    assert loaded.errors == ()
    assert loaded.draft is not None
    found = [(p.field, p.message) for p in loaded.warnings]
    assert any(f == where and part in m for f, m in found), found


def test_reel_draft_fields(site: Config) -> None:
    text = (
        "type: reel\naccount: main\ncaption: |\n  Caf\u00e9 time #reels\n"
        "media: [clips/c.mp4]\ncover: clips/cover.jpg\nthumb_offset: 1500\n"
        "share_to_feed: false\nlocation_id: '123'\ncollaborators: [jane]\n"
        "user_tags: [{username: bob}]\npublish_at: 2026-12-01T09:00:00+01:00\n"
        "platforms: [instagram]\n"
    )
    loaded = load_text(
        site,
        text,
        {"reels/clips/c.mp4": "clip", "reels/clips/cover.jpg": (1080, 1920)},
        "reels/r.yml",
    )
    draft = loaded.draft
    assert draft is not None, loaded.problems
    content = site.content_dir
    reels = content / "reels"
    assert draft.path == content / "reels" / "r.yml"
    assert draft.rel == "reels/r.yml" == loaded.rel
    assert (draft.type, draft.account) == ("reel", "main")
    assert draft.caption == "Caf\u00e9 time #reels\n"
    assert draft.media == (
        drafts.MediaItem("clips/c.mp4", reels / "clips" / "c.mp4", None, "video"),
    )
    assert draft.cover == drafts.MediaItem(
        "clips/cover.jpg", reels / "clips" / "cover.jpg", None, "image"
    )
    assert draft.publish_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert not draft.publish_now
    assert draft.thumb_offset == 1500
    assert draft.share_to_feed is False
    assert draft.location_id == "123"
    assert draft.collaborators == ("jane",)
    assert draft.user_tags == (drafts.UserTag("bob", None, None),)
    assert draft.platforms == ("instagram",)
    assert draft.paused is False
    assert draft.fingerprint == loaded.fingerprint
    assert draft.caption_hash == drafts.caption_hash("Caf\u00e9 time #reels")
    assert loaded.locked_platforms == ()


def test_url_media_and_locked_platforms(site: Config) -> None:
    loaded = load_text(
        site,
        "type: carousel\nmedia: [https://x.example/a.jpg, 'HTTP://x.example/v.mp4?sig=1']\n"
        "platforms: [instagram, tiktok, tiktok]\n",
    )
    assert loaded.draft is not None
    assert [(m.url, m.path, m.kind) for m in loaded.draft.media] == [
        ("https://x.example/a.jpg", None, "image"),
        ("HTTP://x.example/v.mp4?sig=1", None, "video"),
    ]
    assert loaded.locked_platforms == ("tiktok",)
    assert loaded.draft.platforms == ("instagram", "tiktok")


@pytest.mark.parametrize(
    ("accounts", "text", "expected", "error"),
    [
        (("main",), "", "main", ""),
        (("main", "shop"), "account: shop\n", "shop", ""),
        (("main", "shop"), "", None, "required when several accounts are configured: main, shop"),
        (("main", "shop"), "account: other\n", None, "use one of: main, shop"),
        (("main", "shop"), "account: 5\n", None, "not a configured account"),
    ],
)
def test_account(
    tmp_path: Path, accounts: tuple[str, ...], text: str, expected: str | None, error: str
) -> None:
    cfg = make_config(tmp_path, accounts)
    loaded = load_text(cfg, "type: post\nmedia: [a.jpg]\n" + text, IMG)
    if expected is None:
        assert loaded.draft is None
        assert [p.field for p in loaded.errors] == ["account"]
        assert error in loaded.errors[0].message
    else:
        assert loaded.draft is not None and loaded.draft.account == expected


PUBLISH_AT = [
    # (value, UTC result, publish_now, part of the warning)
    (None, None, False, None),
    ("now", None, True, None),
    ("NOW", None, True, None),
    ("2026-12-01 09:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC), False, None),
    ("2026-12-01T09:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC), False, None),
    ("2026-07-01 09:00", datetime(2026, 7, 1, 7, 0, tzinfo=UTC), False, None),
    ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC), False, None),
    ("2026-12-01T09:00-05:00", datetime(2026, 12, 1, 14, 0, tzinfo=UTC), False, None),
    # clocks go back on 2026-10-25 at 03:00 CEST -> 02:00 CET: 02:30 happens twice
    ("2026-10-25 02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), False, "+02:00"),
    ("2026-10-25 03:00", datetime(2026, 10, 25, 2, 0, tzinfo=UTC), False, None),
    ("2026-10-25T02:30+01:00", datetime(2026, 10, 25, 1, 30, tzinfo=UTC), False, None),
    (datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 11, tzinfo=UTC), False, None),
]


@pytest.mark.parametrize(("value", "expected", "now", "warning"), PUBLISH_AT)
def test_parse_publish_at(
    value: object, expected: datetime | None, now: bool, warning: str | None
) -> None:
    when, publish_now, note = drafts.parse_publish_at(value, PARIS)
    assert (when, publish_now) == (expected, now)
    if when is not None:
        assert when.tzinfo is UTC
    if warning is None:
        assert note is None
    else:
        assert note is not None and warning in note and "2026-10-25T02:30+01:00" in note


@pytest.mark.parametrize(
    ("value", "part"),
    [
        ("2026-03-29 02:30", "from 02:00 to 03:00"),
        ("2026-03-29 02:00", "write 2026-03-29 03:00 or a time before 02:00"),
        ("2026-03-29 02:59:30", "does not exist in Europe/Paris"),
        ("2026-12-01", "has no time of day"),
        ("2026-13-45", "is not a date; write it like 2026-12-01 09:00"),
        ("2026-02-30 09:00", "is not a date and time"),
        ("01/12/2026 09:00", "is not a date and time"),
        ("", "is not a date and time"),
        (1700000000, "is not a date and time"),
        (True, "is not a date and time"),
        ("9999-12-31T23:59-05:00", "give a year from 2000 to 2100"),
        ("0001-01-01 00:00", "give a year from 2000 to 2100"),
        ("2101-01-01T00:00+01:00", "not a plausible time"),
        (["now"], "is not a date and time"),
    ],
)
def test_parse_publish_at_errors(value: object, part: str) -> None:
    with pytest.raises(ValueError) as caught:
        drafts.parse_publish_at(value, PARIS)
    assert part in str(caught.value)


def test_dst_gap_in_another_zone() -> None:
    # US clocks jump 02:00 -> 03:00 on 2026-03-08
    with pytest.raises(ValueError, match="from 02:00 to 03:00"):
        drafts.parse_publish_at("2026-03-08 02:15", ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"type: post\n", b"type: post\n"),
        (b"type: post\nstatus:\n  state: scheduled\n", b"type: post\n"),
        # comments after the block's last line belong to the user (statusblock's rule)
        (b"type: post\n\nstatus:\n  state: x\n  # note\n\n", b"type: post\n\n  # note\n\n"),
        (b"type: post\nstatus: {state: x}\n", b"type: post\n"),
        (b"type: post\r\nstatus:\r\n  state: x\r\n", b"type: post\r\n"),
        # a block before user keys is cut too
        (b"status:\n  state: x\ntype: post\n", b"type: post\n"),
        # a column-0 `status:` inside a quoted caption is the user's
        (b'caption: "a\nstatus: b"\ntype: post\n', b'caption: "a\nstatus: b"\ntype: post\n'),
        # indented `status:` belongs to something else
        (b"a:\n  status: 1\n", b"a:\n  status: 1\n"),
        (b"statuses: 1\n", b"statuses: 1\n"),
        (b"status:\n  a: 1\n", b""),
    ],
)
def test_user_bytes(data: bytes, expected: bytes) -> None:
    assert drafts.user_bytes(data) == expected


def test_fingerprint_ignores_the_status_block_only(site: Config) -> None:
    build(site.content_dir, IMG)
    path = site.content_dir / "d.yaml"
    path.write_bytes(b"type: post\nmedia: [a.jpg]")  # no final newline
    first = drafts.load(path, site)
    path.write_bytes(b"type: post\nmedia: [a.jpg]\n\nstatus:\n  state: scheduled\n")
    second = drafts.load(path, site)
    assert second.fingerprint == first.fingerprint
    assert second.status == {"state": "scheduled"}
    assert first.status is None
    path.write_bytes(b"type: post\nmedia: [a.jpg]\ncaption: x\nstatus:\n  state: scheduled\n")
    assert drafts.load(path, site).fingerprint != first.fingerprint


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Caf\u00e9", "Cafe\u0301"),  # NFC
        ("  hello\n", "hello"),  # stripped
    ],
)
def test_caption_hash_normalises(left: str, right: str) -> None:
    assert drafts.caption_hash(left) == drafts.caption_hash(right)
    assert drafts.caption_hash(left) != drafts.caption_hash(left + "!")


def test_discover(tmp_path: Path) -> None:
    content = tmp_path / "content"
    for name in [
        "a.yaml",
        "b.yml",
        "deep/er/c.yaml",
        "x.yaml/inside.yaml",  # a folder named like a draft: walked into, not listed
        ".hidden.yaml",
        "_template.yaml",
        "_drafts/d.yaml",
        ".git/e.yaml",
        "notes.txt",
        "a.yaml~",
        "A.YAML",
    ]:
        target = content / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("type: post\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.yaml").write_text("type: post\n")
    (content / "linked").symlink_to(outside, target_is_directory=True)
    (content / "loop").symlink_to(content, target_is_directory=True)
    (content / "broken.yaml").symlink_to(tmp_path / "missing")
    os.mkfifo(content / "pipe.yaml")
    found = [p.relative_to(content).as_posix() for p in drafts.discover(content)]
    assert found == [
        "a.yaml",
        "b.yml",
        "broken.yaml",
        "deep/er/c.yaml",
        "pipe.yaml",
        "x.yaml/inside.yaml",
    ]
    assert drafts.discover(tmp_path / "nope") == []


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("a.yaml", True),
        ("sub/a.yml", True),
        ("sub/.a.yaml", False),
        ("_sub/a.yaml", False),
        (".sub/a.yaml", False),
        ("a.json", False),
        ("../a.yaml", False),
        ("a.yaml.swp", False),
        ("4913", False),
    ],
)
def test_is_draft_path(tmp_path: Path, rel: str, expected: bool) -> None:
    content = tmp_path / "content"
    assert drafts.is_draft_path(content / rel, content) is expected


def test_problem_path_is_relative_to_the_working_folder(
    site: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(site.content_dir.parent)
    (site.content_dir / "d.yaml").write_text("type: post\n")
    loaded = drafts.load(site.content_dir / "d.yaml", site)
    assert [str(p) for p in loaded.errors] == [
        "content/d.yaml: media: required: list the files, e.g. media: [photo.jpg]"
    ]
    assert drafts.load(Path("content/d.yaml"), site).errors[0].path == "content/d.yaml"
    assert drafts.load(Path("content/d.yaml"), site).path == site.content_dir / "d.yaml"


def test_every_problem_at_once(site: Config) -> None:
    loaded = load_text(
        site,
        "type: post\ncaption: 5\nmedia: [nope.jpg, /abs.jpg]\npaused: 1\ncolour: red\n"
        "publish_at: soon\n",
    )
    fields = sorted(p.field for p in loaded.errors)
    assert fields == ["caption", "colour", "media", "media[0]", "media[1]", "paused", "publish_at"]


def test_draft_outside_content_dir_and_ignored_names(site: Config) -> None:
    build(site.content_dir, IMG)
    outside = site.content_dir.parent / "elsewhere.yaml"
    outside.write_text("type: post\nmedia: [content/a.jpg]\n")
    loaded = drafts.load(outside, site)
    assert loaded.draft is None
    assert "outside content_dir" in loaded.errors[0].message
    hidden = site.content_dir / "_later.yaml"
    hidden.write_text("type: post\nmedia: [a.jpg]\n")
    loaded = drafts.load(hidden, site)
    assert loaded.draft is not None
    assert "ignores this file" in loaded.warnings[0].message


def test_check_media_false_does_not_open_files(site: Config) -> None:
    build(site.content_dir, {"a.jpg": b"\xff\xd8\xff broken"})
    path = site.content_dir / "d.yaml"
    path.write_text("type: post\nmedia: [a.jpg]\n")
    assert drafts.load(path, site, check_media=False).draft is not None
    assert drafts.load(path, site).draft is None


def test_symlink_to_another_draft_is_refused(site: Config) -> None:
    build(site.content_dir, IMG)
    (site.content_dir / "d.yaml").write_text("type: post\nmedia: [a.jpg]\n")
    (site.content_dir / "copy.yaml").symlink_to("d.yaml")
    loaded = drafts.load(site.content_dir / "copy.yaml", site)
    assert loaded.draft is None
    assert "a draft itself" in loaded.errors[0].message
    assert loaded.rel == "copy.yaml"


def test_many_media_entries_are_not_all_checked(site: Config) -> None:
    loaded = load_text(site, "type: carousel\nmedia: [" + ", ".join(["n.jpg"] * 5000) + "]\n")
    assert loaded.draft is None
    assert len(loaded.errors) == 11  # the count, and the first 10 missing files


@pytest.mark.parametrize(
    "data",
    [
        b"type: post\n",
        b"type: post",
        b"type: post\r\n\r\n",
        b"type: post\nstatus:\n  state: x\n",
        b"status: {state: x}\ntype: post\n",
        b"{type: post, status: x}\n",
        b"? status\n: x\ntype: post\n",
        b'"status": 1\n',
        b"  status: 1\n",
        b"caption: |\n  status: inside\n",
        *(path.read_bytes() for path in sorted(HOSTILE.glob("*.yaml"))),
    ],
)
def test_fingerprint_is_the_write_back_fingerprint(data: bytes) -> None:
    # The watcher and the daemon compare drafts.fingerprint with statusblock.fingerprint.
    assert drafts.fingerprint(data) == statusblock.fingerprint(data)
