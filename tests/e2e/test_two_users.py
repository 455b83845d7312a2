"""Two real users on one box, set up as README "Running as a service" says, step by step
(issue 8, "several users on one box"): the service user runs the daemon (runuser, the unit's
UMask), an editor in its group saves a draft after the daemon's write-back and runs
`publisher cancel`; root's `cancel` / `retry` leave the service working (no request applied
twice, the service user's own `retry` still works); a user outside the group gets a
sentence, not a traceback.

Root only (useradd, runuser): under CI (CI set) a missing root is a failure, elsewhere a
skip. The accounts have names unique to the run and are removed afterwards.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import signal
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.job import Job, State
from publisher.planning import reconciler
from publisher.store import jobstore
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.processes import DaemonProcess, SandboxProcess, clean_env
from tests.support.users import (
    Accounts,
    accounts,
    add_to_group,
    as_user,
    python_for,
    require_root,
    shared_folder,
)
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

IG_USER_ID = "17841400000000021"


def sh(*command: str | Path) -> None:
    """One of the README's commands, as root."""
    subprocess.run([str(part) for part in command], check=True, capture_output=True)


class Box:
    """The README's layout under one folder: srv/publisher/content, var/lib/publisher,
    etc/publisher/config.yaml; the service user, an editor and an outsider."""

    def __init__(self, root: Path, made: Accounts, sandbox_url: str) -> None:
        self.root = root
        self.content = root / "srv" / "publisher" / "content"
        self.state = root / "var" / "lib" / "publisher"
        self.config = root / "etc" / "publisher" / "config.yaml"
        # 1. the service user, with its own group; 2. an editor joins the group
        self.service = made.system_user("service", home=self.state)
        self.group = self.service
        self.editor = made.person("editor")
        add_to_group(self.editor, self.group)
        self.outsider = made.person("outsider")
        # 3. the drafts; 4. state_dir
        sh("install", "-d", "-o", self.service, "-g", self.group, "-m", "2775", self.content)
        sh("install", "-d", "-o", self.service, "-g", self.group, "-m", "2770", self.state)
        # 5. the config, readable by the group (the sandbox needs no token file)
        port = free_port()
        draft_config = root / "config.yaml"
        draft_config.write_text(
            json.dumps(
                {
                    "content_dir": str(self.content),
                    "state_dir": str(self.state),
                    "timezone": "UTC",
                    "publishing": {"poll_interval": "1s", "backoff": "1s"},
                    "accounts": {
                        "main": {
                            "api": "sandbox",
                            "ig_user_id": IG_USER_ID,
                            "base_url": sandbox_url,
                        }
                    },
                    "media": {
                        "host": "serve",
                        "listen": f"127.0.0.1:{port}",
                        "public_url": f"http://127.0.0.1:{port}",
                    },
                },
                indent=1,
            )
        )
        sh("install", "-D", "-m", "0640", "-o", "root", "-g", self.group, draft_config, self.config)
        draft_config.unlink()
        self.python, self.env = python_for(self.editor)

    def command(self, user: str | None, *args: str) -> list[str]:
        """`publisher -c /etc/publisher/config.yaml ARGS` as `user` (None: root)."""
        line = [self.python, "-m", "publisher", "-c", str(self.config), *args]
        return as_user(user or "root", line, self.env)

    def publisher(self, user: str | None, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(user, *args),
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            env=clean_env(),
        )

    def as_editor(self, script: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """A shell command run by the editor, with the usual umask 022."""
        return subprocess.run(
            as_user(self.editor, ["sh", "-c", "umask 022 && " + script]),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.content,
        )

    def start_daemon(self) -> DaemonProcess:
        """The unit's ExecStart as its User=, with its UMask=0007, through runuser."""
        run = [self.python, "-m", "publisher", "-c", str(self.config), "run"]
        umask = ["sh", "-c", 'umask 0007 && exec "$@"', "sh"]
        return DaemonProcess(
            as_user(self.service, umask + run, self.env),
            cwd=self.root,
            log=self.root / "daemon.log",
            env=clean_env(),
        )

    def job(self) -> Job:
        [job] = jobstore.read_jobs(self.state)
        return job


@pytest.fixture
def box() -> Iterator[Box]:
    require_root("the two-user test")
    with shared_folder() as root, accounts() as made:
        sandbox = SandboxProcess(root / "sandbox.json", root / "sandbox.log")
        try:
            yield Box(root, made, sandbox.url)
        finally:
            sandbox.stop()


def draft_text(caption: str) -> str:
    publish_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    return (
        f"type: post\ncaption: {json.dumps(caption)}\nmedia: [sunrise.jpg]\n"
        f"publish_at: {publish_at.isoformat()}\n"
    )


def owner_and_mode(path: Path) -> tuple[str, str, int]:
    found = path.stat()
    return (
        pwd.getpwuid(found.st_uid).pw_name,
        grp.getgrgid(found.st_gid).gr_name,
        stat.S_IMODE(found.st_mode),
    )


def ok(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    for word in words:
        assert word in done.stdout, done.stdout
    return done.stdout


def test_an_editor_and_root_share_the_site_with_the_service(box: Box) -> None:
    # the editor drops a draft and its photo into content_dir
    copied = box.as_editor(
        f"cp {REPO / 'content' / 'sunrise.jpg'} . && cat > x.yaml", draft_text("first")
    )
    assert copied.returncode == 0, copied.stderr
    draft = box.content / "x.yaml"
    assert owner_and_mode(draft) == (box.editor, box.group, 0o644)

    daemon = box.start_daemon()
    try:
        daemon.wait_ready(timeout=60)
        wait_for(lambda: b"state: scheduled" in draft.read_bytes(), timeout=30, what="write-back")
        # the write-back made it the service's, and the group may write it
        assert owner_and_mode(draft) == (box.service, box.group, 0o664)

        # the editor saves it again, in place, after the write-back
        saved = box.as_editor("cat > x.yaml", draft_text("edited by the editor"))
        assert saved.returncode == 0, saved.stderr
        wait_for(
            lambda: (
                b"edited by the editor" in draft.read_bytes()
                and b"state: scheduled" in draft.read_bytes()
            ),
            timeout=30,
            what="the edit, written back",
        )

        # the editor cancels it; root re-queues and cancels it; the service user re-queues it
        ok(box.publisher(box.editor, "cancel", str(draft)), "cancelled")
        assert box.job().state is State.CANCELLED
        ok(box.publisher(None, "retry", str(draft)), "re-queued")
        ok(box.publisher(None, "cancel", str(draft)), "cancelled")
        ok(box.publisher(box.service, "retry", str(draft)), "re-queued")
        ok(box.publisher(box.editor, "status"), "x.yaml", "scheduled")

        job = box.job()
        notes = [event.note for event in job.history]
        assert job.state is State.SCHEDULED
        assert notes.count(reconciler.CANCELLED_BY_USER) == 2  # each applied once
        assert len(job.requests) == len(set(job.requests)) == 4
        assert list((box.state / "requests").iterdir()) == []  # every answer collected
        leftovers = {
            path: owner_and_mode(path)[:2]
            for path in box.state.rglob("*")
            if owner_and_mode(path)[:2] != (box.service, box.group)
        }
        assert leftovers == {}  # nothing of root's, nothing outside the group
        assert stat.S_IMODE((box.state / "requests").stat().st_mode) == 0o2770
        assert "cannot be answered" not in daemon.text()

        # someone outside the group: one sentence, the path and the fix, no traceback
        for args in (("cancel", str(draft)), ("status",)):
            refused = box.publisher(box.outsider, *args)
            assert refused.returncode != 0
            assert refused.stderr.startswith("publisher: cannot open "), refused.stderr
            assert "permission denied" in refused.stderr
            assert f"sudo usermod -aG {box.group} $USER" in refused.stderr
            assert "Traceback" not in refused.stderr and "internal error" not in refused.stderr
        assert box.job().state is State.SCHEDULED  # and it changed nothing

        # the daemon's own pid (runuser's child) stops cleanly on SIGTERM
        pid = int((box.state / "lock").read_text())
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not daemon.alive(), timeout=30, what="the daemon to stop")
        assert "Traceback" not in daemon.text(), daemon.text()
    finally:
        # runuser passes SIGTERM on to the daemon and waits for it (a SIGKILL to runuser
        # would leave the daemon running, and its account could not be removed)
        daemon.stop()
        print(f"--- daemon.log ---\n{daemon.text()}")  # shown when the test failed

    # with the daemon stopped, the editor's cancel is applied by the command itself; what it
    # leaves in state_dir stays the group's, and the service starts and works after it
    ok(box.publisher(box.editor, "cancel", str(draft)), "cancelled")
    assert box.job().state is State.CANCELLED
    assert {owner_and_mode(path)[1] for path in box.state.rglob("*")} == {box.group}
    again = box.start_daemon()
    try:
        again.wait_ready(timeout=60)
        ok(box.publisher(box.service, "retry", str(draft)), "re-queued")
        assert box.job().state is State.SCHEDULED
    finally:
        again.stop()
        print(f"--- daemon.log (again) ---\n{again.text()}")
