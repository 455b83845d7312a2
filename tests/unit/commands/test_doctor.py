"""commands.doctor: each check's verdict and its words: the media host over real loopback
HTTP (the fetch itself: tests/unit/hosting/test_probe.py), real folders for state_dir and a
scripted `timedatectl` for the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.commands import doctor
from publisher.commands.accounts import AccountRow
from tests.support.ports import free_port
from tests.support.site import load_config, make_site


def test_a_public_url_that_leads_nowhere_fails_naming_it(tmp_path: Path) -> None:
    config = load_config(
        make_site(
            tmp_path,
            media={"host": "serve", "listen": "127.0.0.1:0", "public_url": "http://127.0.0.1:9"},
        )
    )
    check = doctor.media_check(config)
    assert not check.ok
    assert "media.public_url (http://127.0.0.1:9)" in check.detail
    assert "media.listen" in check.fix
    assert list((tmp_path / "state" / "cache").iterdir()) == []  # the test JPEG is gone


def test_the_built_in_server_answers_a_signed_test_link(tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = load_config(
        make_site(
            tmp_path,
            media={"host": "serve", "listen": address, "public_url": f"http://{address}"},
        )
    )
    check = doctor.media_check(config)
    assert check.ok, check.detail
    assert "built-in" in check.detail


@pytest.mark.parametrize(
    ("answer", "marker", "ok", "words"),
    [
        ("yes\n", False, True, "synchronised (timedatectl)"),
        ("no\n", False, False, "not synchronised"),
        (None, True, True, "systemd-timesyncd"),
        (None, False, True, "unknown"),
        ("", False, True, "unknown"),
    ],
)
def test_the_clock_check_believes_only_what_the_system_says(
    tmp_path: Path, answer: str | None, marker: bool, ok: bool, words: str
) -> None:
    flag = tmp_path / "synchronized"
    if marker:
        flag.touch()
    check = doctor.clock_check(lambda _command: answer, flag)
    assert (check.ok, words in check.detail) == (ok, True)
    assert bool(check.fix) == (not ok)


def test_a_state_dir_that_cannot_be_a_folder_fails_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file, not a folder")
    check = doctor.state_dir_check(blocker / "inner")
    assert not check.ok and str(blocker / "inner") in check.detail
    assert doctor.state_dir_check(tmp_path / "fresh").ok
    assert list((tmp_path / "fresh").iterdir()) == []  # the probe is removed


NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "failed"),
    [
        (AccountRow("a", "sandbox", True, username="u", quota_used=1, quota_total=100), []),
        (AccountRow("a", "instagram", False, "190: token expired"), ["account a: token"]),
        (
            AccountRow("a", "instagram", True, token_expires=NOW - timedelta(days=2), days_left=-2),
            ["account a: token"],
        ),
        (
            AccountRow("a", "facebook", True, scopes=("instagram_basic",)),
            ["account a: scopes"],
        ),
        (AccountRow("a", "sandbox", True, quota_used=100, quota_total=100), ["account a: quota"]),
    ],
)
def test_token_scopes_and_quota_lines(row: AccountRow, failed: list[str]) -> None:
    checks = doctor.token_checks(row)
    assert [c.check for c in checks if not c.ok] == failed
    assert all(c.fix for c in checks if not c.ok)


def test_json_is_an_array_of_check_ok_detail_fix() -> None:
    report = [doctor.Check("a", True, "fine"), doctor.Check("b", False, "bad", "do this")]
    items = json.loads(doctor.as_json(report))
    assert items == [
        {"check": "a", "ok": True, "detail": "fine", "fix": None},
        {"check": "b", "ok": False, "detail": "bad", "fix": "do this"},
    ]
    assert doctor.render(report).splitlines()[1] == "FAIL  b: bad; fix: do this"
