"""Issue 9, "done when": a daemon left with an Instagram Login account refreshes its token
by itself, keeps it 0600, and after kill -9 and a restart with the old token still
configured publishes with the new one (the sandbox, in its own process, refuses the old one
once it issued the new). Real processes, real clock; every wait polls with a deadline."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from publisher.config import Config, refreshed
from publisher.drafts import statusblock
from tests.support.paths import REPO
from tests.support.site import DRAFTS, write_draft

pytestmark = pytest.mark.slow

OLD = "IGAA-long-lived-token-the-user-pasted-0123456789"


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


@pytest.fixture
def instagram_site(site: Config) -> Config:
    """The kill tests' site, its account on Instagram Login with a configured token."""
    document = json.loads(site.config_path.read_text())
    document["accounts"]["main"].update({"api": "instagram", "access_token": OLD})
    site.config_path.write_text(json.dumps(document))
    return site


@pytest.fixture
def daemon(instagram_site: Config) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    environment.pop("NOTIFY_SOCKET", None)
    log = instagram_site.config_path.parent / "daemon.log"

    def start() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "publisher", "-c", str(instagram_site.config_path)]
        process = subprocess.Popen(
            [*command, "run"], stderr=log.open("ab"), env=environment, cwd=REPO
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
    print(log.read_text(errors="replace"))  # shown by pytest when the test failed


def test_the_daemon_refreshes_its_token_and_publishes_with_it_after_kill_9(
    instagram_site: Config, sandbox: httpx.Client, daemon: Callable[[], subprocess.Popen[bytes]]
) -> None:
    sandbox.post("/_sandbox/faults", json={"refresh_min_age_s": 0}).raise_for_status()
    kept = refreshed.path(instagram_site.state_dir, "main")

    first = daemon()

    def refreshed_token() -> refreshed.Kept | None:
        # the file is written twice: "tried at" before the call, then the new token
        record = refreshed.read(instagram_site.state_dir, "main") if kept.is_file() else None
        return record if record is not None and record.token else None

    record = wait_for(refreshed_token, timeout=30, what="the refreshed token")
    assert record.token and record.token != OLD
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    first.kill()  # kill -9
    first.wait(10)

    # the old token is still the configured one, and the sandbox no longer takes it
    refused = sandbox.get("/v25.0/me", headers={"Authorization": f"Bearer {OLD}"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 190

    path = write_draft(instagram_site, "post", text=DRAFTS["post"] + "publish_at: now\n")
    second = daemon()

    def published() -> bool:
        status = statusblock.read(path.read_bytes()) or {}
        return status.get("state") == "published"

    wait_for(published, timeout=60, what="the post published with the new token")
    assert second.poll() is None
    [post] = sandbox.get("/_sandbox/posts").json()
    assert statusblock.read(path.read_bytes())["media_id"] == post["id"]  # type: ignore[index]
    for file in (instagram_site.state_dir / "jobs.json", path):
        assert record.token not in file.read_text() and OLD not in file.read_text()
