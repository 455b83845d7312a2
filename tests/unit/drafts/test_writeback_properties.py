"""The status block written into generated drafts (comments, block and flow collections,
multi-line captions holding "status:" text, CRLF, no final newline, a block already there
or not): every byte outside the block is kept, the block reads back as written, a second
write changes nothing, and the YAML the user wrote means what it meant (hypothesis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.drafts import statusblock, writeback

PROPERTIES = settings(max_examples=120, deadline=None, derandomize=True)

WORDS = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 :#@'\"-_.,!?é😀\t")), min_size=1, max_size=16
).filter(lambda text: text.strip() != "")


def quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def literal(lines: list[str]) -> str:
    return "|\n" + "\n".join("  " + line for line in lines)


def plain_word(text: str) -> str:
    return "w" + "".join(c for c in text if c.isalnum())


ENTRIES = {
    "type": st.sampled_from(["type: post", "type: reel", "type: 'story'"]),
    "caption": st.one_of(
        WORDS.map(lambda text: "caption: " + quoted(text)),
        st.lists(st.one_of(WORDS.map(plain_word), st.just("status: not the key")), min_size=1).map(
            lambda lines: "caption: " + literal(lines)
        ),
        # a quoted caption over several lines, one of them a column-0 "status:"
        st.just('caption: "first line\n\nstatus: inside the caption\n  last"'),
    ),
    "media": st.one_of(
        st.lists(WORDS.map(plain_word), min_size=1, max_size=3).map(
            lambda names: "media: [" + ", ".join(name + ".jpg" for name in names) + "]"
        ),
        st.lists(WORDS.map(plain_word), min_size=1, max_size=3).map(
            lambda names: "media:\n" + "\n".join(f"- {name}.jpg" for name in names)
        ),
    ),
    "alt_text": WORDS.map(lambda text: "alt_text: " + quoted(text)),
    "publish_at": st.sampled_from(["publish_at: 2026-12-24 09:00", "publish_at: '2026-01-01'"]),
}
EXTRA = st.sampled_from(["", "# a comment", "#status: commented out", "   ", "# ünïcode 😀"])
STATUS_VALUE = st.one_of(
    st.none(),
    st.integers(-5, 10**9),
    # No NUL or lone surrogate: the block writer would write "\u0000" that the reader
    # (yamlsafe) then refuses, leaving a block that reads as none (a known limit).
    st.text(
        alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=30
    ),
    st.sampled_from(["true", "null", "1.5", "2026-12-01 09:00", "a: b", "- x", "#x", "'q'"]),
)
STATUS = st.dictionaries(
    st.sampled_from(["state", "scheduled_for", "error", "media_id", "permalink", "attempts"]),
    STATUS_VALUE,
    min_size=1,
)


@st.composite
def drafts(draw: st.DrawFn) -> tuple[bytes, bytes, bool]:
    """(the draft's bytes, its bytes without any status block, whether it had one)."""
    names = draw(st.lists(st.sampled_from(sorted(ENTRIES)), min_size=1, unique=True))
    pieces = [draw(ENTRIES[name]) for name in names]
    for _ in range(draw(st.integers(0, 3))):
        pieces.insert(draw(st.integers(0, len(pieces))), draw(EXTRA))
    user_pieces = list(pieces)
    has_block = draw(st.booleans())
    block_last = False
    if has_block:
        old = statusblock.render(draw(STATUS)).decode().rstrip("\n")
        where = draw(st.integers(0, len(pieces)))
        pieces.insert(where, old)
        block_last = where == len(pieces) - 1
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    final = draw(st.sampled_from(["", newline]))

    def joined(parts: list[str], end: str) -> bytes:
        return ("\n".join(parts).replace("\n", newline) + end).encode()

    # A block at the end takes the file's last line break with it; the line before it keeps
    # its own.
    user = joined(user_pieces, newline if block_last else final)
    return joined(pieces, final), user, has_block


def meaning(data: bytes) -> Any:
    parsed = yaml.safe_load(data)
    if isinstance(parsed, dict):
        parsed.pop("status", None)
    return parsed


@PROPERTIES
@given(drafts(), STATUS)
def test_every_byte_outside_the_block_is_kept(
    draft: tuple[bytes, bytes, bool], status: Any
) -> None:
    data, user, had_block = draft
    assert statusblock.split(data)[0] == user
    new = statusblock.replace(data, status)
    kept, block = statusblock.split(new)
    newline = b"\r\n" if data.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    assert kept == user or (not had_block and kept == user + newline and not user.endswith(b"\n"))
    assert block.startswith(b"status:")
    assert statusblock.read(new) == status
    assert statusblock.replace(new, status) == new  # a second write changes nothing
    assert statusblock.fingerprint(new) == statusblock.fingerprint(user)
    # the keys mean what they meant (with the line break added after a last line that had
    # none: a literal caption ending the file then ends in one, which captions ignore)
    # (a block in place keeps apart what it kept apart before: compare with the old file)
    assert meaning(new) == meaning(data if had_block else kept)
    assert (b"\r\n" in block) == (newline == b"\r\n")


@PROPERTIES
@given(drafts(), STATUS, STATUS)
def test_the_file_written_keeps_the_user_bytes(
    tmp_path_factory: Any, draft: tuple[bytes, bytes, bool], first: Any, second: Any
) -> None:
    data, user, _had_block = draft
    path = Path(tmp_path_factory.mktemp("wb")) / "draft.yaml"
    path.write_bytes(data)
    writeback.replace_block(path.parent, path, first)
    writeback.replace_block(path.parent, path, second)
    written = path.read_bytes()
    assert statusblock.read(written) == second
    assert statusblock.split(written)[0].rstrip(b"\r\n") == user.rstrip(b"\r\n")
