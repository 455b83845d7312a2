"""Container parameters for each draft type (instagram-api.md §2.1-§2.2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from publisher.drafts import Draft, MediaItem, UserTag
from publisher.drafts.model import ItemOptions
from publisher.instagram.payloads import container_requests, with_children


def media(*names: str) -> tuple[MediaItem, ...]:
    return tuple(
        MediaItem(
            source=name,
            path=Path("/content") / name,
            url=None,
            kind="video" if name.endswith(".mp4") else "image",
        )
        for name in names
    )


def draft(kind: str, names: tuple[str, ...], **options: Any) -> Draft:
    return Draft(
        path=Path("/content/d.yaml"),
        rel="d.yaml",
        type=kind,  # type: ignore[arg-type]
        account="main",
        caption=options.pop("caption", "New collection #launch"),
        media=media(*names),
        **options,
    )


def urls_for(names: tuple[str, ...]) -> list[str]:
    return [f"https://media.example/{name}?sig=abc" for name in names]


TAGS = (UserTag("jane", 0.5, 0.8), UserTag("bob", 0.1, 0.2))
TAGS_JSON = '[{"username":"jane","x":0.5,"y":0.8},{"username":"bob","x":0.1,"y":0.2}]'


@pytest.mark.parametrize(
    ("kind", "names", "options", "cover_url", "expected_items", "expected_parent"),
    [
        (
            "post",
            ("a.jpg",),
            {},
            None,
            [
                {
                    "image_url": "https://media.example/a.jpg?sig=abc",
                    "caption": "New collection #launch",
                }
            ],
            None,
        ),
        (
            "post",
            ("a.jpg",),
            {
                "alt_text": "A red dress",
                "location_id": "110843418940484",
                "user_tags": TAGS,
                "collaborators": ("jane", "bob"),
            },
            None,
            [
                {
                    "image_url": "https://media.example/a.jpg?sig=abc",
                    "caption": "New collection #launch",
                    "alt_text": "A red dress",
                    "location_id": "110843418940484",
                    "user_tags": TAGS_JSON,
                    "collaborators": '["jane","bob"]',
                }
            ],
            None,
        ),
        (
            "carousel",
            ("clip.mp4", "a.jpg", "b.jpg"),
            {
                "alt_text": "Looks",
                "location_id": "1108",
                "collaborators": ("jane",),
                "user_tags": (UserTag("jane", 0.5, 0.5),),
            },
            None,
            [
                {
                    "media_type": "VIDEO",
                    "video_url": "https://media.example/clip.mp4?sig=abc",
                    "is_carousel_item": "true",
                },
                {
                    "image_url": "https://media.example/a.jpg?sig=abc",
                    "is_carousel_item": "true",
                    "alt_text": "Looks",
                    "user_tags": '[{"username":"jane","x":0.5,"y":0.5}]',
                },
                {  # SPEC §7: the draft's options apply to every image without its own
                    "image_url": "https://media.example/b.jpg?sig=abc",
                    "is_carousel_item": "true",
                    "alt_text": "Looks",
                    "user_tags": '[{"username":"jane","x":0.5,"y":0.5}]',
                },
            ],
            {
                "media_type": "CAROUSEL",
                "caption": "New collection #launch",
                "location_id": "1108",
                "collaborators": '["jane"]',
            },
        ),
        (
            "reel",
            ("clip.mp4",),
            {
                "thumb_offset": 1500,
                "share_to_feed": False,
                "collaborators": ("jane",),
                "location_id": "1108",
                "user_tags": (UserTag("jane"),),
            },
            "https://media.example/cover.jpg?sig=abc",
            [
                {
                    "media_type": "REELS",
                    "video_url": "https://media.example/clip.mp4?sig=abc",
                    "caption": "New collection #launch",
                    "cover_url": "https://media.example/cover.jpg?sig=abc",
                    "thumb_offset": "1500",
                    "share_to_feed": "false",
                    "collaborators": '["jane"]',
                    "location_id": "1108",
                    "user_tags": '[{"username":"jane"}]',
                }
            ],
            None,
        ),
        (
            "reel",
            ("clip.mp4",),
            {"share_to_feed": True, "caption": ""},
            None,
            [
                {
                    "media_type": "REELS",
                    "video_url": "https://media.example/clip.mp4?sig=abc",
                    "share_to_feed": "true",
                }
            ],
            None,
        ),
        (
            "story",
            ("s.jpg",),
            {"user_tags": (UserTag("jane"), UserTag("bob", 0.1, 0.2))},
            None,
            [
                {
                    "media_type": "STORIES",
                    "image_url": "https://media.example/s.jpg?sig=abc",
                    "user_tags": '[{"username":"jane"},{"username":"bob","x":0.1,"y":0.2}]',
                }
            ],
            None,
        ),
        (
            "story",
            ("s.mp4",),
            {},
            None,
            [{"media_type": "STORIES", "video_url": "https://media.example/s.mp4?sig=abc"}],
            None,
        ),
    ],
)
def test_container_requests(
    kind: str,
    names: tuple[str, ...],
    options: dict[str, Any],
    cover_url: str | None,
    expected_items: list[dict[str, str]],
    expected_parent: dict[str, str] | None,
) -> None:
    items, parent = container_requests(draft(kind, names, **options), urls_for(names), cover_url)
    assert items == expected_items
    assert parent == expected_parent
    for params in [*items, *([parent] if parent else [])]:
        assert all(isinstance(value, str) for value in params.values())
        assert "access_token" not in params


def test_a_story_never_carries_a_caption() -> None:
    items, _ = container_requests(draft("story", ("s.jpg",)), urls_for(("s.jpg",)), None)
    assert "caption" not in items[0]


def test_carousel_children_have_no_caption_location_or_collaborators() -> None:
    names = ("a.jpg", "b.jpg")
    children, parent = container_requests(
        draft("carousel", names, location_id="1", collaborators=("jane",)), urls_for(names), None
    )
    for child in children:
        assert not {"caption", "location_id", "collaborators"} & child.keys()
    assert parent is not None and parent["caption"]


def test_json_values_survive_unicode_and_quotes() -> None:
    items, _ = container_requests(
        draft("post", ("a.jpg",), caption='Été "quoted" #été', collaborators=("jane_doe.x",)),
        urls_for(("a.jpg",)),
        None,
    )
    assert items[0]["caption"] == 'Été "quoted" #été'
    assert json.loads(items[0]["collaborators"]) == ["jane_doe.x"]


@pytest.mark.parametrize(
    ("trial", "strategy"), [("manual", "MANUAL"), ("performance", "SS_PERFORMANCE")]
)
def test_a_trial_reel_sends_its_graduation_strategy(trial: str, strategy: str) -> None:
    # instagram-api.md §2.1: trial_params {"graduation_strategy": MANUAL | SS_PERFORMANCE}
    [reel], _ = container_requests(
        draft("reel", ("c.mp4",), trial=trial, audio_name="Original sound — Jane"),
        urls_for(("c.mp4",)),
        None,
    )
    assert json.loads(reel["trial_params"]) == {"graduation_strategy": strategy}
    assert reel["audio_name"] == "Original sound — Jane"
    assert reel["media_type"] == "REELS"


def test_a_reel_without_those_options_sends_neither() -> None:
    [reel], _ = container_requests(draft("reel", ("c.mp4",)), urls_for(("c.mp4",)), None)
    assert not {"trial_params", "audio_name"} & reel.keys()


def test_with_children_keeps_the_order() -> None:
    parent = {"media_type": "CAROUSEL", "caption": "c"}
    assert with_children(parent, ["3", "1", "2"]) == {
        "media_type": "CAROUSEL",
        "caption": "c",
        "children": "3,1,2",
    }
    assert parent == {"media_type": "CAROUSEL", "caption": "c"}  # not modified


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: container_requests(draft("post", ("a.jpg",)), [], None), "URLs"),
        (lambda: with_children({"media_type": "CAROUSEL"}, []), "children"),
    ],
)
def test_caller_mistakes(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_each_carousel_item_sends_its_own_options() -> None:
    names = ("a.jpg", "b.jpg", "clip.mp4", "c.jpg")
    own = (
        ItemOptions(),
        ItemOptions("Back view", (UserTag("bob", 0.3, 0.6),)),
        ItemOptions(None, (UserTag("ann"),)),
        ItemOptions("Side view"),
    )
    options = {"alt_text": "Looks", "user_tags": (UserTag("jane", 0.5, 0.5),), "items": own}
    children, _ = container_requests(draft("carousel", names, **options), urls_for(names), None)
    sent = [(child.get("alt_text"), child.get("user_tags")) for child in children]
    jane = '[{"username":"jane","x":0.5,"y":0.5}]'
    assert sent == [
        ("Looks", jane),  # none of its own: the draft's
        ("Back view", '[{"username":"bob","x":0.3,"y":0.6}]'),
        (None, '[{"username":"ann"}]'),  # a video: no alt text, its own tags without x/y
        ("Side view", jane),
    ]


def test_a_post_item_mapping_overrides_the_draft() -> None:
    options = {"alt_text": "Draft", "items": (ItemOptions("Own", (UserTag("bob", 0, 1),)),)}
    [single], _ = container_requests(
        draft("post", ("a.jpg",), **options), urls_for(("a.jpg",)), None
    )
    assert single["alt_text"] == "Own"
    assert json.loads(single["user_tags"]) == [{"username": "bob", "x": 0.0, "y": 1.0}]
