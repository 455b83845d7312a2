"""yamlsafe: YAML 1.2 scalars (no YAML 1.1 surprises) and refusal of hostile documents."""

from __future__ import annotations

import time

import pytest

from publisher import yamlsafe

SCALARS = [
    # (YAML value, Python value): YAML 1.1 would turn the first group into bools/ints/dates
    ("NO", "NO"),
    ("no", "no"),
    ("yes", "yes"),
    ("on", "on"),
    ("off", "off"),
    ("Y", "Y"),
    ("12:30", "12:30"),  # sexagesimal 750 in YAML 1.1
    ("1:20:00", "1:20:00"),
    ("2025-03-30", "2025-03-30"),  # a date in YAML 1.1
    ("2025-03-30 02:30:00", "2025-03-30 02:30:00"),  # a naive datetime in YAML 1.1
    ("2025-03-30T02:30:00+01:00", "2025-03-30T02:30:00+01:00"),
    ("0755", 755),  # decimal, not octal
    ("0o755", 0o755),
    ("0x1F", 31),
    ("1_000", "1_000"),
    ("+12", 12),
    ("-3", -3),
    ("1.5", 1.5),
    ("1e3", 1000.0),
    (".inf", float("inf")),
    ("true", True),
    ("False", False),
    ("TRUE", True),
    ("null", None),
    ("~", None),
    ("", None),
    ('"123"', "123"),
    ("'true'", "true"),
    ("17841400000000000", 17841400000000000),
    ("=", "="),
]


@pytest.mark.parametrize(("text", "value"), SCALARS)
def test_scalars_follow_yaml_1_2(text: str, value: object) -> None:
    loaded = yamlsafe.loads(f"key: {text}\n".encode())
    assert loaded == {"key": value}
    assert type(loaded["key"]) is type(value)


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"", None),
        (b"# only a comment\n", None),
        (b"\xef\xbb\xbfa: 1\n", {"a": 1}),  # UTF-8 BOM
        (b"a: 1\r\nb: [x, y]\r\n", {"a": 1, "b": ["x", "y"]}),
        (b"- a\n- b\n", ["a", "b"]),
        (b"text", "text"),
        (b"a: &anchor 1\n", {"a": 1}),  # an anchor without an alias is harmless
        (b"caption: |\n  line one\n  #tag\n", {"caption": "line one\n#tag\n"}),
        ("caption: caf\u00e9 \U0001f600\n".encode(), {"caption": "caf\u00e9 \U0001f600"}),
        (b"a: !!str 5\n", {"a": "5"}),
        (b"---\na: 1\n...\n", {"a": 1}),
    ],
)
def test_documents(data: bytes, value: object) -> None:
    assert yamlsafe.loads(data) == value


BILLION_LAUGHS = b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n".encode()
    for i in range(8)
)

REJECTED = [
    # (id, document, part of the message, line or None)
    ("alias", b"a: &x 1\nb: *x\n", "aliases", 2),
    ("billion-laughs", BILLION_LAUGHS, "aliases", 2),
    ("merge-key", b"base: &b {a: 1}\nother:\n  <<: *b\n", "aliases", 3),
    ("python-object", b"a: !!python/object/apply:os.system [ls]\n", "not allowed", 1),
    ("python-name", b"a: !!python/name:os.system\n", "not allowed", 1),
    ("custom-tag", b"a: !custom x\n", "not allowed", 1),
    ("binary-tag", b"a: !!binary aGk=\n", "not allowed", 1),
    ("set-tag", b"!!set {a, b}\n", "not allowed", 1),
    ("timestamp-tag", b"a: !!timestamp 2026-01-01\n", "not allowed", 1),
    ("too-deep", b"a:" + b" [" * 40 + b"]" * 40 + b"\n", "nested more than 32", 1),
    ("very-deep", b"[" * 10000, "nested", None),
    ("very-deep-map", b"{a: " * 10000, "nested", None),
    ("not-utf8", b"caption: caf\xe9\n", "not UTF-8", None),
    ("utf16", "a: 1\n".encode("utf-16"), "not UTF-8", None),
    ("nul-byte", b"a: 1\x00\n", "NUL bytes", None),
    ("nul-escape", b'a: "x\\0y"\n', "NUL or invalid", 1),
    ("surrogate-escape", b'a: "\\ud800"\n', "NUL or invalid", 1),
    ("duplicate-key", b"type: post\ncaption: x\ntype: reel\n", "'type' appears twice", 3),
    ("duplicate-nested", b"a:\n  b: 1\n  b: 2\n", "appears twice (lines 2 and 3)", 3),
    ("huge-int", b"a: " + b"9" * 5000 + b"\n", "5000 digits", 1),
    ("two-documents", b"a: 1\n---\nb: 2\n", "not valid YAML", 2),
    ("unclosed", b"a: [1, 2\n", "not valid YAML", 2),
    ("tab-indent", b"a:\n\tb: 1\n", "not valid YAML", 2),
    ("unhashable-key", b"? [a, b]\n: c\n", "not valid YAML", 1),
    ("control-char", b"a: \x07\n", "not valid YAML", None),
]


@pytest.mark.parametrize(
    ("data", "part", "line"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rejected(data: bytes, part: str, line: int | None) -> None:
    # CPU time of this thread: the bound is on our work, not on what else the machine runs
    started = time.thread_time()
    with pytest.raises(yamlsafe.YamlRejected) as caught:
        yamlsafe.loads(data)
    assert time.thread_time() - started < 1.0
    assert part in str(caught.value)
    if line is not None:
        assert caught.value.line == line


def test_size_cap_is_checked_before_parsing() -> None:
    data = b"caption: " + b"x" * yamlsafe.MAX_BYTES
    started = time.thread_time()
    with pytest.raises(yamlsafe.YamlRejected, match="the limit is 262144 bytes"):
        yamlsafe.loads(data)
    assert time.thread_time() - started < 0.1
    assert yamlsafe.loads(b"a: 1\n", max_bytes=10) == {"a": 1}
    with pytest.raises(yamlsafe.YamlRejected, match="limit is 4 bytes"):
        yamlsafe.loads(b"a: 1\n", max_bytes=4)


def test_a_document_just_under_the_cap_parses() -> None:
    data = b"caption: " + b"x" * (yamlsafe.MAX_BYTES - 20) + b"\n"
    assert len(yamlsafe.loads(data)["caption"]) == yamlsafe.MAX_BYTES - 20
