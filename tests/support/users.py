"""Several users on one box, for the tests of the multi-user service model (README "Running as
a service"): root only, real accounts made with groupadd/useradd and removed after, commands
run as one of them with runuser, code run under another uid in a forked child, and folders
every account can reach. Imports nothing of publisher: the e2e tests use it too.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.paths import REPO


def require_root(what: str) -> None:
    """Fail under CI (CI set: CI runs as root, so a missing root is a broken CI), skip
    elsewhere, when this process is not root."""
    if os.geteuid() == 0:
        return
    message = f"{what} needs root (useradd, runuser, files of other owners); run it as root"
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must run the tests as root")
    pytest.skip(message)


@contextlib.contextmanager
def shared_folder(prefix: str = "publisher-users-") -> Iterator[Path]:
    """A fresh folder under the system's temp folder that every account can enter (pytest's
    tmp_path is 0700 root's), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def in_child_as(
    uid: int, gid: int, groups: list[int], work: Callable[[], None], *, umask: int = 0o022
) -> None:
    """Run `work` in a forked child whose uid, gid and supplementary groups are these (any
    numbers: no account needed); raise AssertionError with the child's error if it fails.
    The child runs only `work`, then exits at once (no atexit, no pytest in it)."""
    # The child may not read this interpreter's files (a Python under root's home): what it
    # would look up lazily is looked up here first.
    for name in ("ascii", "utf-8", "latin-1"):
        codecs.lookup(name)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        status = 0
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            os.umask(umask)
            work()
        except BaseException as exc:  # reported to the parent through the pipe
            os.write(write, f"{type(exc).__name__}: {exc}".encode(errors="replace"))
            status = 1
        finally:
            os.close(write)
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode(errors="replace")
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"as uid {uid}: {report}"


# --- real accounts --------------------------------------------------------------------------


@dataclass
class Accounts:
    """Accounts and groups made for one test, with names unique to it; `remove` undoes all."""

    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def name(self, role: str) -> str:
        """A name for `role` unique to this test (32 characters at most, as useradd wants)."""
        return f"pt{role[:8]}{self.tag}"

    def system_user(self, role: str, *, home: Path) -> str:
        """The service user, as the README makes it: a system account with its own group of
        the same name, its home the state_dir, no login shell."""
        name = self.name(role)
        _admin(
            ["useradd", "--system", "--user-group", "--home-dir", str(home)]
            + ["--shell", "/usr/sbin/nologin", name]
        )
        self.users.append(name)
        self.groups.append(name)
        return name

    def person(self, role: str, *, groups: tuple[str, ...] = ()) -> str:
        """A person's account (its own group), in `groups` besides."""
        name = self.name(role)
        _admin(["useradd", "--user-group", "--no-create-home", "--shell", "/bin/sh", name])
        self.users.append(name)
        self.groups.append(name)
        for group in groups:
            add_to_group(name, group)
        return name

    def remove(self) -> None:
        for user in reversed(self.users):
            _admin(["userdel", user], check=False)
        for group in reversed(self.groups):
            _admin(["groupdel", group], check=False)
        self.users.clear()
        self.groups.clear()


def add_to_group(user: str, group: str) -> None:
    """`usermod -aG GROUP USER`, as the README tells an admin to add an editor."""
    _admin(["usermod", "-aG", group, user])


def _admin(command: list[str], *, check: bool = True) -> None:
    """Run a user-admin command; /etc/passwd is locked while another one runs on the box,
    so a busy lock (exit 1 with "lock") is tried again for a while."""
    deadline = time.monotonic() + 30
    while True:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode == 0 or not check:
            return
        if "lock" in done.stderr.lower() and time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        raise AssertionError(f"{' '.join(command)} failed: {done.stderr.strip()}")


@contextlib.contextmanager
def accounts() -> Iterator[Accounts]:
    made = Accounts()
    try:
        yield made
    finally:
        made.remove()


# --- running publisher as another account ---------------------------------------------------


def python_for(user: str) -> tuple[str, dict[str, str]]:
    """An interpreter `user` can run that imports this checkout of publisher and its
    dependencies, and the environment variables it needs. This test's own interpreter when
    the user may run it (a venv from a system Python, as on CI); otherwise (a Python under
    root's home) the system's python3 of the same version, pointed at this venv's packages."""
    if _can_run(user, [sys.executable, "-c", "import publisher"]):
        return sys.executable, {}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    packages = sysconfig.get_path("purelib", vars={"base": sys.prefix})
    extra = {"PYTHONPATH": os.pathsep.join([str(REPO), packages])}
    for candidate in (shutil.which(version), f"/usr/bin/{version}", "/usr/bin/python3"):
        if candidate and _can_run(user, [candidate, "-c", "import publisher"], extra):
            return candidate, extra
    raise AssertionError(
        f"no Python {sys.version_info.major}.{sys.version_info.minor} that {user} may run "
        f"({sys.executable} is not readable by it)"
    )


def _can_run(user: str, command: list[str], env: dict[str, str] | None = None) -> bool:
    done = subprocess.run(
        as_user(user, command, env or {}), capture_output=True, check=False, cwd="/"
    )
    return done.returncode == 0


def as_user(user: str, command: list[str], env: dict[str, str] | None = None) -> list[str]:
    """`runuser -u USER -- env K=V ... COMMAND`: the command line that runs `command` as
    `user` (with its groups, as a login would give them), with `env` added."""
    settings = [f"{key}={value}" for key, value in (env or {}).items()]
    return ["runuser", "-u", user, "--", "env", *settings, *command]
