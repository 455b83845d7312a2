"""drafts.medialist: `media:` entries written as `{file, alt_text, user_tags}` mappings (SPEC
§7), their errors naming the item (`media[2].file`), and what the Draft gives each item; a
reel's `thumb_offset` against its video's duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import Config
from publisher.drafts.model import ItemOptions, UserTag
from tests.support.drafts import TWO, load_text, make_config

FILES = {**TWO, "c.jpg": (1080, 1080), "v.mp4": "clip"}


@pytest.fixture
def site(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def test_items_get_their_own_options_and_the_drafts_where_they_have_none(site: Config) -> None:
    text = (
        "type: carousel\n"
        "alt_text: Looks\n"
        "user_tags: [{username: jane, x: 0.5, y: 0.5}]\n"
        "media:\n"
        "  - a.jpg\n"
        "  - {file: b.jpg, alt_text: Back view, user_tags: [{username: bob, x: 0.3, y: 0.6}]}\n"
        "  - {file: v.mp4, user_tags: [{username: ann}]}\n"
        "  - {file: c.jpg}\n"
    )
    loaded = load_text(site, text, FILES)
    assert not loaded.errors, loaded.errors
    draft = loaded.draft
    assert draft is not None
    assert [item.source for item in draft.media] == ["a.jpg", "b.jpg", "v.mp4", "c.jpg"]
    assert draft.items == (
        ItemOptions(),
        ItemOptions("Back view", (UserTag("bob", 0.3, 0.6),)),
        ItemOptions(None, (UserTag("ann"),)),
        ItemOptions(),
    )
    assert [draft.alt_text_for(i) for i in range(4)] == ["Looks", "Back view", "Looks", "Looks"]
    jane, bob = (UserTag("jane", 0.5, 0.5),), (UserTag("bob", 0.3, 0.6),)
    assert [draft.user_tags_for(i) for i in (0, 1, 3)] == [jane, bob, jane]


def test_plain_names_give_no_item_options(site: Config) -> None:
    loaded = load_text(site, "type: carousel\nmedia: [a.jpg, b.jpg]\n", TWO)
    assert loaded.draft is not None and loaded.draft.items == ()


BAD_ITEMS = [
    # (id, media entries, field, part of the message)
    ("unknown-key", "[a.jpg, {file: b.jpg, alt: x}]", "media[1].alt", "unknown key; an item"),
    ("no-file", "[a.jpg, b.jpg, {alt_text: x}]", "media[2].file", "required: the item's file"),
    ("missing-file", "[a.jpg, b.jpg, {file: nope.jpg}]", "media[2].file", "'nope.jpg': no such"),
    ("file-not-text", "[a.jpg, {file: [b.jpg]}]", "media[1].file", "must be text, not a list"),
    ("outside", "[a.jpg, {file: ../x.jpg}]", "media[1].file", "points outside content_dir"),
    ("video-alt", "[a.jpg, {file: v.mp4, alt_text: x}]", "media[1].alt_text", "on images only"),
    ("alt-number", "[a.jpg, {file: b.jpg, alt_text: 5}]", "media[1].alt_text", "is a number"),
    (
        "alt-too-long",
        "[a.jpg, {file: b.jpg, alt_text: " + "x" * 1001 + "}]",
        "media[1].alt_text",
        "is 1001 characters",
    ),
    (
        "tag-without-position",
        "[a.jpg, {file: b.jpg, user_tags: [{username: bob}]}]",
        "media[1].user_tags[0].x",
        "required on images",
    ),
    (
        "tag-with-at",
        "[a.jpg, {file: b.jpg, user_tags: [{username: '@bob', x: 0, y: 0}]}]",
        "media[1].user_tags[0].username",
        "without the @",
    ),
    ("tags-not-list", "[a.jpg, {file: b.jpg, user_tags: bob}]", "media[1].user_tags", "a list"),
]


@pytest.mark.parametrize(
    ("entries", "field", "part"), [c[1:] for c in BAD_ITEMS], ids=[c[0] for c in BAD_ITEMS]
)
def test_a_bad_item_mapping_names_the_item(
    site: Config, entries: str, field: str, part: str
) -> None:
    loaded = load_text(site, f"type: carousel\nmedia: {entries}\n", FILES)
    assert loaded.draft is None
    found = [(p.field, p.message) for p in loaded.errors]
    assert any(where == field and part in message for where, message in found), found


def test_alt_text_on_a_reel_item_is_refused(site: Config) -> None:
    loaded = load_text(site, "type: reel\nmedia: [{file: v.mp4, alt_text: x}]\n", FILES)
    assert [(p.field, p.message) for p in loaded.errors] == [
        ("media[0].alt_text", "Instagram takes no alt text on a reel; remove it")
    ]


@pytest.mark.parametrize(
    ("offset", "error"),
    [
        (0, None),
        (3999, None),
        (
            4000,
            "4000 ms is past the end of the video ('v.mp4' lasts 4.0 s): write a number of "
            "milliseconds below 4000",
        ),
        (
            60000,
            "60000 ms is past the end of the video ('v.mp4' lasts 4.0 s): write a number of "
            "milliseconds below 4000",
        ),
    ],
)
def test_thumb_offset_is_checked_against_the_video(
    site: Config, offset: int, error: str | None
) -> None:
    loaded = load_text(site, f"type: reel\nmedia: [v.mp4]\nthumb_offset: {offset}\n", FILES)
    expected = [] if error is None else [("thumb_offset", error)]
    assert [(p.field, p.message) for p in loaded.errors] == expected
