"""Refreshed tokens kept in state_dir/tokens/<account> (config.refreshed) and which token
an account uses because of them (config.tokens): the kept one while the configured one is
unchanged, the configured one as soon as it changes or the file cannot be used."""

from __future__ import annotations

import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher import config
from publisher.config import Config, refreshed, tokens

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CONFIGURED = "IGAA-configured-token-0123456789"
KEPT = "IGAA-refreshed-token-9876543210"


def site(tmp_path: Path, token: str = CONFIGURED, **account: Any) -> Config:
    lines = ["accounts:", "  main:", '    ig_user_id: "17841400000000001"']
    lines += [f"    {key}: {value}" for key, value in {"api": "instagram", **account}.items()]
    (tmp_path / "config.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "content").mkdir(exist_ok=True)
    environ = {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": token}
    return config.load(tmp_path / "config.yaml", environ=environ)


def keep(cfg: Config, token: str | None = KEPT, configured: str = CONFIGURED) -> refreshed.Kept:
    kept = refreshed.Kept(
        configured=refreshed.fingerprint(configured),
        token=token,
        expires_at=T0 + timedelta(days=60),
        refreshed_at=T0,
        tried_at=T0,
    )
    refreshed.write(cfg.state_dir, "main", kept)
    return kept


def test_a_kept_token_is_written_0600_in_a_0700_folder_and_read_back(tmp_path: Path) -> None:
    cfg = site(tmp_path)
    kept = keep(cfg)
    file = refreshed.path(cfg.state_dir, "main")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert refreshed.read(cfg.state_dir, "main") == kept
    assert CONFIGURED not in file.read_text()  # only its fingerprint
    assert KEPT not in repr(kept)


def test_an_existing_wider_file_is_narrowed(tmp_path: Path) -> None:
    cfg = site(tmp_path)
    keep(cfg)
    file = refreshed.path(cfg.state_dir, "main")
    file.chmod(0o644)
    keep(cfg)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_the_kept_token_is_used_while_the_configured_one_is_unchanged(tmp_path: Path) -> None:
    cfg = site(tmp_path)
    assert tokens.token(cfg, "main") == CONFIGURED
    assert tokens.expires(cfg, "main") is None
    keep(cfg)
    assert tokens.token(cfg, "main") == KEPT
    assert tokens.expires(cfg, "main") == T0 + timedelta(days=60)
    # a new configured token wins (and is refreshed in turn)
    changed = site(tmp_path, token="IGAA-a-new-configured-token-42")
    assert tokens.token(changed, "main") == "IGAA-a-new-configured-token-42"
    assert tokens.expires(changed, "main") is None


@pytest.mark.parametrize(
    "account", [{"token_refresh": "false"}, {"api": "facebook"}, {"api": "sandbox"}]
)
def test_only_instagram_login_with_token_refresh_uses_a_kept_token(
    tmp_path: Path, account: dict[str, str]
) -> None:
    cfg = site(tmp_path, **account)
    keep(cfg)
    assert tokens.token(cfg, "main") == CONFIGURED


def test_a_record_without_a_token_leaves_the_configured_one(tmp_path: Path) -> None:
    cfg = site(tmp_path)
    keep(cfg, token=None)
    assert tokens.token(cfg, "main") == CONFIGURED


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "configured_sha256": 5}',
        b'{"version": 1, "configured_sha256": "x", "token": 7}',
        b'{"version": 1, "configured_sha256": "x", "expires_at": "2026-12-01T08:00:00"}',
        b"\xff\xfe",
    ],
)
def test_a_bad_file_is_logged_once_and_the_configured_token_used(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = site(tmp_path)
    file = refreshed.path(cfg.state_dir, "main")
    file.parent.mkdir(parents=True)
    file.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="publisher.config.refreshed"):
        assert tokens.token(cfg, "main") == CONFIGURED
        assert tokens.token(cfg, "main") == CONFIGURED
    warnings = [r for r in caplog.records if r.name == "publisher.config.refreshed"]
    assert len(warnings) == 1
    assert str(file) in warnings[0].getMessage()
    assert "configured token is used" in warnings[0].getMessage()


def test_an_unreadable_file_is_no_crash(tmp_path: Path) -> None:
    cfg = site(tmp_path)
    file = refreshed.path(cfg.state_dir, "main")
    file.mkdir(parents=True)  # a folder where the file should be: reading it fails
    assert tokens.token(cfg, "main") == CONFIGURED
