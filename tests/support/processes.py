"""publisher in other processes, for the end-to-end tests: the sandbox server (its posts
outlive whatever the test kills), the daemon (`publisher run`, its log in a file), and the
environment they run in. Imports nothing of publisher: the SPEC-surface tests use it too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from signal import SIGTERM
from typing import Any

import httpx

from tests.support.paths import REPO
from tests.support.wait import wait_for

# What a caller's environment may hold that would configure publisher behind the test's back.
_FOREIGN = {"CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that configures publisher, plus proxies
    that fail for every host but loopback (the sandbox needs no network), plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith("PUBLISHER_") and key not in _FOREIGN
    }
    nowhere = "http://127.0.0.1:9"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[name] = nowhere
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


class SandboxProcess:
    """`python -m publisher.sandbox.server --port 0 --state STATE`, driven over HTTP."""

    def __init__(self, state: Path, log: Path | None = None) -> None:
        self._log = log.open("wb") if log is not None else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "publisher.sandbox.server"]
            + ["--port", "0", "--state", str(state)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=REPO,
        )
        try:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
            assert line.startswith("sandbox listening on "), line
            match = re.search(r"(http://\S+)", line)
            assert match, f"no URL from the sandbox: {line!r}"
        except BaseException:
            self.stop()
            raise
        self.url = match.group(1)

    def faults(self, **changes: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json=changes).raise_for_status()

    def posts(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/_sandbox/posts")
        answer.raise_for_status()
        return list(answer.json())

    def publish_calls(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/_sandbox/publish_calls").json())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._log is not None:
            self._log.close()


class DaemonProcess:
    """One `publisher run` (or whatever `command` says) in a subprocess; its stdout and
    stderr in the file `log`."""

    def __init__(
        self, command: list[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env if env is not None else clean_env(),
                stdout=out,
                stderr=out,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float = 20.0) -> DaemonProcess:
        """Wait for the log's "ready:" line; fail at once, with the log, if it exited."""

        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"the daemon exited:\n{self.text()}")
            return "ready:" in self.text()

        wait_for(ready, timeout=timeout, what="the daemon to be ready")
        return self

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, signum: int = SIGTERM, timeout: float = 30.0) -> int:
        """Send `signum` (if it still runs) and return its exit status; killed if it does
        not exit within `timeout` seconds."""
        if self.alive():
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(10)
