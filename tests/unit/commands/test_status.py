"""`publisher status`: the table, the JSON array, and --watch until Ctrl-C (the sleep is
injected, so nothing waits)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from publisher.commands import status
from publisher.job import Job, State
from publisher.store.jobstore import JobStore
from tests.support.site import load_config, make_site

CLEAR = "\x1b[2J\x1b[H"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_once_prints_the_table_and_returns(tmp_path: Path) -> None:
    config = load_config(make_site(tmp_path))
    with JobStore(config.state_dir, clock=lambda: NOW) as store:
        store.add(Job(draft="x.yaml", state=State.SCHEDULED, account="main"))
    out = io.StringIO()
    status.show(config, out, json_array=False, watch=False, sleep=_never)
    assert out.getvalue().splitlines()[1].startswith("x.yaml")
    assert CLEAR not in out.getvalue()


def test_json_is_one_array(tmp_path: Path) -> None:
    config = load_config(make_site(tmp_path))
    out = io.StringIO()
    status.show(config, out, json_array=True, watch=False, sleep=_never)
    assert json.loads(out.getvalue()) == []


def test_watch_prints_again_every_two_seconds_until_ctrl_c(tmp_path: Path) -> None:
    config = load_config(make_site(tmp_path))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            raise KeyboardInterrupt  # Ctrl-C: how --watch is meant to end

    out = io.StringIO()
    status.show(config, out, json_array=False, watch=True, sleep=sleep)
    assert slept == [2.0, 2.0, 2.0]
    assert out.getvalue().count(CLEAR) == 3


def _never(_seconds: float) -> None:
    raise AssertionError("status without --watch must not wait")
