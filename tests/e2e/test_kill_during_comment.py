"""kill -9 at each step of the first comment (failpoints.COMMENT_NAMES), then `publish`
again: exactly one post and exactly one comment, its id in the store and the draft.

Like tests/e2e/test_kill_during_publish.py: the sandbox runs in its own process, so what it
made outlives the killed publisher; `publisher publish` runs as a subprocess with
PUBLISHER_FAILPOINT=<step>; the second run is in-process with a fake clock (the settle wait
before looking at the post's comments takes no time)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.drafts import statusblock
from publisher.job import State
from publisher.publishing import failpoints
from publisher.store import jobstore
from tests.support.clock import SleepClock
from tests.support.paths import REPO
from tests.support.site import DRAFTS, write_draft

pytestmark = pytest.mark.slow

COMMENT = "Link in bio — thanks @jane.doe"


def comments_of(sandbox: httpx.Client, media_id: str) -> list[dict[str, Any]]:
    answer = sandbox.get(
        f"/v25.0/{media_id}/comments",
        params={"fields": "id,text"},
        headers={"Authorization": "Bearer a-reader"},
    )
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


@pytest.mark.parametrize("failpoint", failpoints.COMMENT_NAMES)
def test_kill_at_each_comment_step_then_publish_again_comments_once(
    failpoint: str, site: Config, sandbox: httpx.Client
) -> None:
    path = write_draft(site, "post", text=DRAFTS["post"] + f'first_comment: "{COMMENT}"\n')
    env = {**os.environ, failpoints.ENV: failpoint}
    command = [sys.executable, "-m", "publisher", "-c", str(site.config_path), "publish"]
    killed = subprocess.run(
        [*command, str(path)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [post] = sandbox.get("/_sandbox/posts").json()
    made_before = len(comments_of(sandbox, post["id"]))
    assert made_before == (1 if failpoint == "after_comment" else 0)

    fake = SleepClock(datetime.now(UTC))
    lines: list[str] = []
    job = publish_draft(site, path, progress=lines.append, clock=fake, sleep=fake.sleep)

    assert job.state is State.PUBLISHED, (job.error, lines)
    assert len(sandbox.get("/_sandbox/posts").json()) == 1
    [comment] = comments_of(sandbox, post["id"])
    assert comment["text"] == COMMENT
    [stored] = jobstore.read_jobs(site.state_dir)
    assert (stored.media_id, stored.comment_id) == (post["id"], comment["id"])
    status = statusblock.read(path.read_bytes())
    assert status is not None
    assert (status["state"], status["comment_id"]) == ("published", comment["id"])
