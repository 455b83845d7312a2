"""drafts.model: the caption hash that recognises a post on Instagram after a crash."""

from __future__ import annotations

import pytest

from publisher import drafts


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
