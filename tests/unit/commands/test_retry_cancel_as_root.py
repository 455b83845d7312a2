"""`sudo publisher cancel` / `retry` (issue 8, fault 4): root acts as the owner of state_dir,
so nothing it leaves there or in the drafts is root's, and the service user's own commands
and daemon keep working. The command runs in a forked child (it gives up root for good)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.commands import retry_cancel
from publisher.config import Config
from publisher.job import State
from publisher.store import jobstore
from tests.support.site import DRAFTS, load_config, make_site
from tests.support.users import in_child_as, require_root, shared_folder

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SERVICE, GROUP = 42451, 42450


@pytest.fixture
def config() -> Iterator[Config]:
    require_root("root's retry/cancel")
    with shared_folder() as root:
        config = load_config(make_site(root / "site"))
        draft = config.content_dir / "x.yaml"
        draft.write_text(DRAFTS["post"])
        config.state_dir.mkdir()
        for path in (config.content_dir, config.state_dir, draft):
            os.chown(path, SERVICE, GROUP)
        config.state_dir.chmod(0o2770)
        yield config


def owners(folder: Path) -> set[tuple[int, int]]:
    return {(path.lstat().st_uid, path.lstat().st_gid) for path in folder.rglob("*")}


def test_roots_cancel_and_retry_leave_nothing_of_roots(config: Config) -> None:
    def as_root() -> None:
        for action in ("cancel", "retry"):
            said = retry_cancel.submit(
                config,
                action,  # type: ignore[arg-type]
                config.content_dir / "x.yaml",
                clock=lambda: NOW,
            )
            assert "x.yaml" in said
        assert os.geteuid() == SERVICE  # what it became

    in_child_as(0, 0, [0], as_root)

    [job] = jobstore.read_jobs(config.state_dir)
    assert job.state is State.SCHEDULED
    assert owners(config.state_dir) == {(SERVICE, GROUP)}
    draft = (config.content_dir / "x.yaml").stat()
    assert (draft.st_uid, draft.st_gid) == (SERVICE, GROUP)
    assert b"state: scheduled" in (config.content_dir / "x.yaml").read_bytes()


def test_root_stays_root_when_state_dir_is_roots(tmp_path: Path) -> None:
    require_root("root's retry/cancel")
    state_dir = tmp_path / "state"
    state_dir.mkdir()

    def check() -> None:
        retry_cancel.act_as_owner(state_dir)
        assert os.geteuid() == 0

    in_child_as(0, 0, [0], check)
