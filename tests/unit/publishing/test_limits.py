"""The publishing limits kept for `publisher plan`: what was read, written only when it
changes, and a bad file that means "not known" instead of an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.publishing import limits

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_limit_read_is_kept_per_account(tmp_path: Path) -> None:
    assert limits.totals(tmp_path) == {}
    assert limits.remember(tmp_path, "main", 50, 86400, T0)
    assert limits.remember(tmp_path, "shop", 100, 86400, T0)
    assert limits.totals(tmp_path) == {"main": 50, "shop": 100}


def test_the_same_figure_is_not_written_again(tmp_path: Path) -> None:
    assert limits.remember(tmp_path, "main", 50, 86400, T0)
    before = (tmp_path / limits.FILE).stat().st_mtime_ns
    assert not limits.remember(tmp_path, "main", 50, 86400, T0)
    assert (tmp_path / limits.FILE).stat().st_mtime_ns == before
    assert limits.remember(tmp_path, "main", 25, 86400, T0)
    assert limits.totals(tmp_path) == {"main": 25}


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"accounts": []}',
        json.dumps({"accounts": {"main": {"quota_total": "50", "quota_duration": 1}}}).encode(),
        json.dumps({"accounts": {"main": {"quota_total": 0, "quota_duration": 1}}}).encode(),
        json.dumps({"accounts": {"main": {"quota_total": True, "quota_duration": 1}}}).encode(),
    ],
)
def test_a_bad_file_means_not_known(tmp_path: Path, content: bytes) -> None:
    (tmp_path / limits.FILE).write_bytes(content)
    assert limits.totals(tmp_path) == {}
    assert limits.remember(tmp_path, "main", 50, 86400, T0)  # and is replaced by a good one
    assert limits.totals(tmp_path) == {"main": 50}
