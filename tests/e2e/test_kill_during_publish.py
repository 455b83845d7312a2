"""kill -9 at each step of the publish flow (RELIABILITY.md §10 C1–C7), then `publish` again:
exactly one post per draft, recorded as published in the store and the draft.

The sandbox runs in its own process (`python -m publisher.sandbox.server --state F`), so its
posts outlive the killed publisher. `publisher publish` runs as a subprocess with
PUBLISHER_FAILPOINT=<step>, which SIGKILLs itself there. The second run is in-process with a
fake clock, so the reconciliation wait (2 x the read timeout) takes no real time."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher import drafts
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.drafts import statusblock
from publisher.instagram import upload
from publisher.job import State
from publisher.publishing import failpoints
from publisher.store import jobstore
from tests.support.clock import SleepClock
from tests.support.paths import REPO
from tests.support.site import load_config, make_site, write_draft
from tests.support.videos import write_video
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow


def run_killed(config: Config, path: Path, failpoint: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, failpoints.ENV: failpoint}
    return subprocess.run(
        [sys.executable, "-m", "publisher", "-c", str(config.config_path), "publish", str(path)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def run_again(config: Config, path: Path) -> list[str]:
    lines: list[str] = []
    fake = SleepClock(datetime.now(UTC))
    job = publish_draft(config, path, progress=lines.append, clock=fake, sleep=fake.sleep)
    assert job.state is State.PUBLISHED, (job.error, lines)
    return lines


def check_exactly_once(config: Config, path: Path, sandbox: httpx.Client) -> None:
    draft = drafts.load(path, config).draft
    assert draft is not None
    posts: list[dict[str, Any]] = sandbox.get("/_sandbox/posts").json()
    ours = [post for post in posts if drafts.caption_hash(post["caption"]) == draft.caption_hash]
    assert len(ours) == 1, ours
    calls: dict[str, int] = sandbox.get("/_sandbox/publish_calls").json()
    assert all(count <= 1 for count in calls.values()), calls
    [job] = jobstore.read_jobs(config.state_dir)
    assert job.state is State.PUBLISHED
    assert job.media_id == ours[0]["id"]
    status = statusblock.read(path.read_bytes())
    assert status is not None
    assert (status["state"], status["media_id"]) == ("published", ours[0]["id"])


@pytest.mark.parametrize(
    ("kind", "failpoint"),
    [("post", name) for name in failpoints.NAMES]
    + [("carousel", "after_record"), ("carousel", "after_publish"), ("reel", "after_publish")],
)
def test_kill_at_each_step_then_publish_again_posts_once(
    kind: str, failpoint: str, site: Config, sandbox: httpx.Client
) -> None:
    path = write_draft(site, kind)
    killed = run_killed(site, path, failpoint)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # whatever the kill left, the draft is one whole file, old or new
    assert not drafts.load(path, site).errors

    run_again(site, path)
    check_exactly_once(site, path, sandbox)


def test_kill_while_media_publish_is_in_flight(site: Config, sandbox: httpx.Client) -> None:
    """C4: the sandbox has committed the post and holds its answer; the publisher dies."""
    sandbox.post("/_sandbox/faults", json={"publish_delay_s": 30}).raise_for_status()
    path = write_draft(site, "post")
    command = [sys.executable, "-m", "publisher", "-c", str(site.config_path), "publish"]
    process = subprocess.Popen(
        [*command, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
    )
    try:

        def media_publish_arrived() -> bool:
            if sandbox.get("/_sandbox/publish_calls").json():
                return True
            assert process.poll() is None
            return False

        wait_for(media_publish_arrived, timeout=30, every=0.05, what="media_publish to arrive")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    sandbox.post("/_sandbox/faults", json={"publish_delay_s": 0}).raise_for_status()

    lines = run_again(site, path)
    assert any("found after an interrupted publish" in line for line in lines)
    check_exactly_once(site, path, sandbox)


def test_kill_mid_upload_then_publish_again_resumes_on_the_same_container(
    tmp_path: Path, sandbox_url: str, sandbox: httpx.Client
) -> None:
    """`media.video_upload: resumable`: killed with some of the video's bytes at Meta's
    upload host, the next run asks how many it holds, sends the rest to the same container,
    and the reel goes out once (issue 10: only an in-process stop was tested)."""
    site = load_config(
        make_site(
            tmp_path,
            account={"base_url": sandbox_url},
            publishing={"poll_interval": "0s"},
            media={
                "host": "base_url",
                "public_url": "http://127.0.0.1:9",
                "video_upload": "resumable",
            },
        )
    )
    clip = write_video(site.content_dir / "long.mp4")
    with clip.open("ab") as file:  # an MP4 `free` box: padding players skip, 3 MiB of it
        padding = 3 * upload.CHUNK
        file.write(struct.pack(">I", padding + 8) + b"free" + bytes(padding))
    path = site.content_dir / "reel.yaml"
    path.write_text('type: reel\ncaption: "Resumed #reels"\nmedia: [long.mp4]\n', encoding="utf-8")

    killed = run_killed(site, path, "mid_upload")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [job] = jobstore.read_jobs(site.state_dir)
    [container] = job.containers

    lines = run_again(site, path)
    check_exactly_once(site, path, sandbox)
    [job] = jobstore.read_jobs(site.state_dir)
    assert [c.id for c in job.containers] == [container.id]  # resumed, not made again
    sent = [line for line in lines if line.startswith("uploading long.mp4:")]
    assert sent and not sent[0].startswith("uploading long.mp4: 0 of"), lines
