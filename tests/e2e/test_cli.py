"""The command line surface: help on every command, init, exit codes, no tracebacks."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from publisher import cli
from publisher import config as config_module
from publisher.commands import init as scaffold
from publisher.drafts import statusblock
from publisher.errors import ConfigError
from tests.support.paths import REPO
from tests.support.site import make_site

COMMANDS = sorted(cli.COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert "-c CONFIG, --config CONFIG" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "publisher", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("publisher ")


def test_repository_copies_match_the_starter() -> None:
    """config.yaml, content/ and systemd/ at the top of the repo are what `init` writes.

    Drafts are compared without their status block: `make run` writes one into them.
    """
    for name, shipped in scaffold.starter_files():
        ours, theirs = (REPO / name).read_bytes(), shipped
        if name.endswith(".yaml") and name.startswith("content/"):
            ours, theirs = statusblock.split(ours)[0], statusblock.split(theirs)[0]
        assert ours == theirs, f"{name} differs from publisher/starter/{name}"


def test_init_writes_a_working_starter(tmp_path: Path) -> None:
    out = io.StringIO()
    assert cli.main(["init", str(tmp_path / "site")], out=out) == 0
    site = tmp_path / "site"
    assert (site / "config.yaml").is_file()
    drafts = sorted(p.name for p in (site / "content").glob("*.yaml"))
    assert drafts == ["01-post.yaml", "02-carousel.yaml", "03-reel.yaml", "04-story.yaml"]
    assert (site / "systemd" / "publisher.service").is_file()
    assert cli.main(["-c", str(site / "config.yaml"), "validate"], out=io.StringIO()) == 0


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("mine: true\n")
    assert cli.main(["init", str(tmp_path)], out=io.StringIO()) == 1
    assert (tmp_path / "config.yaml").read_text() == "mine: true\n"
    assert "not overwritten" in capsys.readouterr().err
    assert not (tmp_path / "content").exists()


def test_missing_config_is_exit_2_with_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["-c", str(tmp_path / "nope.yaml"), "status"], out=io.StringIO())
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "publisher init" in err
    assert "Traceback" not in err


def test_bad_config_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "timezone: Mars/Olympus\nbogus: 1\naccounts:\n  main: {ig_user_id: '1'}\n"
        "schedule:\n  slots:\n    - days: mon\n      times: ['09:00', '9h']\n"
    )
    assert cli.main(["-c", str(path), "validate"], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert f"{path}: at 'timezone':" in err
    assert f"{path}: at 'bogus': unknown key" in err
    assert f"{path}: at 'schedule.slots[0].times[1]':" in err


def test_sandbox_command_announces_the_real_port() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "publisher", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        port = int(line.split(":")[2].split()[0])
        assert port != 0
        answer = httpx.get(f"http://127.0.0.1:{port}/_sandbox/posts", timeout=5)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_busy_media_port_is_a_config_error_naming_media_listen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["init", str(tmp_path)], out=io.StringIO()) == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config_path = tmp_path / "config.yaml"
        config_path.write_text(config_path.read_text().replace("8765", str(port)))
        capsys.readouterr()
        code = cli.main(
            ["-c", str(config_path), "publish", str(tmp_path / "content" / "01-post.yaml")],
            out=io.StringIO(),
        )
    assert code == 2
    err = capsys.readouterr().err
    assert f"{config_path}: at 'media.listen': 127.0.0.1:{port} cannot be used" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["plan"],
        ["status"],
        ["run"],
        ["publish", "x.yaml"],
        ["retry", "x.yaml"],
        ["cancel", "x.yaml"],
        ["accounts"],
    ],
    ids=lambda command: command[0],
)
def test_a_mistyped_content_dir_is_a_config_error_for_every_command(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped content_dir passed `validate` as "0 drafts" (exit 0), and `run` then exited
    1 with a hint about inotify limits."""
    config_path = make_site(tmp_path)
    document = json.loads(config_path.read_text())
    document["content_dir"] = "contnet"
    config_path.write_text(json.dumps(document))
    assert cli.main(["-c", str(config_path), *command], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert f"{config_path}: at 'content_dir': the folder {tmp_path / 'contnet'} does not " in err
    assert f"mkdir -p {tmp_path / 'contnet'}" in err
    assert "inotify" not in err and "Traceback" not in err
    assert not (tmp_path / "state").exists()  # nothing started


def test_a_content_dir_that_is_a_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = make_site(tmp_path)
    document = json.loads(config_path.read_text())
    document["content_dir"] = "config.yaml"
    config_path.write_text(json.dumps(document))
    assert cli.main(["-c", str(config_path), "validate"], out=io.StringIO()) == 2
    assert "is not a folder; set content_dir to the folder of your drafts" in (
        capsys.readouterr().err
    )


# --- configuration that cannot be used: exit 2 with a sentence, never the token ------------

SECRET = "EAAB-review-secret-0123456789"
MINIMAL = 'accounts:\n  main: {ig_user_id: "17841400000000001"}\n'


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PUBLISHER_ACCOUNTS", '{"main": {"ig_user_id": "1", "access_token": "' + SECRET + '"'),
        ("PUBLISHER_SCHEDULE", "{slots: [}"),
        ("PUBLISHER_MEDIA__S3", "{"),
    ],
)
def test_an_environment_variable_that_is_not_json_is_a_config_error(
    name: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config_module.load(path, environ={name: value})
    [problem] = caught.value.problems
    assert problem.path == str(path)
    assert name in problem.message and "JSON" in problem.message
    assert SECRET not in str(caught.value)

    # the command line: exit 2 (a config error) with that sentence, no traceback
    with pytest.MonkeyPatch.context() as env:
        env.setenv(name, value)
        code = cli.main(["-c", str(path), "validate"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2
    assert name in err and "internal error" not in err
    assert SECRET not in err


@pytest.mark.parametrize(
    ("lines", "token_file", "environ"),
    [
        # a "smart" quote pasted along with the token
        ("", None, {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": SECRET + "\u201d"}),
        # two tokens pasted on two lines
        ("", None, {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": SECRET + "\n" + SECRET}),
        # a token file saved as "Unicode" (UTF-16) by a Windows editor
        ("    access_token_file: tok\n", SECRET.encode("utf-16"), {}),
    ],
    ids=["non-ascii", "inner-line-break", "utf16-file"],
)
def test_a_token_that_cannot_be_sent_is_a_config_error_without_the_token(
    lines: str,
    token_file: bytes | None,
    environ: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Otherwise httpx raises UnicodeEncodeError (or h11 an illegal header) on the first call:
    # `publisher accounts` said "internal error", and a publish failed without saying why.
    path = tmp_path / "config.yaml"
    path.write_text(
        'accounts:\n  main:\n    api: facebook\n    ig_user_id: "17841400000000001"\n' + lines,
        encoding="utf-8",
    )
    if token_file is not None:
        (tmp_path / "tok").write_bytes(token_file)
    with pytest.raises(ConfigError) as caught:
        config_module.load(path, environ=environ)
    [problem] = caught.value.problems
    assert problem.field.startswith("at 'accounts.main.access_token")
    assert "paste" in problem.message
    assert SECRET not in str(caught.value)

    with pytest.MonkeyPatch.context() as env:
        for key, value in environ.items():
            env.setenv(key, value)
        code = cli.main(["-c", str(path), "accounts"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2
    assert "internal error" not in err and SECRET not in err
