"""`publisher schema draft|config`: every example validates as an editor would check it
(the `jsonschema` library, draft 7), a wrong draft does not, every key is described."""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from publisher import cli, yamlsafe
from publisher.commands import init, schema
from publisher.drafts import checks
from tests.support.paths import REPO, STARTER
from tests.support.site import DRAFTS


def as_editor_reads(data: bytes) -> Any:
    """A YAML document as a YAML 1.2 editor sees it: timestamps are strings."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    return plain(yamlsafe.loads(data))


def validator(kind: str) -> Draft7Validator:
    built = json.loads(schema.render(kind))
    Draft7Validator.check_schema(built)
    return Draft7Validator(built)


def problems(kind: str, document: Any) -> list[str]:
    """Every message, those under anyOf/allOf included (an editor shows the closest)."""

    def messages(errors: Any) -> list[str]:
        found = []
        for error in errors:
            found.append(error.message)
            found += messages(error.context or [])
        return found

    return messages(validator(kind).iter_errors(document))


def example_drafts() -> list[tuple[str, bytes]]:
    found = [
        (f"content/{p.name}", p.read_bytes()) for p in sorted((REPO / "content").glob("*.yaml"))
    ]
    found += [(f"starter/{p.name}", p.read_bytes()) for p in sorted(STARTER.glob("content/*.yaml"))]
    found += [(f"DRAFTS[{kind}]", text.encode()) for kind, text in DRAFTS.items()]
    return found


@pytest.mark.parametrize(("name", "data"), example_drafts(), ids=lambda v: str(v)[:30])
def test_every_example_draft_validates(name: str, data: bytes) -> None:
    assert problems("draft", as_editor_reads(data)) == [], name


def test_drafts_init_writes_validate_and_name_the_schema_init_writes(tmp_path: Path) -> None:
    assert cli.main(["init", str(tmp_path)], out=io.StringIO()) == 0
    drafts = sorted((tmp_path / "content").glob("*.yaml"))
    assert len(drafts) == 4
    for path in [*drafts, tmp_path / "config.yaml"]:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=")
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target.is_file(), f"{path.name} names {target}, which init did not write"
        kind = "config" if path.name == "config.yaml" else "draft"
        assert json.loads(target.read_text()) == schema.build(kind)
        assert problems(kind, as_editor_reads(path.read_bytes())) == [], path.name


def test_the_repository_config_validates() -> None:
    assert problems("config", as_editor_reads((REPO / "config.yaml").read_bytes())) == []


@pytest.mark.parametrize(
    "media",
    [
        "sunrise.jpg",
        ["look1.jpg", "https://example.com/a.jpg"],
        [
            "look1.jpg",
            {
                "file": "look2.jpg",
                "alt_text": "Back view",
                "user_tags": [{"username": "jane", "x": 0.3, "y": 0.6}],
            },
            "clip.mp4",
        ],
    ],
)
def test_media_as_strings_and_as_mappings_validate(media: Any) -> None:
    kind = "post" if isinstance(media, str) else "carousel"
    assert problems("draft", {"type": kind, "media": media}) == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"type": "video", "media": ["a.mp4"]}, "'video' is not one of"),
        ({"media": ["a.jpg"]}, "'type' is a required property"),
        ({"type": "post", "media": ["a.jpg"], "captoin": "x"}, "Additional properties"),
        ({"type": "post", "media": ["a.jpg"], "publish_at": "tomorrow"}, "does not match"),
        ({"type": "post", "media": ["a.jpg"], "fit": "stretch"}, "'stretch' is not one of"),
        ({"type": "post", "media": [{"alt_text": "no file"}]}, "'file' is a required property"),
        ({"type": "post", "media": ["a.jpg"], "cover": "c.jpg"}, "should not be valid"),
        ({"type": "post", "media": ["a.jpg", "b.jpg"]}, "is too long"),
        ({"type": "carousel", "media": ["a.jpg"]}, "is too short"),
        ({"type": "reel", "media": ["a.mp4"], "collaborators": ["a", "b", "c", "d"]}, "too long"),
        ({"type": "post", "media": ["a.jpg"], "thumb_offset": 5}, "should not be valid"),
        ({"type": "post", "media": ["a.jpg"], "caption": "x" * 2201}, "is too long"),
        ({"type": "post", "media": ["a.jpg"], "location_id": "Paris"}, "does not match"),
    ],
)
def test_a_wrong_draft_fails(document: dict[str, Any], expected: str) -> None:
    found = problems("draft", document)
    assert found, document
    assert any(expected in message for message in found), found


def test_a_wrong_config_fails() -> None:
    good = {"accounts": {"main": {"ig_user_id": "1"}}}
    assert problems("config", good) == []
    assert problems("config", {"accounts": {"main": {"ig_user_id": "1", "api": "graph"}}})
    assert problems("config", {"accounts": {"Main": {"ig_user_id": "1"}}})
    assert problems("config", {"accounts": {"main": {"ig_user_id": "1"}}, "timezon": "UTC"})
    assert problems("config", {"accounts": {"main": {"ig_user_id": "1"}}, "archive_after": "30"})
    assert problems("config", {"accounts": {}})


def test_the_draft_schema_has_exactly_the_keys_validate_takes() -> None:
    assert set(schema.build("draft")["properties"]) == set(checks.KEYS)


def properties(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        for name, value in (node.get("properties") or {}).items():
            found.append((f"{path}.{name}", value))
        for key, value in node.items():
            if key not in ("examples", "default", "enum", "const"):
                found += properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for item in node:
            found += properties(item, path)
    return found


@pytest.mark.parametrize("kind", schema.KINDS)
def test_every_key_has_a_description(kind: str) -> None:
    built = schema.build(kind)
    keys = [(where, value) for where, value in properties(built) if "/allOf" not in where]
    assert len(keys) > 15
    undescribed = [where for where, value in keys if not value.get("description")]
    assert undescribed == []


@pytest.mark.parametrize("kind", schema.KINDS)
def test_the_schema_is_draft_7_without_pydantic_leftovers(kind: str) -> None:
    text = schema.render(kind)
    built = json.loads(text)
    assert built["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "$defs" not in text
    assert '"format": "path"' not in text
    assert not re.search(r'"P(T\d|\d)', text)  # durations as people write them (1h, not PT1H)
    assert built["properties"].get("config_path") is None


def test_durations_show_their_default_as_written() -> None:
    publishing = schema.build("config")["definitions"]["Publishing"]["properties"]
    assert publishing["backoff"]["default"] == "5s"
    assert publishing["poll_timeout"]["default"] == "10m"


@pytest.mark.parametrize("kind", schema.KINDS)
def test_the_command_prints_the_schema(kind: str) -> None:
    out = io.StringIO()
    assert cli.main(["schema", kind], out=out) == 0
    assert json.loads(out.getvalue()) == schema.build(kind)


def test_the_shipped_schema_files_are_what_the_command_prints() -> None:
    """schemas/ at the top of the repository is what `init` writes (regenerate it with
    `publisher schema draft > schemas/draft.schema.json`, and config likewise)."""
    for kind, name in schema.FILES.items():
        assert (REPO / name).read_text() == schema.render(kind), f"{name} is stale"
    assert dict(init.starter_files())[schema.FILES["draft"]] == schema.render("draft").encode()
