"""The files shipped for review in pull requests: the GitHub Actions workflow in docs/ci/ and
the pre-commit hook at the top of the repository run the commands they claim to."""

from __future__ import annotations

import re
import shlex

from publisher import cli, yamlsafe
from tests.support.paths import REPO

WORKFLOW = REPO / "docs" / "ci" / "github-actions.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"


def publisher_commands(script: str) -> list[list[str]]:
    found = []
    for line in script.splitlines():
        words = shlex.split(line.split(">", 1)[0]) if line.strip().startswith("publisher") else []
        if words:
            found.append(words[1:])
    return found


def test_the_workflow_validates_and_comments_the_plan_diff_without_secrets() -> None:
    text = WORKFLOW.read_text()
    workflow = yamlsafe.loads(text.encode())
    steps = workflow["jobs"]["publisher"]["steps"]
    commands = [words for step in steps for words in publisher_commands(step.get("run", ""))]
    assert ["validate"] in commands
    diff = next(words for words in commands if words[:2] == ["plan", "--diff"])
    assert "--markdown" in diff
    parsed = cli.build_parser().parse_args(diff)  # the options exist as written
    assert parsed.diff.startswith("origin/") and parsed.markdown
    assert "secrets." not in text
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    checkout = next(step for step in steps if step.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0


def test_the_pre_commit_hook_runs_validate_on_drafts_and_media() -> None:
    (hook,) = yamlsafe.loads(HOOKS.read_bytes())
    assert hook["id"] == "publisher-validate"
    assert hook["entry"] == "publisher validate"
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for name in ("config.yaml", "content/a.yaml", "content/x/look1.JPG", "content/clip.mp4"):
        assert files.search(name), name
    for name in ("README.md", "publisher/cli.py", "notes.txt"):
        assert not files.search(name), name
