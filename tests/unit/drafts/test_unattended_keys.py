"""The draft keys of SPEC §8 (issue 9): `first_comment`, and a reel's `trial` and
`audio_name`; each problem a sentence naming the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import Config
from tests.support.drafts import IMG, load_text, make_config

REEL = {"c.mp4": "clip"}


@pytest.fixture
def site(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "files", "kept"),
    [
        ("type: post\nmedia: [a.jpg]\nfirst_comment: Link in bio\n", IMG, "Link in bio"),
        (
            "type: carousel\nmedia: [a.jpg, a.jpg]\nfirst_comment: 'More: #a #b'\n",
            IMG,
            "More: #a #b",
        ),
        (
            "type: reel\nmedia: [c.mp4]\nfirst_comment: |\n  Credits\n  @jane\n",
            REEL,
            "Credits\n@jane\n",
        ),
        (
            "type: post\nmedia: [a.jpg]\nfirst_comment: '" + "#tag " * 30 + "'\n",
            IMG,
            "#tag " * 30,
        ),
        ("type: post\nmedia: [a.jpg]\nfirst_comment: " + "x" * 2200 + "\n", IMG, "x" * 2200),
        ("type: post\nmedia: [a.jpg]\nfirst_comment:\n", IMG, None),  # null: no comment
    ],
)
def test_a_first_comment_is_kept(
    site: Config, text: str, files: dict[str, object], kept: str | None
) -> None:
    loaded = load_text(site, text, files)
    assert loaded.errors == ()
    assert loaded.draft is not None
    assert loaded.draft.first_comment == kept


@pytest.mark.parametrize(
    ("text", "files", "words"),
    [
        (
            "type: post\nmedia: [a.jpg]\nfirst_comment: " + "x" * 2201 + "\n",
            IMG,
            "is 2201 characters; Instagram allows 2200: shorten it",
        ),
        (
            "type: post\nmedia: [a.jpg]\nfirst_comment: '" + "#tag " * 31 + "'\n",
            IMG,
            "has 31 hashtags; Instagram allows 30: remove some",
        ),
        (
            "type: story\nmedia: [a.jpg]\nfirst_comment: hi\n",
            IMG,
            "is for post, carousel, reel drafts only, not a story; remove it",
        ),
        ("type: post\nmedia: [a.jpg]\nfirst_comment: 42\n", IMG, 'quote it: first_comment: "42"'),
        ("type: post\nmedia: [a.jpg]\nfirst_comment: [a]\n", IMG, "must be text"),
        ("type: post\nmedia: [a.jpg]\nfirst_comment: '  '\n", IMG, "is empty"),
    ],
)
def test_a_bad_first_comment_names_the_file_the_field_and_the_fix(
    site: Config, text: str, files: dict[str, object], words: str
) -> None:
    loaded = load_text(site, text, files)
    assert loaded.draft is None
    [problem] = loaded.errors
    assert problem.field == "first_comment"
    assert words in problem.message
    assert str(problem).startswith(f"{loaded.path}: first_comment: ")


def test_a_caption_keeps_its_own_sentences(site: Config) -> None:
    loaded = load_text(site, "type: post\nmedia: [a.jpg]\ncaption: " + "y" * 2201 + "\n", IMG)
    [problem] = loaded.errors
    assert (problem.field, problem.message) == (
        "caption",
        "is 2201 characters; Instagram allows 2200: shorten it",
    )


@pytest.mark.parametrize("trial", ["manual", "performance"])
def test_a_trial_reel_with_its_audio_name(site: Config, trial: str) -> None:
    text = f"type: reel\nmedia: [c.mp4]\ntrial: {trial}\naudio_name: Original sound\n"
    loaded = load_text(site, text, REEL)
    assert loaded.errors == ()
    assert loaded.draft is not None
    assert (loaded.draft.trial, loaded.draft.audio_name) == (trial, "Original sound")


@pytest.mark.parametrize(
    ("text", "files", "field", "words"),
    [
        (
            "type: reel\nmedia: [c.mp4]\ntrial: sometimes\n",
            REEL,
            "trial",
            "'sometimes' is not a trial strategy: write manual or performance",
        ),
        ("type: reel\nmedia: [c.mp4]\ntrial: true\n", REEL, "trial", "write manual or performance"),
        (
            "type: post\nmedia: [a.jpg]\ntrial: manual\n",
            IMG,
            "trial",
            "is for reel drafts only, not a post; remove it",
        ),
        (
            "type: carousel\nmedia: [a.jpg, a.jpg]\naudio_name: Song\n",
            IMG,
            "audio_name",
            "is for reel drafts only, not a carousel; remove it",
        ),
        ("type: reel\nmedia: [c.mp4]\naudio_name: 1999\n", REEL, "audio_name", "quote it"),
        ("type: reel\nmedia: [c.mp4]\naudio_name: ''\n", REEL, "audio_name", "is empty"),
    ],
)
def test_bad_reel_options_name_the_file_the_field_and_the_fix(
    site: Config, text: str, files: dict[str, object], field: str, words: str
) -> None:
    loaded = load_text(site, text, files)
    assert loaded.draft is None
    [problem] = loaded.errors
    assert (problem.field, words in problem.message) == (field, True), problem
    assert str(problem).startswith(f"{loaded.path}: {field}: ")
