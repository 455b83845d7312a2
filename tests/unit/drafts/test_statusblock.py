"""The status block write-back: every byte outside the block stays the user's (SPEC §5,
RELIABILITY §4.4/§4.5, matrix row C21).

Golden files: tests/golden/NAME.yaml is a draft as a user might write it, NAME.expected.yaml
is it after `replace(draft, STATUS)`. Regenerate after a deliberate change of the format with
`UPDATE_GOLDEN=1 pytest tests/test_statusblock.py` and read the diff before committing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from publisher import yamlsafe
from publisher.drafts import statusblock, writeback
from publisher.errors import ConcurrentEdit
from publisher.job import State
from publisher.store import atomicfile
from tests.support.paths import GOLDEN

INPUTS = sorted(p.name for p in GOLDEN.glob("*.yaml") if not p.name.endswith(".expected.yaml"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

STATUS: dict[str, Any] = {
    "state": "failed",
    "scheduled_for": "2026-12-01T09:00:00+01:00",
    "attempts": 3,
    "media_id": "17920238422030506",
    "permalink": "https://www.instagram.com/p/C0abc123/",
    "published_at": None,
    "error": "create failed: code 9004 # media could not be fetched — check café.jpg",
    "updated_at": "2026-12-01T09:00:08+01:00",
}
OTHER_STATUS: dict[str, Any] = {"state": "published", "attempts": 1, "error": None}
REFUSED = {"flow.yaml"}  # one {...} mapping: no status block can be added


def parses(data: bytes) -> bool:
    try:
        yaml.safe_load(data)
    except yaml.YAMLError:
        return False
    return True


# Broken YAML (invalid.yaml) still gets its block; only the byte checks apply to it.
VALID = [name for name in sorted(set(INPUTS) - REFUSED) if parses((GOLDEN / name).read_bytes())]


def expected_path(name: str) -> Path:
    return GOLDEN / name.replace(".yaml", ".expected.yaml")


def newline_of(data: bytes) -> bytes:
    first = data.find(b"\n")
    return b"\r\n" if first > 0 and data[first - 1] == ord("\r") else b"\n"


@pytest.mark.parametrize("name", sorted(set(INPUTS) - REFUSED))
def test_golden_write_back(name: str) -> None:
    draft = (GOLDEN / name).read_bytes()
    result = statusblock.replace(draft, STATUS)
    if UPDATE:
        expected_path(name).write_bytes(result)
    assert result == expected_path(name).read_bytes()


@pytest.mark.parametrize("name", sorted(set(INPUTS) - REFUSED))
def test_nothing_outside_the_block_changes(name: str) -> None:
    draft = (GOLDEN / name).read_bytes()
    result = statusblock.replace(draft, STATUS)
    user_before, _old_block = statusblock.split(draft)
    user_after, block = statusblock.split(result)

    if user_before and not user_before.endswith(b"\n") and user_after != user_before:
        # The one allowed change: the line break after a last line that had none.
        assert user_after == user_before + newline_of(draft)
    else:
        assert user_after == user_before
    # The block is exactly what render() makes, in the file's line ending and indentation.
    column = len(block) - len(block.lstrip(b" "))
    rendered = statusblock.render(STATUS, newline_of(draft)).splitlines(keepends=True)
    assert block == b"".join(b" " * column + line for line in rendered)
    assert statusblock.fingerprint(result) == statusblock.fingerprint(draft)
    assert statusblock.read(result) == {**STATUS, "attempts": 3}
    # Idempotent, and a second status replaces the first without touching the user's bytes.
    assert statusblock.replace(result, STATUS) == result
    again = statusblock.replace(result, OTHER_STATUS)
    assert statusblock.split(again)[0] == user_after
    assert statusblock.read(again) == OTHER_STATUS


@pytest.mark.parametrize("name", VALID)
def test_a_valid_draft_stays_valid_and_keeps_its_values(name: str) -> None:
    draft = (GOLDEN / name).read_bytes()
    result = statusblock.replace(draft, STATUS)
    before = yaml.safe_load(draft) or {}
    after = yaml.safe_load(result)
    assert isinstance(after, dict)
    before.pop("status", None)
    after_status = after.pop("status")
    assert after == before
    assert after_status["error"] == STATUS["error"]
    assert after_status["media_id"] == "17920238422030506"  # a string, not a number


def test_golden_inputs_cover_the_awkward_cases() -> None:
    drafts = {name: (GOLDEN / name).read_bytes() for name in INPUTS}
    assert any(b"\r\n" in data for data in drafts.values())
    assert any(data and not data.endswith(b"\n") for data in drafts.values())
    assert any(b"\t" in data and b"#" in data for data in drafts.values())
    assert any(data.startswith(b"\xef\xbb\xbf") for data in drafts.values())
    middle = statusblock.split(drafts["status_middle.yaml"])
    assert middle[1] and middle[0].endswith(b"caption: after the block\n")


def test_flow_mapping_root_is_refused_not_corrupted(tmp_path: Path) -> None:
    draft = (GOLDEN / "flow.yaml").read_bytes()
    with pytest.raises(ValueError, match="flow mapping"):
        statusblock.replace(draft, STATUS)
    path = tmp_path / "flow.yaml"
    path.write_bytes(draft)
    assert writeback.replace_block(tmp_path, path, STATUS) == draft
    assert path.read_bytes() == draft


@pytest.mark.parametrize(
    ("data", "user", "block"),
    [
        (b"", b"", b""),
        (b"a: 1\n", b"a: 1\n", b""),
        (b"a: 1\nstatus:\n  x: 1\n", b"a: 1\n", b"status:\n  x: 1\n"),
        (b"a: 1\nstatus: null\nb: 2\n", b"a: 1\nb: 2\n", b"status: null\n"),
        (b"status:\n  x: 1\n\n\n# mine\n", b"\n\n# mine\n", b"status:\n  x: 1\n"),
        (b"status:\n  x: 1\n\n  y: 2\nb: 1\n", b"b: 1\n", b"status:\n  x: 1\n\n  y: 2\n"),
        (b"status:\n- 1\n- 2\nb: 1\n", b"b: 1\n", b"status:\n- 1\n- 2\n"),
        (b"a: |\n  status: no\n", b"a: |\n  status: no\n", b""),
        (b"statuses: 1\n", b"statuses: 1\n", b""),
        (b"status:\n  x: 1\n---\nb: 1\n", b"---\nb: 1\n", b"status:\n  x: 1\n"),  # 2 docs
        (b"a: [\nstatus:\n  x: 1\n", b"a: [\n", b"status:\n  x: 1\n"),  # broken YAML
    ],
)
def test_split(data: bytes, user: bytes, block: bytes) -> None:
    assert statusblock.split(data) == (user, block)


def test_last_of_two_status_keys_is_the_block() -> None:
    data = b"status: first\na: 1\nstatus:\n  state: second\n"
    assert statusblock.split(data) == (b"status: first\na: 1\n", b"status:\n  state: second\n")
    assert statusblock.read(data) == {"state": "second"}


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        " leading space",
        "trailing space ",
        "a: b",
        "# not a comment",
        "x #y",
        "yes",
        "NO",
        "on",
        "null",
        "~",
        "12:30",
        "0755",
        "0o17",
        "1e3",
        ".inf",
        "true",
        "- dash",
        "[list]",
        "{map}",
        "*alias",
        "&anchor",
        "!tag",
        "%percent",
        "@at",
        "`tick",
        "'single'",
        '"double"',
        "back\\slash",
        "two\nlines",
        "ends with newline\n",
        "\nstarts with newline",
        "line\n# looks like a comment",
        "blank\n\nline inside",
        "trailing spaces  \nhere",
        "tab\tinside",
        "\ttab first",
        "crlf\r\ninside",
        "emoji 🎉 and café",
        "日本語",
        "line\u2028separator",
        "next\x85line",
        "bell\x07",
        "del\x7f",
        "bom\ufeff",
        "https://www.instagram.com/p/C0abc123/?igsh=x#frag",
        "2026-12-01T09:00:00+01:00",
        "17920238422030506",
    ],
)
def test_render_reads_back_the_same_string(value: str) -> None:
    block = statusblock.render({"error": value})
    assert yamlsafe.loads(block) == {"status": {"error": value}}
    assert yaml.safe_load(block)["status"]["error"] in (value, _legacy_datetime(value))
    crlf = statusblock.render({"error": value}, b"\r\n")
    assert yamlsafe.loads(crlf) == {"status": {"error": value}}


def _legacy_datetime(value: str) -> Any:
    """YAML 1.1 readers (PyYAML's default) read an unquoted ISO time as a datetime."""
    return yaml.safe_load(value) if value.startswith("2026-") else value


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (
            {"state": State.PUBLISHED, "attempts": 1, "error": None, "ok": True},
            "status:\n  state: published\n  attempts: 1\n  error: null\n  ok: true\n",
        ),
        ({"media_id": "123"}, 'status:\n  media_id: "123"\n'),
        (
            {"at": "2026-12-01T09:00:00+01:00", "url": "https://x.example/p/1/"},
            "status:\n  at: 2026-12-01T09:00:00+01:00\n  url: https://x.example/p/1/\n",
        ),
        ({"error": "a: b # c"}, 'status:\n  error: "a: b # c"\n'),
        ({"error": "one\ntwo"}, "status:\n  error: |-\n    one\n    two\n"),
        ({"ratio": 0.5, "nothing": [], "items": ["a", 1]}, None),
        ({"empty": {}}, "status:\n  empty: {}\n"),
    ],
)
def test_render_is_deterministic(status: dict[str, Any], text: str | None) -> None:
    block = statusblock.render(status)
    assert block == statusblock.render(dict(status))
    if text is not None:
        assert block.decode() == text
    assert yamlsafe.loads(block)["status"] == {
        key: value.value if isinstance(value, State) else value for key, value in status.items()
    }


def test_render_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        statusblock.render({"bad": object()})


def test_crlf_file_gets_a_crlf_block() -> None:
    result = statusblock.replace(b"a: 1\r\nb: 2\r\n", {"state": "scheduled"})
    assert result == b"a: 1\r\nb: 2\r\nstatus:\r\n  state: scheduled\r\n"


def test_fingerprint_ignores_only_the_block() -> None:
    base = b"type: post\ncaption: hi\n"
    with_block = statusblock.replace(base, STATUS)
    assert statusblock.fingerprint(with_block) == statusblock.fingerprint(base)
    edited = with_block.replace(b"caption: hi", b"caption: hello")
    assert statusblock.fingerprint(edited) != statusblock.fingerprint(base)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", None),
        (b"a: 1\n", None),
        (b"status: broken: [\n", None),
        (b"status: 5\n", None),
        (b"status:\n  state: published\n  attempts: 2\n", {"state": "published", "attempts": 2}),
        (b"a: [\nstatus:\n  state: invalid\n", {"state": "invalid"}),
    ],
)
def test_read(data: bytes, expected: dict[str, Any] | None) -> None:
    assert statusblock.read(data) == expected


# --- the file on disk: drafts.writeback, the one way a block is written ---------------------


def test_write_puts_the_block_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"type: post # mine\n")
    written = writeback.replace_block(tmp_path, path, STATUS)
    assert path.read_bytes() == written == statusblock.replace(b"type: post # mine\n", STATUS)


def test_write_does_nothing_when_the_block_is_already_there(tmp_path: Path) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"type: post\n")
    writeback.replace_block(tmp_path, path, STATUS)
    inode = os.stat(path).st_ino
    writeback.replace_block(tmp_path, path, STATUS)
    assert os.stat(path).st_ino == inode  # no rename: the watcher sees no event


@pytest.mark.parametrize("mode", [0o640, 0o600])
def test_write_keeps_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"type: post\n")
    path.chmod(mode)
    writeback.replace_block(tmp_path, path, STATUS)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


def test_user_edit_between_read_and_write_wins(tmp_path: Path) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"type: post\ncaption: old\n")
    saves = [b"type: post\ncaption: the user's new caption\n# and a comment\n"]

    def user_saves() -> None:
        if saves:
            path.write_bytes(saves.pop())

    written = writeback.replace_block(tmp_path, path, STATUS, user_saves)
    assert path.read_bytes() == written
    user, _block = statusblock.split(written)
    assert user == b"type: post\ncaption: the user's new caption\n# and a comment\n"
    assert statusblock.read(written) == STATUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["draft.yaml"]


def test_an_editor_that_never_stops_saving_gets_concurrent_edit(tmp_path: Path) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"caption: 0\n")
    saves = iter(range(1, 100))

    def user_saves() -> None:
        path.write_bytes(b"caption: %d\n" % next(saves))

    with pytest.raises(ConcurrentEdit):
        writeback.replace_block(tmp_path, path, STATUS, user_saves)
    assert path.read_bytes() == b"caption: %d\n" % (1 + writeback.RETRIES)  # the user's text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["draft.yaml"]


def test_write_on_a_missing_draft_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        writeback.replace_block(tmp_path, tmp_path / "gone.yaml", STATUS)
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"type: post\n")
    with pytest.raises(FileNotFoundError):
        writeback.replace_block(tmp_path, path, STATUS, path.unlink)
    assert list(tmp_path.iterdir()) == []  # not recreated, no temp left


def test_temp_files_are_invisible_to_the_draft_scanner(tmp_path: Path) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"type: post\n")
    seen: list[str] = []

    def look() -> None:
        seen.extend(p.name for p in tmp_path.iterdir())

    atomicfile.write_bytes(path, b"x: 1\n", _before_replace=look)
    temps = [name for name in seen if name != "draft.yaml"]
    assert len(temps) == 1 and temps[0].startswith(".") and not temps[0].endswith(".yaml")


def test_a_value_with_a_nul_or_a_lone_surrogate_is_written_so_it_reads_back() -> None:
    """An error text holding a NUL was written as "\\u0000", which every reader of the draft
    then refused: the block read as missing."""
    data = b"type: post\n" + statusblock.render({"state": "failed", "error": "a\x00b\udcff c"})
    status = statusblock.read(data)
    assert status == {"state": "failed", "error": "a\\x00b\\udcff c"}
