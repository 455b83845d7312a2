"""API calls per published post, by type, and the wall time of one publish against the
sandbox at 0 and 150 ms of simulated latency per Graph call.

Each run is a fresh state_dir and sandbox; the media are the repository's example files,
served by the real ServeHost (the sandbox downloads and checks them). Calls are counted from
the job's own `api_calls` (quota check included). The wall time is `publishing.publish()`
alone (Runtime already open), on the real clock; the part of it spent in the deliberate poll
waits (about 1 s before the first status check, then `poll_interval` growing) is shown
apart, since it is a choice, not a cost.

Sandbox settings: `processing_polls` is how many status reads a container answers
IN_PROGRESS (videos 2 more). 0 is what a real image mostly does by the first check, 1 s
after creation; 2 is the sandbox's default.

Run: .venv/bin/python bench/bench_publish.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from publisher import config as config_module
from publisher import drafts
from publisher.job import Job, State
from publisher.publishing import flow as publishing
from publisher.publishing.runtime import Runtime
from publisher.sandbox.faults import Faults
from publisher.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parent.parent
MEDIA = ("sunrise.jpg", "look1.jpg", "look2.jpg", "clip.mp4", "cover.jpg", "story.jpg")
DRAFTS = {
    "post": "type: post\ncaption: A post #bench\nmedia: [sunrise.jpg]\n",
    "carousel": "type: carousel\ncaption: A carousel\nmedia: [look1.jpg, look2.jpg, clip.mp4]\n",
    "reel": "type: reel\ncaption: A reel\nmedia: [clip.mp4]\ncover: cover.jpg\n",
    "story": "type: story\nmedia: [story.jpg]\n",
}


@dataclass(frozen=True)
class Run:
    calls: int
    by_step: dict[str, int]
    wall_s: float
    waited_s: float


def publish_once(kind: str, *, latency_s: float, processing_polls: int, wait: bool = True) -> Run:
    """Publish one draft of `kind` on a fresh sandbox; return what it took. With
    wait=False the poll waits are counted but not slept (for call counts only)."""
    faults = Faults(latency_s=latency_s, processing_polls=processing_polls)
    with (
        tempfile.TemporaryDirectory(prefix="bench-publish-") as folder,
        SandboxServer(faults=faults) as sandbox,
    ):
        root = Path(folder)
        content = root / "content"
        content.mkdir()
        for name in MEDIA:
            shutil.copyfile(REPO / "content" / name, content / name)
        document = {
            "content_dir": "content",
            "state_dir": "state",
            "accounts": {
                "main": {
                    "api": "sandbox",
                    "ig_user_id": "17841400000000001",
                    "base_url": sandbox.base_url,
                }
            },
            "media": {"listen": "127.0.0.1:0", "public_url": "http://127.0.0.1:0"},
        }
        (root / "config.yaml").write_text(json.dumps(document))
        config = config_module.load(root / "config.yaml", environ={})
        path = content / f"{kind}.yaml"
        path.write_text(DRAFTS[kind])
        draft = drafts.load(path, config).draft
        assert draft is not None
        waited = 0.0

        def sleep(seconds: float) -> None:
            nonlocal waited
            waited += seconds
            if wait:
                time.sleep(seconds)

        with Runtime.open(config, sleep=sleep) as rt:
            job = rt.store.add(Job(draft=draft.rel, account="main", type=kind))
            started = time.perf_counter()
            job = publishing.publish(rt, job.id, draft)
            wall = time.perf_counter() - started
        if job.state is not State.PUBLISHED:
            raise SystemExit(f"{kind}: {job.state.value}: {job.error}")
        by_step: dict[str, int] = {}
        for call in job.api_calls:
            by_step[call.step] = by_step.get(call.step, 0) + 1
        return Run(len(job.api_calls), by_step, wall, waited)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per figure, not three")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3

    print(f"machine: {os.cpu_count()} cpu(s), Python {platform.python_version()}, ", end="")
    print(f"{platform.system()} {platform.release()}")
    print()
    print("API calls per published post (quota check included)")
    print(f"{'type':<9} {'polls=0':>8} {'polls=2':>8}   steps (polls=0)")
    for kind in DRAFTS:
        ready = publish_once(kind, latency_s=0.0, processing_polls=0, wait=False)
        default = publish_once(kind, latency_s=0.0, processing_polls=2, wait=False)
        steps = ", ".join(f"{step} {count}" for step, count in ready.by_step.items())
        print(f"{kind:<9} {ready.calls:>8} {default.calls:>8}   {steps}")

    print()
    print(f"wall time of one publish (median of {repeats}, processing_polls=0), seconds")
    print(f"{'type':<9} {'latency':>8} {'wall':>7} {'waits':>7} {'rest':>7}")
    for kind in DRAFTS:
        for latency in (0.0, 0.150):
            runs = [
                publish_once(kind, latency_s=latency, processing_polls=0) for _ in range(repeats)
            ]
            wall = statistics.median(run.wall_s for run in runs)
            waited = statistics.median(run.waited_s for run in runs)
            print(
                f"{kind:<9} {latency * 1000:>6.0f}ms {wall:>7.2f} {waited:>7.2f} "
                f"{wall - waited:>7.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
