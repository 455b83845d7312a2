"""`publisher status`: the table, the JSON array, and --watch until Ctrl-C (the sleep is
injected, so nothing waits)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher import cli
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


def test_state_and_account_filters(tmp_path: Path) -> None:
    config = load_config(make_site(tmp_path, extra_accounts={"shop": {"ig_user_id": "2"}}))
    with JobStore(config.state_dir, clock=lambda: NOW) as store:
        store.add(Job(draft="a.yaml", state=State.FAILED, account="main"))
        store.add(Job(draft="b.yaml", state=State.SCHEDULED, account="main"))
        store.add(Job(draft="c.yaml", state=State.FAILED, account="shop"))

    def drafts(**filters: frozenset[str] | frozenset[State]) -> list[str]:
        out = io.StringIO()
        status.show(config, out, json_array=True, watch=False, sleep=_never, **filters)  # type: ignore[arg-type]
        return sorted(row["draft"] for row in json.loads(out.getvalue()))

    assert drafts() == ["a.yaml", "b.yaml", "c.yaml"]
    assert drafts(states=frozenset({State.FAILED})) == ["a.yaml", "c.yaml"]
    assert drafts(accounts=frozenset({"shop"})) == ["c.yaml"]
    assert drafts(states=frozenset({State.FAILED}), accounts=frozenset({"main"})) == ["a.yaml"]


def test_filters_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_site(tmp_path)
    config = load_config(path)
    with JobStore(config.state_dir, clock=lambda: NOW) as store:
        store.add(Job(draft="a.yaml", state=State.FAILED, account="main"))
        store.add(Job(draft="b.yaml", state=State.SCHEDULED, account="main"))
    out = io.StringIO()
    argv = ["-c", str(path), "status", "--json", "--state", "failed", "--account", "main"]
    assert cli.main(argv, out=out) == 0
    assert [row["draft"] for row in json.loads(out.getvalue())] == ["a.yaml"]

    assert cli.main(["-c", str(path), "status", "--account", "nobody"], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "--account: 'nobody' is not an account of config.yaml (accounts: main)" in err
    with pytest.raises(SystemExit) as caught:  # argparse: an unknown state is a usage error
        cli.main(["-c", str(path), "status", "--state", "done"])
    assert caught.value.code == 2
