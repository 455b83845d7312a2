"""`publisher schema draft|config`: the JSON Schema of a draft or of config.yaml, for editors.

Made from the pydantic models (`drafts.schema.DraftFile`, `config.schema.Config`) with their
descriptions, allowed values and examples, then written in JSON Schema draft 7, the newest
version yaml-language-server (VS Code's YAML extension, Neovim's yamlls) fully reads:
`$defs` become `definitions`. `publisher init` writes both next to config.yaml, in
`schemas/`, and the example files name them in a `# yaml-language-server: $schema=` line.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from publisher import __version__, durations
from publisher.config.values import DURATION_PATTERN

KINDS = ("draft", "config")
FOLDER = "schemas"  # next to config.yaml
FILES = {"draft": f"{FOLDER}/draft.schema.json", "config": f"{FOLDER}/config.schema.json"}
DRAFT_7 = "http://json-schema.org/draft-07/schema#"
# Set by `loading` from the file's own place, never by the user (loading refuses the key).
_INTERNAL_CONFIG_KEYS = ("config_path",)


def build(kind: str) -> dict[str, Any]:
    """Given "draft" or "config", return its JSON Schema (draft 7) as a dict."""
    if kind == "draft":
        from publisher.drafts.schema import DraftFile, type_rules

        schema = DraftFile.model_json_schema(ref_template="#/definitions/{model}")
        schema["allOf"] = type_rules()
        title = "publisher draft"
        schema["description"] = (
            "A publisher draft: one Instagram post, carousel, reel or story (SPEC §4). "
            "`publisher validate` checks the rest: media files, the account, hashtags."
        )
    elif kind == "config":
        from publisher.config.schema import Config

        schema = Config.model_json_schema(ref_template="#/definitions/{model}")
        for key in _INTERNAL_CONFIG_KEYS:
            schema.get("properties", {}).pop(key, None)
        title = "publisher config.yaml"
        schema["description"] = (
            "publisher's config.yaml (SPEC §3). Any key can be set from the environment: "
            "PUBLISHER_<KEY>, __ for nesting."
        )
    else:
        raise ValueError(f"{kind!r} is not a schema; use one of {', '.join(KINDS)}")
    _tidy(schema, top=True)
    definitions = schema.pop("$defs", None)
    ordered: dict[str, Any] = {
        "$schema": DRAFT_7,
        "$id": f"publisher-{kind}.schema.json",
        "title": title,
        "$comment": f"made by publisher {__version__}: `publisher schema {kind}`",
    }
    ordered.update((key, value) for key, value in schema.items() if key != "title")
    if definitions:
        ordered["definitions"] = definitions
    return ordered


def _tidy(node: Any, *, top: bool = False) -> None:
    """Make pydantic's schema read well in an editor, in place: no generated titles ("Publish
    At"), no `default: null` (an editor would insert it), durations' defaults as the user
    writes them (1h, not PT1H), and no `format: path` (not a JSON Schema format)."""
    if isinstance(node, list):
        for item in node:
            _tidy(item)
        return
    if not isinstance(node, dict):
        return
    if not top:
        title = node.get("title")
        if isinstance(title, str) and "$ref" not in node:
            node.pop("title")
    if "default" in node and node["default"] is None:
        node.pop("default")
    if node.get("format") == "path":
        node.pop("format")
    if node.get("pattern") == DURATION_PATTERN and isinstance(node.get("default"), str):
        node["default"] = durations.format(TypeAdapter(timedelta).validate_python(node["default"]))
    for key, value in node.items():
        if key not in ("examples", "default", "const", "enum"):
            _tidy(value)


def render(kind: str) -> str:
    """Given "draft" or "config", return its JSON Schema as the text `publisher schema`
    prints (indented, ending with a newline)."""
    return json.dumps(build(kind), indent=2, ensure_ascii=False) + "\n"


def modeline(target: str) -> str:
    """The first line that points yaml-language-server at a schema file or URL."""
    return f"# yaml-language-server: $schema={target}\n"
