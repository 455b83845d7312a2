"""`publisher completion SHELL` prints a script for the shell, and the command answers that
script's questions from its own parser (argcomplete): commands, options, state names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_names_the_command(shell: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "completion", shell],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "publisher" in result.stdout and "_ARGCOMPLETE" in result.stdout


def complete(line: str, tmp_path: Path) -> list[str]:
    """What the shell would be offered for `line` (the cursor at its end)."""
    answer = tmp_path / "answer"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
    }
    result = subprocess.run(
        [sys.executable, "-m", "publisher"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return sorted(word.strip() for word in answer.read_text().split("\n") if word.strip())


def test_commands_options_and_states_complete(tmp_path: Path) -> None:
    assert complete("publisher sta", tmp_path) == ["status"]
    assert "cancel" in complete("publisher ", tmp_path)
    assert complete("publisher status --st", tmp_path) == ["--state"]
    assert complete("publisher status --state fa", tmp_path) == ["failed"]
