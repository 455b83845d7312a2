"""Every PermissionError that reaches a user is a sentence naming the path and the fix
(issue 8, fault 5): `errors.permission_denied`, which the CLI's main applies to whatever a
command raises. Other uids run in forked children (root is never refused)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher import cli
from publisher.errors import StoreError, permission_denied
from tests.support.site import DRAFTS, make_site
from tests.support.users import in_child_as, require_root, shared_folder

GROUP, SERVICE, EDITOR, OUTSIDER = 42440, 42441, 42442, 42443


@pytest.fixture
def site() -> Iterator[Path]:
    """A site as the README sets it up: content_dir and state_dir the service's, the group's
    to use, nothing for others; config.yaml readable by all here (so that the first thing
    an outsider meets is state_dir)."""
    require_root("the permission sentences")
    with shared_folder() as root:
        config = make_site(root / "site")
        root.joinpath("site").chmod(0o755)
        config.chmod(0o644)
        content, state = root / "site" / "content", root / "site" / "state"
        (content / "x.yaml").write_text(DRAFTS["post"])
        state.mkdir()
        for path in (content, state, *content.iterdir()):
            os.chown(path, SERVICE, GROUP)
        content.chmod(0o2775)
        state.chmod(0o2770)
        yield config


def refusal(work: object) -> str:
    """Run `work` expecting a PermissionError; return the sentence for it."""
    assert callable(work)
    try:
        work()
    except PermissionError as exc:
        sentence = permission_denied(exc)
        assert sentence is not None
        return sentence
    raise AssertionError("no PermissionError")


def test_an_outsider_is_told_the_path_and_to_join_the_group(site: Path) -> None:
    state = site.parent / "state"

    def check() -> None:
        sentence = refusal(lambda: (state / "lock").open("r+b"))
        assert sentence.startswith(f"cannot open {state}/lock: permission denied; ")
        assert f"sudo usermod -aG {GROUP} $USER" in sentence and "log in again" in sentence
        assert f"run it as {SERVICE} (sudo -u {SERVICE} publisher ...)" in sentence

    in_child_as(OUTSIDER, OUTSIDER, [], check)


def test_a_member_whose_group_may_not_is_told_the_chmod(site: Path) -> None:
    secret = site.parent / "state" / "private"
    secret.write_text("")
    os.chown(secret, SERVICE, GROUP)
    secret.chmod(0o600)

    def check() -> None:
        sentence = refusal(lambda: secret.open("rb"))
        assert f"you are in its group '{GROUP}'" in sentence
        assert f"sudo chmod g+rwX {secret}" in sentence

    in_child_as(EDITOR, EDITOR, [GROUP], check)


def test_a_file_that_cannot_be_made_names_its_folder(site: Path) -> None:
    state = site.parent / "state"

    def check() -> None:
        sentence = refusal(lambda: (state / ".tmp-abc").open("xb"))
        assert sentence.startswith(f"cannot create files in {state}: permission denied")

    state.chmod(0o2750)  # the group may read, not write
    in_child_as(EDITOR, EDITOR, [GROUP], check)


def test_one_of_ours_caused_by_a_permission_error_gets_the_sentence_too() -> None:
    try:
        try:
            raise PermissionError(13, "Permission denied", "/nowhere/jobs.json")
        except PermissionError as exc:
            raise StoreError("cannot write /nowhere/jobs.json: Permission denied") from exc
    except StoreError as wrapped:
        sentence = permission_denied(wrapped)
    assert sentence is not None and "/nowhere/jobs.json" in sentence
    assert permission_denied(StoreError("the disk is full")) is None


@pytest.mark.parametrize("command", ["cancel", "retry", "status"])
def test_the_command_line_says_it_in_one_sentence_with_no_traceback(
    site: Path, command: str
) -> None:
    args = ["-c", str(site), command] + (["content/x.yaml"] if command != "status" else [])

    def check() -> None:
        os.chdir(site.parent)
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors):
            status = cli.main(args, out=io.StringIO())
        text = errors.getvalue()
        assert status == cli.EXIT_USAGE, text
        assert text.startswith("publisher: cannot open ") and "permission denied" in text, text
        assert f"usermod -aG {GROUP}" in text and "Traceback" not in text, text
        assert "internal error" not in text, text

    in_child_as(OUTSIDER, OUTSIDER, [], check)
