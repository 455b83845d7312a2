"""drafts.checks: every field rule of SPEC §4, through `drafts.load` on real files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher import drafts
from publisher.config import Config
from publisher.drafts import medialist
from publisher.drafts.media import MediaItem
from tests.support.drafts import IMG, TWO, load_text, make_config


@pytest.fixture
def site(tmp_path: Path) -> Config:
    return make_config(tmp_path)


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
    ("reel", "type: reel\nmedia: [c.mp4]\n", {"c.mp4": "clip"}),
    ("reel-hevc-mov", "type: reel\nmedia: [c.mov]\n", {"c.mov": {"codec": "hevc"}}),
    ("story-video", "type: story\nmedia: [c.MP4]\n", {"c.MP4": {"seconds": 59.5, "fps": 2}}),
    ("carousel-video", "type: carousel\nmedia: [a.jpg, c.mp4]\n", {**IMG, "c.mp4": "clip"}),
    ("fit-pad-tall", "type: post\nmedia: [a.jpg]\nfit: pad\n", {"a.jpg": (500, 1500)}),
    (
        "fit-crop-wide",
        "type: carousel\nmedia: [a.jpg, b.jpg]\nfit: crop\n",
        {"a.jpg": (1080, 1080), "b.jpg": (1500, 500)},
    ),
]


@pytest.mark.parametrize(("text", "files"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_drafts(site: Config, text: str, files: dict[str, object]) -> None:
    loaded = load_text(site, text, files)
    assert loaded.errors == ()
    assert loaded.draft is not None


def test_a_good_video_is_checked_without_a_word(site: Config) -> None:
    # Videos are probed in-process (PyAV): no program to install, so no "not checked" warning.
    loaded = load_text(site, "type: reel\nmedia: [c.mp4]\n", {"c.mp4": "clip"})
    assert loaded.problems == ()


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
    (
        "reel-too-short",
        "type: reel\nmedia: [c.mp4]\n",
        {"c.mp4": {"seconds": 1}},
        "media[0]",
        "'c.mp4' lasts 1.0 s; a reel video lasts 3 s to 15 min: trim or extend it",
    ),
    (
        "story-video-too-long",
        "type: story\nmedia: [c.mp4]\n",
        {"c.mp4": {"seconds": 61, "fps": 1, "audio": None}},
        "media[0]",
        "a story video lasts 3 s to 60 s",
    ),
    (
        "carousel-mkv-without-video",
        "type: carousel\nmedia: [a.jpg, c.mp4]\n",
        {"a.jpg": (1080, 1080), "c.mp4": {"container": "matroska", "codec": None}},
        "media[1]",
        "'c.mp4' is not an MP4/MOV video; export it as MP4 (H.264 or HEVC)",
    ),
    (
        "reel-not-a-video",
        "type: reel\nmedia: [c.mov]\n",
        {"c.mov": b"\x00\x00\x00\x18ftypqt  " + b"\x00" * 100},
        "media[0]",
        "'c.mov' cannot be read as a video (moov atom not found); export it as MP4",
    ),
    (
        "ratio-without-fit",
        "type: post\nmedia: [a.jpg]\n",
        {"a.jpg": (500, 1500)},
        "media[0]",
        "aspect ratio 1:3 (0.333) (500x1500), outside what feed posts allow, 4:5..1.91:1; "
        "set fit: crop or fit: pad",
    ),
    ("fit-bad", "type: post\nmedia: [a.jpg]\nfit: stretch\n", IMG, "fit", "'stretch' is not"),
    ("fit-list", "type: post\nmedia: [a.jpg]\nfit: [crop]\n", IMG, "fit", "fit: crop or fit: pad"),
    ("fit-on-story", "type: story\nmedia: [a.jpg]\nfit: pad\n", IMG, "fit", "post, carousel"),
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


def test_every_problem_at_once(site: Config) -> None:
    loaded = load_text(
        site,
        "type: post\ncaption: 5\nmedia: [nope.jpg, /abs.jpg]\npaused: 1\ncolour: red\n"
        "publish_at: soon\n",
    )
    fields = sorted(p.field for p in loaded.errors)
    assert fields == ["caption", "colour", "media", "media[0]", "media[1]", "paused", "publish_at"]


def test_many_media_entries_are_not_all_checked(site: Config) -> None:
    loaded = load_text(site, "type: carousel\nmedia: [" + ", ".join(["n.jpg"] * 5000) + "]\n")
    assert loaded.draft is None
    assert len(loaded.errors) == 11  # the count, and the first 10 missing files


def test_media_urls_are_not_fetched() -> None:
    # Instagram fetches them; the media host checks that they answer.
    for kind in ("image", "video"):
        item = MediaItem("https://h/a.png", None, "https://h/a.png", kind)  # type: ignore[arg-type]
        assert medialist.check_file(item, "post") == []
