"""statusblock without parsing: plain-or-quoted decided by the YAML resolvers (the same answer
as parsing the value with both YAML 1.2 and 1.1), drafts that cannot hold the key not parsed,
and the remembered block positions giving the same answers as a fresh look."""

from __future__ import annotations

import json
import random
import string
from datetime import date, datetime

import pytest
import yaml

from publisher import yamlsafe
from publisher.drafts import statusblock


def parsed_plain_ok(text: str) -> bool:
    """The rule as it was written before: parse the text with both readers (the reference)."""
    if not statusblock._PLAIN.match(text) or text.endswith(":"):
        return False
    try:
        if yamlsafe.loads(text.encode("utf-8")) != text:
            return False
        legacy = yaml.safe_load(text)
    except (yamlsafe.YamlRejected, yaml.YAMLError, ValueError):
        # ValueError: an impossible timestamp (2026-13-45) made the old rule crash; quoted now.
        return False
    return legacy == text or isinstance(legacy, datetime | date)


TRICKY = [
    *("scheduled", "published", "unconfirmed", "post", "main", "_x", "a:b", "a:b:c", "x-y"),
    *("yes", "Yes", "YES", "no", "No", "on", "On", "OFF", "off", "y", "Y", "n", "N"),
    *("true", "True", "TRUE", "false", "False", "tRue", "null", "Null", "NULL", "nULL", "~"),
    *("0", "7", "012", "0o17", "0O17", "0x1F", "0X1f", "0b101", "1_000", "1__0", "_1"),
    *("1e3", "1E+3", "1.5", "1.", "1.5e-3", "6.8523015e+5", "685_230.15", "190:20:30"),
    *("190:20:30.15", "1:20", "12:30", "12:30:00", "0:0", "1:60", "inf", "nan", "NaN", "Inf"),
    *("2026-12-01", "2026-12-01T09:00:00+01:00", "2026-12-01T09:00:00Z", "2026-12-01t09:00:00z"),
    *("2026-12-01T09:00:00.123456+05:30", "2026-1-1", "2026-1-1T1:2:3", "2026-12-01T09:00"),
    *("2026-13-45", "2026-02-30", "2026-12-01T25:00:00Z", "9999-12-31", "0001-01-01"),
    *("https://www.instagram.com/p/C0abc123/", "17920238422030506", "v25.0", "a/b.c+d"),
    *("-", "-1", "+1", ".5", ".inf", "a:", "", " x", "x y", "é", "x#y"),
]


def generated(count: int) -> list[str]:
    rng = random.Random(2026)
    alphabet = string.ascii_letters + string.digits + "_./:+-" + "eE0123456789:.-_"
    found = []
    for _ in range(count):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        found.append(text)
    return found


@pytest.mark.parametrize("texts", [TRICKY, generated(3000)], ids=["tricky", "generated"])
def test_render_quotes_exactly_what_a_yaml_reader_would_not_read_back(texts: list[str]) -> None:
    for text in texts:
        plain = parsed_plain_ok(text)
        line = text if plain else json.dumps(text, ensure_ascii=False)
        assert statusblock.render({"v": text}) == f"status:\n  v: {line}\n".encode(), text


DRAFTS_WITHOUT_KEY = [
    b"",
    b"type: post\nmedia: [a.jpg]\n",
    b"type: post\ncaption: 'it''s: fine'\n",
    b"{type: post, media: [a.jpg]}\n",
    b"  type: post\n  media: [a.jpg]\n",
    b"type: [unclosed\n",
    b"\xff\xfe not utf-8\n",
    b"type: post\r\nmedia: [a.jpg]",
]
DRAFTS_WITH_KEY = [
    b'type: post\n"st\\x61tus": {state: x}\n',  # an escape that reads "status"
    b"type: post\nstatus:\n  state: scheduled\n",
    b'type: post\ncaption: "a\nstatus: inside the caption"\n',
    b"type: [broken\nstatus:\n  state: failed\n",
]


@pytest.mark.parametrize("data", DRAFTS_WITHOUT_KEY + DRAFTS_WITH_KEY)
def test_split_agrees_with_the_full_search_and_is_stable(data: bytes) -> None:
    found = statusblock._find_uncached(data)
    expected = (data[: found.start] + data[found.end :], data[found.start : found.end])
    assert statusblock.split(data) == expected
    assert statusblock.split(data) == expected  # the second time from memory
    if data in DRAFTS_WITHOUT_KEY:
        assert expected == (data, b"")


def test_the_escaped_key_is_found() -> None:
    user, block = statusblock.split(DRAFTS_WITH_KEY[0])
    assert (user, block) == (b"type: post\n", b'"st\\x61tus": {state: x}\n')


def test_the_memory_of_positions_is_bounded_and_forgets_the_oldest_first() -> None:
    cache = statusblock._FoundCache(8)
    found = [statusblock._Found(n, n + 1, 0) for n in range(40)]
    for number, item in enumerate(found):
        cache.put(b"%d" % number, item)
        cache.put(b"%d" % number, item)  # seen again: still one entry
    assert [cache.get(b"%d" % n) for n in range(40)] == [None] * 32 + found[32:]
