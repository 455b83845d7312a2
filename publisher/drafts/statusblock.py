"""The `status:` block of a draft: the one top-level key the daemon owns (SPEC §5).

Every byte outside the block stays as the user wrote it, so the block is found and replaced
as bytes, never by dumping parsed YAML (which drops comments and reorders keys, RELIABILITY.md
§4.4). The block is the top-level `status:` line plus the lines that belong to its value:
indented lines, `- ` items at column 0, and blank or comment lines between those. Blank lines
and comments after its last line belong to the user.

Which line is the top-level `status:` key is asked of the YAML parser when the draft parses
(a column-0 `status:` can sit inside a multi-line quoted caption); when it does not (an
invalid draft still gets its error written back) the last column-0 `status:` line is used.

Parsing is the cost (the daemon asks for a draft's fingerprint about three times per read),
so bytes that cannot hold the key are not parsed, and where the block is is remembered for
the last few thousand drafts seen, by the sha256 of their bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

import yaml

from publisher import yamlsafe

log = logging.getLogger(__name__)

KEY = "status"
_KEY_LINE = re.compile(rb"""^(?:status|"status"|'status')[ \t]*:(?:[ \t]|\r?\n|$)""")
_DOC_END = re.compile(rb"^\.\.\.(?:[ \t]|\r?\n|$)")
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./:+\-]*$")
_PRINTABLE = re.compile("^[\t\n\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*$")
_INDENT = 2
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# Drafts whose block position is remembered: more than a large site has, so the daemon's
# reads at start (the watcher's, then the scan's) find what the first one found.
_CACHE_SIZE = 16_384


def split(data: bytes) -> tuple[bytes, bytes]:
    """Given a draft's bytes, return (user bytes, status block bytes or b"").

    The user bytes are `data` with the block cut out; they are identical before and after a
    write-back, except for the line break added when the block was appended to a last line
    that had none.
    """
    if b"status" not in data and b"\\" not in data:
        # No key can read "status" without those letters or an escape: nothing to parse.
        return data, b""
    found = _find(data)
    if found.end == found.start:
        return data, b""
    return data[: found.start] + data[found.end :], data[found.start : found.end]


def fingerprint(data: bytes) -> str:
    """Given a draft's bytes, return the sha256 hex of its user bytes (the block removed).

    Trailing line breaks are not counted, so appending the block to a file without a final
    newline does not change the fingerprint.
    """
    user, _block = split(data)
    return hashlib.sha256(user.rstrip(b"\r\n")).hexdigest()


def read(data: bytes) -> dict[str, Any] | None:
    """Given a draft's bytes, return its status block as a dict, or None when there is none
    or it is not a mapping that parses. Times come back as the strings written."""
    _user, block = split(data)
    if not block:
        return None
    try:
        parsed = yamlsafe.loads(block)
    except yamlsafe.YamlRejected:
        return None
    if not isinstance(parsed, dict):
        return None
    value = parsed.get(KEY)
    return value if isinstance(value, dict) else None


def render(status: Mapping[str, Any], newline: bytes = b"\n") -> bytes:
    """Given the status fields, return the block as deterministic YAML ending in `newline`:
    `status:` then one `  key: value` line per field, in the mapping's order.

    None is `null`, datetimes are ISO 8601, strings are plain only when every YAML reader
    reads them back as the same string and double-quoted (or a literal block for multi-line
    text) otherwise. Raise TypeError for a value that is not a scalar, list or mapping.
    """
    lines = [f"{KEY}:"]
    _render_mapping(status, _INDENT, lines)
    text = "\n".join(lines) + "\n"
    return text.encode("utf-8").replace(b"\n", newline)


def replace(data: bytes, status: Mapping[str, Any]) -> bytes:
    """Given a draft's bytes and the status fields, return the draft with its block replaced
    (in place, wherever it is) or appended at the end. Pure.

    Every byte outside the block is kept; the block uses the file's line ending (CRLF when
    the file's first line ends in CRLF) and the indentation of the top-level keys. A last line
    without a line break gets one, and only when the block is appended after it. A trailing
    `...` document end stays last. Raise ValueError if the draft is one `{...}` flow mapping
    (a block appended after it would make the file invalid).
    """
    newline = _newline_of(data)
    found = _find(data)
    if found.column < 0:
        raise ValueError(
            "the draft is written as one {...} flow mapping, which cannot take a status block; "
            "write its keys one per line (key: value)"
        )
    block = render(status, newline)
    if found.column:
        pad = b" " * found.column
        block = b"".join(pad + line if line.strip() else line for line in block.splitlines(True))
    head, tail = data[: found.start], data[found.end :]
    if found.end == found.start and head and not head.endswith(b"\n"):
        head += newline
    return head + block + tail


# --- finding the block ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """Where the block is (start < end), or where a new one goes (start == end)."""

    start: int
    end: int
    column: int  # indentation of the top-level keys; -1: a flow mapping, no block possible


def _lines(data: bytes) -> list[tuple[int, int]]:
    """Return (start, end) byte offsets of each line, its line break included."""
    spans = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        spans.append((start, end))
        start = end
    return spans


class _FoundCache:
    """Where the block is, for the last `size` distinct drafts seen (by sha256 of the bytes,
    oldest forgotten first). The watcher's thread and the main loop both ask."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._found: dict[bytes, _Found] = {}
        self._lock = threading.Lock()

    def get(self, key: bytes) -> _Found | None:
        with self._lock:
            return self._found.get(key)

    def put(self, key: bytes, found: _Found) -> None:
        with self._lock:
            if len(self._found) >= self._size and key not in self._found:
                del self._found[next(iter(self._found))]
            self._found[key] = found


_CACHE = _FoundCache(_CACHE_SIZE)


def _find(data: bytes) -> _Found:
    key = hashlib.sha256(data).digest()
    found = _CACHE.get(key)
    if found is None:
        found = _find_uncached(data)
        _CACHE.put(key, found)
    return found


def _find_uncached(data: bytes) -> _Found:
    lines = _lines(data)
    key = _key_by_parser(data, lines)
    if key is None:
        key = _key_by_pattern(data, lines)
    if key.line < 0:
        position = _append_position(data, lines)
        return _Found(position, position, key.column)
    last = key.line
    index = key.line + 1
    while index < len(lines):
        start, end = lines[index]
        line = data[start:end]
        if start < key.value_end:
            last = index  # the parser says the value runs on (a quoted scalar, a flow map)
        elif _is_blank_or_comment(line):
            pass  # ours only if more of the value follows
        elif _indent(line) > key.column or _is_sequence_item(line, key.column):
            last = index
        else:
            break
        index += 1
    return _Found(lines[key.line][0], lines[last][1], key.column)


@dataclass(frozen=True)
class _Key:
    line: int  # index of the `status:` line, -1 when there is none
    column: int
    value_end: int = 0  # byte offset where the parser says the value ends, 0 if unknown


def _key_by_parser(data: bytes, lines: list[tuple[int, int]]) -> _Key | None:
    """Ask the YAML parser where the top-level status key is. Return None when the draft does
    not parse as a block mapping (the caller falls back to the pattern)."""
    try:
        text = data.decode("utf-8")
        # Composing builds nodes only: no tags are constructed and aliases stay shared.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None
    if isinstance(root, yaml.MappingNode) and root.flow_style:
        return _Key(-1, -1)
    if not isinstance(root, yaml.MappingNode):
        return None
    column = root.start_mark.column
    found: tuple[yaml.Node, yaml.Node] | None = None
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == KEY:
            found = (key, value)  # the last one wins, as for every YAML reader
    if found is None:
        return _Key(-1, column)
    key, value = found
    key_offset = _byte_offset(text, key.start_mark.index)
    line = next(i for i, (start, end) in enumerate(lines) if start <= key_offset < end)
    if key_offset - lines[line][0] != column:
        return None  # an explicit `? status` key: leave it to the pattern
    value_end = 0
    # Block scalars (| >) end by indentation; their end mark runs past trailing comments.
    if (isinstance(value, yaml.ScalarNode) and value.style not in ("|", ">")) or getattr(
        value, "flow_style", False
    ):
        value_end = _byte_offset(text, value.end_mark.index)
    return _Key(line, column, value_end)


def _key_by_pattern(data: bytes, lines: list[tuple[int, int]]) -> _Key:
    found = -1
    for index, (start, end) in enumerate(lines):
        if _KEY_LINE.match(data[start:end]):
            found = index
    return _Key(found, 0)


def _byte_offset(text: str, char_index: int) -> int:
    return len(text[:char_index].encode("utf-8"))


def _is_blank_or_comment(line: bytes) -> bool:
    stripped = line.strip(b" \t\r\n")
    return not stripped or stripped.startswith(b"#")


def _indent(line: bytes) -> int:
    """Columns of leading whitespace; a tab counts as indentation here (YAML forbids it, but a
    hand-edited block indented with tabs is still ours)."""
    return len(line) - len(line.lstrip(b" \t"))


def _is_sequence_item(line: bytes, column: int) -> bool:
    if _indent(line) != column:
        return False
    rest = line[column:]
    return rest.startswith(b"-") and rest[1:2] in (b" ", b"\t", b"\r", b"\n", b"")


def _append_position(data: bytes, lines: list[tuple[int, int]]) -> int:
    """Return where a new block goes: the end, or before a trailing `...` document end."""
    for start, end in reversed(lines):
        line = data[start:end]
        if _DOC_END.match(line):
            return start
        if not _is_blank_or_comment(line):
            break
    return len(data)


def _newline_of(data: bytes) -> bytes:
    first = data.find(b"\n")
    return b"\r\n" if first > 0 and data[first - 1 : first] == b"\r" else b"\n"


# --- rendering -----------------------------------------------------------------------------


def _render_mapping(mapping: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        name = _scalar(str(key))
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{name}:")
            _render_mapping(value, indent + _INDENT, lines)
        elif isinstance(value, list | tuple) and value:
            lines.append(f"{pad}{name}:")
            _render_sequence(value, indent + _INDENT, lines)
        else:
            lines.extend(_key_value(pad, name, value, indent))


def _render_sequence(items: list[Any] | tuple[Any, ...], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, Mapping | list | tuple) and item:
            raise TypeError("status values may nest one list of scalars, not deeper")
        lines.extend(_key_value(pad, "-", item, indent, separator=" "))


def _key_value(pad: str, name: str, value: Any, indent: int, separator: str = ": ") -> list[str]:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str) and _literal_ok(value):
        chomp = "" if value.endswith("\n") else "-"
        body = value.removesuffix("\n").split("\n")
        inner = " " * (indent + _INDENT)
        head = f"{pad}{name}{separator.rstrip()} |{chomp}"
        return [head] + [f"{inner}{line}" if line else "" for line in body]
    return [f"{pad}{name}{separator}{_value(value)}"]


def _value(value: Any) -> str:
    if isinstance(value, Enum):
        return _value(value.value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}[str(value)]
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return _scalar(_UNREADABLE.sub(_escape, value))
    if isinstance(value, Mapping | list | tuple) and not value:
        return "{}" if isinstance(value, Mapping) else "[]"
    raise TypeError(f"cannot write a {type(value).__name__} into the status block")


# What no reader of a draft takes, even escaped (yamlsafe refuses it): a NUL, a lone surrogate.
# A status value holding one (an error text from elsewhere) is written as its escape, as text.
_UNREADABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match[0]):02x}" if match[0] == "\x00" else f"\\u{ord(match[0]):04x}"


def _scalar(text: str) -> str:
    return text if _plain_ok(text) else _quoted(text)


def _plain_ok(text: str) -> bool:
    """A string may go unquoted only if both YAML 1.2 (ours) and YAML 1.1 (PyYAML's default,
    most other tools) read it back as a string; ISO timestamps may read as datetimes in 1.1,
    which is what they are.

    Within `_PLAIN` (no space, no indicator first, no ending colon) the text is one plain
    scalar, so what a reader makes of it is what its implicit resolvers say: no parse needed.
    """
    if not _PLAIN.match(text) or text.endswith(":"):
        return False
    # yamlsafe's loader holds the YAML 1.2 core schema; SafeLoader's are YAML 1.1.
    if _implicit_tag(yamlsafe.IMPLICIT_RESOLVERS, text) != _STR:
        return False
    legacy = _implicit_tag(yaml.SafeLoader.yaml_implicit_resolvers, text)
    if legacy == _TIMESTAMP:
        return _is_timestamp(text)
    return legacy == _STR


def _implicit_tag(resolvers: Mapping[Any, list[tuple[str, re.Pattern[str]]]], text: str) -> str:
    """Given a loader's implicit resolvers, return the tag it gives the plain scalar `text`
    (PyYAML's BaseResolver.resolve, for a plain scalar)."""
    for tag, pattern in [*resolvers.get(text[:1], []), *resolvers.get(None, [])]:
        if pattern.match(text):
            return tag
    return _STR


def _is_timestamp(text: str) -> bool:
    """True when YAML 1.1 reads `text` as a date or datetime (a matching but impossible date,
    2026-13-45, makes PyYAML raise: such text is quoted)."""
    node = yaml.ScalarNode(_TIMESTAMP, text)
    try:
        value = yaml.constructor.SafeConstructor().construct_yaml_timestamp(node)
    except (ValueError, OverflowError):
        return False
    return isinstance(value, datetime | date)


def _literal_ok(text: str) -> bool:
    """Multi-line text reads best as a literal block, when one can hold it exactly."""
    if "\n" not in text or not _PRINTABLE.match(text) or "\r" in text:
        return False
    body = text.removesuffix("\n")
    if not body or body.endswith("\n") or body[0] in " \t":
        return False
    # A line that looks like a comment would end the block early when we look for its end.
    return all(
        line == line.rstrip(" \t") and not line.lstrip(" \t").startswith("#")
        for line in body.split("\n")
    )


def _quoted(text: str) -> str:
    """Double-quoted YAML: JSON escapes (a subset of YAML's) plus the characters YAML forbids
    raw in a stream (C1 controls, line/paragraph separators, BOM, lone surrogates)."""
    encoded = json.dumps(text, ensure_ascii=False)
    if _PRINTABLE.match(encoded) and "\u2028" not in encoded and "\u2029" not in encoded:
        return encoded
    out = []
    for char in encoded:
        if _PRINTABLE.match(char) and char not in "\u2028\u2029\t\n":
            out.append(char)
        elif ord(char) > 0xFFFF:
            out.append(f"\\U{ord(char):08x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)
