"""`publisher plan --diff REV` on a real git repository made in a temp folder: drafts added,
moved, shifted, renamed and removed appear; the working tree is never touched; a revision
that does not exist and a folder outside git are exit 2 with a sentence."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher import cli
from publisher.commands import plandiff
from tests.support.site import EXAMPLES, load_config

NOW = datetime(2029, 12, 30, 12, 0, tzinfo=UTC)
CONFIG = """\
content_dir: content
state_dir: state
timezone: UTC
schedule:
  slots: [{days: daily, times: ["09:00"]}]
accounts:
  main: {api: sandbox, ig_user_id: "17841400000000001"}
media: {host: serve, listen: "127.0.0.1:0", public_url: "http://127.0.0.1:0"}
"""


def post(caption: str, when: str | None = None) -> str:
    text = f"type: post\ncaption: {caption}\nmedia: [sunrise.jpg]\n"
    return text + (f"publish_at: {when}\n" if when else "")


def git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    content = root / "content"
    content.mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "sunrise.jpg", content / "sunrise.jpg")
    (root / "config.yaml").write_text(CONFIG)
    (content / "a-fixed.yaml").write_text(post("Fixed", "2030-01-05 10:00"))
    (content / "b-queue.yaml").write_text(post("Queue b"))
    (content / "c-gone.yaml").write_text(post("Gone", "2030-01-06 10:00"))
    (content / "d-queue.yaml").write_text(post("Queue d"))
    (content / "f-old-name.yaml").write_text(post("Renamed", "2030-01-07 10:00"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "calendar")
    return root


def report(root: Path, rev: str, *, as_markdown: bool = False) -> str:
    config = load_config(root / "config.yaml")
    return plandiff.report(config, rev=rev, as_markdown=as_markdown, clock=lambda: NOW)


def lines_of(text: str) -> dict[str, str]:
    """draft -> its line, for the lines of changes."""
    found = {}
    for line in text.splitlines()[1:]:
        kind, rest = line.split(None, 1)
        found[rest.split(" (", 1)[0]] = f"{kind} {rest}"
    return found


def test_a_clean_tree_changes_nothing(repo: Path) -> None:
    assert report(repo, "HEAD").endswith("times in UTC: no change")


def test_added_moved_shifted_renamed_removed_appear(repo: Path) -> None:
    content = repo / "content"
    (content / "a-fixed.yaml").write_text(post("Fixed", "2030-01-08 10:00"))  # moved
    (content / "0-first.yaml").write_text(post("Jumps the queue"))  # added: b and d shift
    (content / "e-new.yaml").write_text(post("New", "2030-01-09 10:00"))  # added
    git(repo, "rm", "-q", "content/c-gone.yaml")  # removed
    git(repo, "mv", "content/f-old-name.yaml", "content/g-new-name.yaml")  # renamed
    status_before = git(repo, "status", "--porcelain")
    head_before = git(repo, "rev-parse", "HEAD")

    text = report(repo, "main")
    found = lines_of(text)
    assert "1 renamed" in text.splitlines()[0]
    assert found["0-first.yaml"] == (
        'added 0-first.yaml (main, post): 2029-12-31 09:00 UTC (+00:00); "Jumps the queue"'
    )
    assert found["e-new.yaml"].startswith("added e-new.yaml (main, post): 2030-01-09 10:00 UTC")
    assert found["a-fixed.yaml"].startswith(
        "moved a-fixed.yaml (main, post): 2030-01-05 10:00 UTC (+00:00) -> "
        "2030-01-08 10:00 UTC (+00:00)"
    )
    assert found["b-queue.yaml"].startswith(
        "shifted b-queue.yaml (main, post): 2029-12-31 09:00 UTC (+00:00) -> "
        "2030-01-01 09:00 UTC (+00:00)"
    )
    assert found["d-queue.yaml"].startswith("shifted d-queue.yaml")
    assert found["g-new-name.yaml"].startswith("renamed g-new-name.yaml")
    assert "was f-old-name.yaml" in found["g-new-name.yaml"]
    assert found["c-gone.yaml"].startswith(
        "removed c-gone.yaml (main, post): was 2030-01-06 10:00 UTC (+00:00); deleted"
    )
    assert len(found) == 7

    # Read-only: the working tree, the index and HEAD are as they were.
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert (content / "a-fixed.yaml").read_text() == post("Fixed", "2030-01-08 10:00")


def test_a_draft_made_invalid_is_removed_with_the_reason(repo: Path) -> None:
    (repo / "content" / "a-fixed.yaml").write_text("type: selfie\nmedia: [sunrise.jpg]\n")
    found = lines_of(report(repo, "HEAD"))
    assert found["a-fixed.yaml"].startswith("removed a-fixed.yaml")
    assert "invalid (type: 'selfie' is not a draft type" in found["a-fixed.yaml"]


def test_a_config_change_shifts_the_queue(repo: Path) -> None:
    config = repo / "config.yaml"
    config.write_text(config.read_text().replace('"09:00"', '"18:00"'))
    found = lines_of(report(repo, "HEAD"))
    assert sorted(found) == ["b-queue.yaml", "d-queue.yaml"]
    assert "2029-12-31 09:00 UTC (+00:00) -> 2029-12-30 18:00 UTC (+00:00)" in found["b-queue.yaml"]
    assert found["d-queue.yaml"].startswith("shifted")


def test_markdown_through_the_command_line(repo: Path) -> None:
    (repo / "content" / "e-new.yaml").write_text(post("New", "2030-01-09 10:00"))
    out = io.StringIO()
    code = cli.main(
        ["-c", str(repo / "config.yaml"), "plan", "--diff", "HEAD", "--markdown"], out=out
    )
    assert code == 0
    text = out.getvalue()
    assert text.startswith("### publisher plan: 1 added\n")
    assert "| added | `e-new.yaml` | main | post |  | 2030-01-09 10:00 UTC (+00:00) | New |" in text


def test_a_revision_that_does_not_exist_is_exit_2(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["-c", str(repo / "config.yaml"), "plan", "--diff", "no-such-branch"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'no-such-branch' is not a revision of the git repository at" in err
    assert "Traceback" not in err


def test_an_option_looking_revision_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["-c", str(repo / "config.yaml"), "plan", "--diff=--output=x"]) == 2
    assert "is not a revision" in capsys.readouterr().err
    assert not (repo / "x").exists()


def test_outside_a_git_repository_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "plain"
    (site / "content").mkdir(parents=True)
    (site / "config.yaml").write_text(CONFIG)
    code = cli.main(["-c", str(site / "config.yaml"), "plan", "--diff", "HEAD"])
    assert code == 2
    assert "is not in a git repository" in capsys.readouterr().err


def test_markdown_alone_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-c", str(repo / "config.yaml"), "plan", "--markdown"]) == 2
    assert "--markdown" in capsys.readouterr().err


def test_against_a_saved_plan(repo: Path) -> None:
    saved = repo / "before.json"
    out = io.StringIO()
    assert cli.main(["-c", str(repo / "config.yaml"), "plan", "--json"], out=out) == 0
    saved.write_text(out.getvalue())
    (repo / "content" / "c-gone.yaml").unlink()
    out = io.StringIO()
    code = cli.main(["-c", str(repo / "config.yaml"), "plan", "--against", str(saved)], out=out)
    assert code == 0
    assert "removed  c-gone.yaml (main, post): was 2030-01-06 10:00 UTC (+00:00); deleted" in (
        out.getvalue()
    )


def test_a_repository_git_refuses_is_named_in_gits_words(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".git" / "config").write_text("[core]\n\trepositoryformatversion = 99\n")
    assert cli.main(["-c", str(repo / "config.yaml"), "plan", "--diff", "HEAD"]) == 2
    err = capsys.readouterr().err
    assert "git cannot read the repository of" in err and "version" in err
