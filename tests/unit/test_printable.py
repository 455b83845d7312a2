"""What a user file holds is shown, never obeyed: a control character (ESC starts a sequence
that rewrites the terminal) in a key, a file name or an error is printed as an escape, on the
terminal and in the log (issue 8: `make reliability`'s hostile corpus printed them raw)."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher import cli, logs
from publisher.commands import status
from publisher.errors import Problem, printable
from publisher.job import Job, State
from publisher.store.jobstore import JobStore
from tests.support.site import load_config, make_site

ESC_CLEAR = "\x1b[2J"


def test_printable_escapes_controls_and_bidi_overrides_and_keeps_the_rest() -> None:
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("\x00\x07\x7f\x9b") == "\\x00\\x07\\x7f\\x9b"
    assert printable("left\u202eright") == "left\\u202eright"
    assert printable("two\nlines\tand tab") == "two\nlines\tand tab"
    assert printable("two\nlines", one_line=True) == "two\\x0alines"
    assert printable("émoji 📫 ß") == "émoji 📫 ß"


def test_a_problem_is_one_line_whatever_its_key_holds() -> None:
    line = str(Problem("x.yaml", f"k{ESC_CLEAR}\nnext", "unknown key"))
    assert line == "x.yaml: k\\x1b[2J\\x0anext: unknown key"


def test_validate_prints_an_unknown_key_with_esc_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = make_site(tmp_path)
    draft = tmp_path / "content" / "hostile.yaml"
    # YAML's own escape: the key holds a real ESC
    draft.write_text('type: post\n"bad\\e[2Jkey": 1\n', encoding="utf-8")
    code = cli.main(["--config", str(config_path), "validate"])
    captured = capsys.readouterr()
    assert code == 1
    assert "bad\\x1b[2Jkey: unknown key" in captured.out
    assert "\x1b" not in captured.out + captured.err


def test_the_status_table_escapes_a_draft_name(tmp_path: Path) -> None:
    config = load_config(make_site(tmp_path))
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with JobStore(config.state_dir, clock=lambda: now) as store:
        store.add(Job(draft=f"a{ESC_CLEAR}.yaml", state=State.SCHEDULED, account="main"))
    out = io.StringIO()
    status.show(config, out, json_array=False, watch=False, sleep=lambda _s: None)
    assert "a\\x1b[2J.yaml" in out.getvalue()
    assert "\x1b" not in out.getvalue()


def test_a_log_line_escapes_what_it_quotes(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup(verbose=False)
    logging.getLogger("publisher.test").warning("draft %s is invalid", f"x{ESC_CLEAR}.yaml")
    err = capsys.readouterr().err
    assert "x\\x1b[2J.yaml" in err
    assert "\x1b" not in err
