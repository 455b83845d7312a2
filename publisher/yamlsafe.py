"""Load user YAML (config.yaml, drafts) safely and without YAML 1.1 surprises.

Given bytes, return plain Python data (dict/list/str/int/float/bool/None). Raise `YamlRejected`
with a sentence if the document is too large, not UTF-8, uses aliases/anchors (billion-laughs),
custom tags (`!!python/...`), nests too deeply, or does not parse.

Scalars follow the YAML 1.2 core schema, so `NO`, `on`, `yes` stay strings, `12:30` stays the
string "12:30" (not 750), `0755` stays a string-looking int only when written as decimal, and
timestamps stay strings (pydantic parses them with the config's time zone).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32


class YamlRejected(ValueError):
    """The document was refused; `str()` is a sentence for the user, `line` when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


class _Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core-schema resolvers and no aliases."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise YamlRejected(
                "anchors and aliases (*name) are not allowed; write the value out",
                event.start_mark.line + 1,
            )
        # Refuse deep nesting while composing: 10,000 nested brackets used to recurse until
        # Python's RecursionError, most of a second of work for a 20 KB file.
        if self._depth > MAX_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise YamlRejected(
                f"nested more than {MAX_DEPTH} levels deep", event.start_mark.line + 1
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# Replace the YAML 1.1 implicit resolvers with the YAML 1.2 core schema.
_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)

# The YAML 1.2 core-schema implicit resolvers above, for code that must know how a plain
# scalar will read back (statusblock decides its quoting with them, without parsing).
IMPLICIT_RESOLVERS = _Loader.yaml_implicit_resolvers

_ALLOWED_TAGS = {
    "tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "map", "seq")
}


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = str(loader.construct_scalar(node))
    try:
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value)
    except ValueError as exc:  # over Python's 4300-digit limit
        raise YamlRejected(
            f"the number has {len(value)} digits; quote it if it is text",
            node.start_mark.line + 1,
        ) from exc


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


_BAD_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def _check_tags(node: yaml.Node, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise YamlRejected(f"nested more than {MAX_DEPTH} levels deep", node.start_mark.line + 1)
    if node.tag not in _ALLOWED_TAGS:
        raise YamlRejected(
            f"the tag {node.tag!r} is not allowed; remove it", node.start_mark.line + 1
        )
    if isinstance(node, yaml.ScalarNode) and _BAD_CHARACTERS.search(node.value):
        # Only reachable through escapes ("\0", "\ud800"): a NUL breaks file names, a lone
        # surrogate cannot be encoded (hashing, printing, sending).
        raise YamlRejected(
            "a NUL or invalid (surrogate) character is not allowed; remove the escape",
            node.start_mark.line + 1,
        )
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                # PyYAML keeps the last of two equal keys silently; the user meant one.
                if key.value in seen:
                    raise YamlRejected(
                        f"the key {key.value!r} appears twice (lines {seen[key.value]} and "
                        f"{key.start_mark.line + 1}); keep one",
                        key.start_mark.line + 1,
                    )
                seen[key.value] = key.start_mark.line + 1
            _check_tags(key, depth + 1)
            _check_tags(value, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_tags(item, depth + 1)


def loads(data: bytes, *, max_bytes: int = MAX_BYTES) -> Any:
    """Parse one YAML document from `data` (see module docstring)."""
    if len(data) > max_bytes:
        raise YamlRejected(f"the file is {len(data)} bytes; the limit is {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlRejected(f"the file is not UTF-8 text (bad byte at offset {exc.start})") from exc
    if "\x00" in text:
        raise YamlRejected("the file contains NUL bytes; it is not a text file")
    text = text.removeprefix("\ufeff")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_tags(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except YamlRejected:
        raise
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problem = exc.problem or "invalid YAML"
        raise YamlRejected(f"not valid YAML: {problem}", line) from exc
    except yaml.YAMLError as exc:
        raise YamlRejected("not valid YAML") from exc
    except RecursionError as exc:
        raise YamlRejected("nested too deeply") from exc
