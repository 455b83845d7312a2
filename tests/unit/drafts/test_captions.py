"""A caption and what Meta reads back of it: the same post whatever Meta did to its "@";
different captions never the same post."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from publisher.drafts import captions
from publisher.sandbox import views

# Captions as people write them: mentions, hashtags, e-mail addresses, emoji, accents (also
# decomposed), line breaks, and any other character now and then.
_PIECES = st.sampled_from(
    ["@jane", "@joe.smith", "@_x", "#launch", " ", "\n", "é", "e\u0301", "😀", "a@b.c", "@", "."]
)
CAPTION = st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=12).map("".join)


def meta_read_back(caption: str) -> str:
    """The sandbox's reading of Meta's rule: the "@" of mentions left out."""
    return views.caption_read_back(caption, without_at=True)


@given(CAPTION)
def test_a_caption_matches_its_read_back_with_or_without_at(caption: str) -> None:
    kept = captions.fingerprint(caption)
    assert captions.matches(caption, kept)  # an admin of the app reads it whole
    assert captions.matches(meta_read_back(caption), kept)
    assert captions.matches(caption.replace("@", ""), kept)  # every "@" left out


@given(CAPTION, CAPTION)
def test_different_captions_do_not_match(first: str, second: str) -> None:
    assume(captions.comparable(first) != captions.comparable(second))
    kept = captions.fingerprint(first)
    assert not captions.matches(second, kept)
    assert not captions.matches(meta_read_back(second), kept)


@given(CAPTION, st.text(min_size=1).filter(lambda text: text.replace("@", "").strip() != ""))
def test_more_text_is_another_caption(caption: str, more: str) -> None:
    # Content beyond "@" and surrounding blanks: never the same post.
    longer = caption.strip() + more.replace("@", "") + "."
    assert not captions.matches(meta_read_back(longer), captions.fingerprint(caption))


@pytest.mark.parametrize(
    ("sent", "read_back", "same"),
    [
        ("Thanks @jane!", "Thanks jane!", True),
        ("Thanks @jane!", "Thanks @jane!", True),
        ("  Café time #reels\n", "Cafe\u0301 time #reels", True),
        ("Thanks @jane!", "Thanks @joe!", False),
        ("Sale 50% off", "Sale 60% off", False),
        ("Hello", "Hello!", False),
    ],
)
def test_examples(sent: str, read_back: str, same: bool) -> None:
    assert captions.matches(read_back, captions.fingerprint(sent)) is same


def test_a_job_stored_by_an_earlier_version_still_matches_a_whole_read_back() -> None:
    sent = "Thanks @jane"
    earlier = hashlib.sha256(unicodedata.normalize("NFC", sent).strip().encode()).hexdigest()
    assert captions.matches("Thanks @jane", earlier)


def test_the_sandbox_leaves_out_only_the_at_of_mentions() -> None:
    text = "Hi @jane, write to a@b.c @ noon"
    assert views.caption_read_back(text, without_at=True) == "Hi jane, write to a@b.c @ noon"
    assert views.caption_read_back(text, without_at=False) == text
