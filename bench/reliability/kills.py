"""kill -9 at each step of the publish flow, N times each: `publisher publish` in a
subprocess with PUBLISHER_FAILPOINT=<step> SIGKILLs itself there (failpoints.NAMES), then a
second `publish` of the same draft recovers (in-process, on a clock its sleeps move, so the
reconciliation wait takes no real time). Plus "media_publish in flight": the sandbox has
committed the post and holds its answer when the kill comes.

Counted per step: duplicates (a caption posted more than once, or a container published
twice), lost drafts (not published after the second run, or the draft file not whole),
corrupt files (a draft that no longer loads), and kills that did not happen."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.reliability.common import (
    Row,
    draft_whole,
    post_draft,
    posts_per_caption,
    site,
    workdir,
)
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.job import State
from publisher.publishing import failpoints
from tests.support.clock import SleepClock
from tests.support.paths import REPO
from tests.support.processes import SandboxProcess, clean_env
from tests.support.wait import wait_for

IN_FLIGHT = "media_publish_in_flight"


def _publish_again(config: Config, path: Path) -> str | None:
    fake = SleepClock()
    try:
        job = publish_draft(config, path, progress=lambda _line: None, clock=fake, sleep=fake.sleep)
    except PublisherError as exc:
        return f"second run failed: {exc}"
    return None if job.state is State.PUBLISHED else f"second run left it {job.state.value}"


def _kill_in_flight(config: Config, path: Path, sandbox: SandboxProcess) -> bool:
    """Start `publish`, SIGKILL it once media_publish reached the sandbox (which commits the
    post and holds its answer for 5 s). True if the kill came while it was in flight."""
    before = sum(sandbox.publish_calls().values())
    process = subprocess.Popen(
        [sys.executable, "-m", "publisher", "-c", str(config.config_path), "publish", str(path)],
        env=clean_env(),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: sum(sandbox.publish_calls().values()) > before or process.poll() is not None,
            timeout=60,
            every=0.02,
        )
        alive = process.poll() is None
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(10)
    return alive


def run(quick: bool) -> list[Row]:
    repeats = 3 if quick else 20
    rows: list[Row] = []
    with workdir("kills") as root:
        sandbox = SandboxProcess(root / "sandbox.json", log=root / "sandbox.log")
        try:
            # two steps at a time (a machine has 2 cores at least); the in-flight kill after
            # them, alone: it slows every media_publish answer of the sandbox
            with ThreadPoolExecutor(max_workers=2) as pool:
                rows += pool.map(
                    lambda step: _one_step(root, sandbox, step, repeats), failpoints.NAMES
                )
            rows.append(_one_step(root, sandbox, IN_FLIGHT, repeats))
        finally:
            sandbox.stop()
    return rows


def _one_step(root: Path, sandbox: SandboxProcess, step: str, repeats: int) -> Row:
    started = time.monotonic()
    config = site(root / step, sandbox.url)
    wanted: dict[str, str] = {}
    lost: list[str] = []
    corrupt: list[str] = []
    not_killed = 0
    missed: list[str] = []
    for number in range(repeats):
        name = f"kill-{number:02}.yaml"
        caption = f"Killed at {step}, run {number} #reliability"
        path = post_draft(config, name, caption)
        written = path.read_bytes()
        wanted[name] = caption
        if step == IN_FLIGHT:
            sandbox.faults(publish_delay_s=5)
            killed = _kill_in_flight(config, path, sandbox)
            sandbox.faults(publish_delay_s=0)
        else:
            result = subprocess.run(
                [sys.executable, "-m", "publisher", "-c", str(config.config_path)]
                + ["publish", str(path)],
                env=clean_env(**{failpoints.ENV: step}),
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            killed = result.returncode == -signal.SIGKILL
            if not killed:
                said = [line for line in result.stderr.splitlines() if line.strip()]
                missed.append(f"{name}: exit {result.returncode}: {(said or ['-'])[-1][:200]}")
        not_killed += not killed
        problem = draft_whole(config, path, written)
        if problem is not None:
            corrupt.append(f"{name}: {problem}")
        again = _publish_again(config, path)
        if again is not None:
            lost.append(f"{name}: {again}")
    counts = posts_per_caption(sandbox.posts(), wanted)
    duplicates = sum(count - 1 for count in counts.values() if count > 1)
    twice = sum(1 for calls in sandbox.publish_calls().values() if calls > 1)
    lost += [f"{name}: no post" for name, count in counts.items() if count == 0]
    passed = duplicates == 0 and twice == 0 and not lost and not corrupt and not_killed == 0
    seconds = time.monotonic() - started
    return Row(
        key="kills",
        scenario=f"kill -9 at `{step}`",
        done=f"{repeats} drafts, each killed there once then published again ({seconds:.0f} s)",
        figure=(
            f"duplicates {duplicates}, containers published twice {twice}, lost {len(lost)}, "
            f"corrupt {len(corrupt)}, kills that missed {not_killed}"
        ),
        goal="0 duplicates, 0 lost, 0 corrupt",
        passed=passed,
        notes=missed[:2] + lost[:3] + corrupt[:3],
    )
