"""The daemon (`publisher run` in a subprocess, the real clock) under the faults of issue 8:
a storm of transient errors, a stop during a reconcile wait, and the busy minute.

    storm     30 % of Graph requests answered HTTP 500 (code 2, is_transient: nothing done),
              100 drafts on 5 accounts due within one minute: lateness of each post
              (media_id recorded - slot), posts per caption in the sandbox (goal: all live
              within 5 min of their slot, each exactly once)
    crash     30 drafts on 3 accounts a second apart, the first answers lost, the daemon
              killed (-9) during the settle wait and started again: lateness, none twice
    sigterm   a media_publish whose answer is lost (the connection dropped, so the settle
              wait is the long one, 60 s): seconds from SIGTERM to the process's exit (goal
              < 20 s), then a restart: the draft is settled and posted once
    busy      the busy minute: 1,000 posts on 200 accounts due at the same second, 150 ms
              added to every Graph answer, publishing.concurrency 256: lateness of the
              media_publish call and of the recorded media id (goal: the last within 60 s of
              the slot), posts per caption (none twice)

The slots are a little in the future on the real clock (the daemon has no shifted clock);
the sandbox runs in its own process (`python -m publisher.sandbox.server`) and fetches the
media from the daemon's media server, as Instagram would.

Run: .venv/bin/python bench/bench_faults.py [--quick] [--only storm,sigterm,crash,busy]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_daemon import Sandbox, Site, percentile, post_draft, wait_for

from publisher.job import Job, State

FINAL = {State.PUBLISHED, State.FAILED, State.UNCONFIRMED, State.MISSED}


class MemorySandbox(Sandbox):
    """The sandbox in its own process, its world in memory: with `--state` it rewrites and
    fsyncs its whole world file at every container and post, one at a time, which at a
    thousand posts a minute measures the sandbox's disk, not publisher."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "publisher.sandbox.server", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        match = re.search(r"(http://\S+)", self.process.stdout.readline())
        assert match
        self.url = match.group(1)


def ig_id(index: int) -> str:
    return f"178414{index:011d}"


def accounts_on(sandbox: Sandbox, count: int) -> dict[str, Any]:
    return {
        f"a{index}": {"api": "sandbox", "ig_user_id": ig_id(index), "base_url": sandbox.url}
        for index in range(count)
    }


def published_late(job: Job) -> float:
    """Seconds from the slot to the moment the media id was recorded."""
    assert job.scheduled_for is not None and job.published_at is not None
    return (job.published_at - job.scheduled_for).total_seconds()


def publish_call_late(job: Job) -> float:
    """Seconds from the slot to the (last) media_publish call that was sent."""
    assert job.scheduled_for is not None
    calls = [c for c in job.api_calls if c.endpoint.endswith("/media_publish")]
    return (calls[-1].at - job.scheduled_for).total_seconds()


def claimed_late(job: Job) -> float:
    """Seconds from the slot to the claim of the attempt that published (a worker took it)."""
    assert job.scheduled_for is not None
    claims = [event.at for event in job.history if event.state == State.PUBLISHING.value]
    return (claims[-1] - job.scheduled_for).total_seconds()


def spread(values: list[float]) -> dict[str, float]:
    return {
        "p50_s": round(statistics.median(values), 2),
        "p90_s": round(percentile(values, 0.9), 2),
        "max_s": round(max(values), 2),
    }


def posts_per_caption(sandbox: Sandbox) -> collections.Counter[str]:
    return collections.Counter(str(post.get("caption")) for post in sandbox.posts())


def drop_drafts(site: Site, drafts: list[tuple[str, str, datetime, str]]) -> None:
    """Write every (name, caption, slot, account) draft beside content/, then rename them in
    at once (a drop, as a sync tool does it)."""
    staging = site.root / "staging"
    staging.mkdir(exist_ok=True)
    for name, caption, when, account in drafts:
        (staging / name).write_text(post_draft(caption, when, account))
    for name, *_rest in drafts:
        (staging / name).rename(site.content / name)


def finished(site: Site, count: int) -> bool:
    jobs = site.jobs()
    return len(jobs) == count and all(job.state in FINAL for job in jobs)


# --- the transient storm ---------------------------------------------------------------------


def bench_storm(
    root: Path, drafts: int, accounts: int, rate: float, attempts: int
) -> dict[str, Any]:
    sandbox = MemorySandbox()
    sandbox.faults(processing_polls=0, transient_5xx_rate=rate)
    site = Site(
        root / "site",
        accounts_on(sandbox, accounts),
        # a storm costs attempts: each media_publish answered 500 is one (the container is
        # read, FINISHED, and published again); 10 leaves 0.3^10 to chance, the default 3
        # about 3 % of the drafts
        publishing={"concurrency": accounts, "attempts": attempts},
    )
    daemon = site.start()
    daemon.ready()
    try:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
        batch = []
        for index in range(drafts):
            # spread over the minute: a slot every 60/drafts s, accounts in turn
            when = start + timedelta(seconds=60 * index // drafts)
            batch.append((f"s{index:03}.yaml", f"storm {index}", when, f"a{index % accounts}"))
        drop_drafts(site, batch)
        wait_for(lambda: finished(site, drafts), 900, "every draft finished")
        jobs = site.jobs()
        states = collections.Counter(job.state.value for job in jobs)
        published = [job for job in jobs if job.state is State.PUBLISHED]
        late = [published_late(job) for job in published]
        counts = posts_per_caption(sandbox)
        publish_calls = sum(
            1 for job in jobs for c in job.api_calls if c.endpoint.endswith("/media_publish")
        )
        return {
            "drafts": drafts,
            "accounts": accounts,
            "transient_5xx_rate": rate,
            "attempts": attempts,
            "states": dict(states),
            "late_published": spread(late),
            "within_5_min": sum(1 for value in late if value <= 300),
            "posts": sum(counts.values()),
            "captions_posted_twice": sum(1 for n in counts.values() if n > 1),
            "media_publish_calls": publish_calls,
        }
    finally:
        daemon.stop()
        sandbox.stop()


# --- SIGTERM during a reconcile wait ---------------------------------------------------------


def bench_sigterm(root: Path) -> dict[str, Any]:
    sandbox = MemorySandbox()
    sandbox.faults(processing_polls=0, lose_publish_responses=1, lose_publish_with="drop")
    site = Site(root / "site", accounts_on(sandbox, 1))
    daemon = site.start()
    daemon.ready()
    try:
        when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
        drop_drafts(site, [("lost.yaml", "lost answer", when, "a0")])

        def waiting() -> bool:
            jobs = site.jobs()
            return bool(jobs) and jobs[0].publish_doubt is not None

        wait_for(waiting, 120, "the doubtful publish")
        time.sleep(2)  # well inside the 60 s settle wait
        sent = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        code = daemon.process.wait(120)
        stop_s = time.monotonic() - sent
        [left] = site.jobs()
        restarted = site.start()
        restarted.ready()
        wait_for(lambda: finished(site, 1), 180, "the draft settled after the restart")
        restarted.stop()
        [job] = site.jobs()
        return {
            "sigterm_to_exit_s": round(stop_s, 2),
            "exit_status": code,
            "left_as": left.state.value,
            "after_restart": job.state.value,
            "posts": len(sandbox.posts()),
        }
    finally:
        daemon.stop()
        sandbox.stop()


# --- kill -9 during a reconcile wait ------------------------------------------------------


def bench_crash(root: Path, drafts: int, accounts: int) -> dict[str, Any]:
    """`drafts` on `accounts`, a slot a second apart; the first media_publish answers are
    lost (posted, connection dropped), the daemon is killed (-9) 2 s into the settle wait and
    started again at once: how late the drafts go out, and none twice."""
    sandbox = MemorySandbox()
    sandbox.faults(processing_polls=0, lose_publish_responses=accounts, lose_publish_with="drop")
    site = Site(root / "site", accounts_on(sandbox, accounts), publishing={"concurrency": 4})
    daemon = site.start()
    daemon.ready()
    try:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        batch = [
            (
                f"c{index:03}.yaml",
                f"crash {index}",
                start + timedelta(seconds=index),
                f"a{index % accounts}",
            )
            for index in range(drafts)
        ]
        drop_drafts(site, batch)

        def in_doubt() -> bool:
            return any(job.publish_doubt is not None for job in site.jobs())

        wait_for(in_doubt, 120, "a doubtful publish")
        time.sleep(2)
        daemon.process.kill()
        daemon.process.wait()
        killed = (datetime.now(UTC) - start).total_seconds()
        daemon = site.start()
        ready_s = daemon.ready()
        wait_for(lambda: finished(site, drafts), 600, "every draft finished")
        jobs = site.jobs()
        published = [job for job in jobs if job.state is State.PUBLISHED]
        counts = posts_per_caption(sandbox)
        late = [published_late(job) for job in published]
        return {
            "drafts": drafts,
            "accounts": accounts,
            "states": dict(collections.Counter(job.state.value for job in jobs)),
            "late_published": spread(late),
            "later_than_30_s": sum(1 for value in late if value > 30),
            "killed_after_first_slot_s": round(killed, 1),
            "restart_to_ready_s": round(ready_s, 1),
            "media_publish_sent_late": spread([publish_call_late(job) for job in published]),
            "posts": sum(counts.values()),
            "captions_posted_twice": sum(1 for n in counts.values() if n > 1),
        }
    finally:
        daemon.stop()
        sandbox.stop()


# --- the busy minute -------------------------------------------------------------------------


def bench_busy(
    root: Path, accounts: int, per_account: int, latency: float, lead: float
) -> dict[str, Any]:
    sandbox = MemorySandbox()
    sandbox.faults(processing_polls=0, latency_s=latency)
    site = Site(
        root / "site",
        accounts_on(sandbox, accounts),
        publishing={"concurrency": 256},
    )
    daemon = site.start()
    daemon.ready()
    try:
        count = accounts * per_account
        slot = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=lead)
        batch = [
            (f"b{index:04}.yaml", f"busy {index}", slot, f"a{index % accounts}")
            for index in range(count)
        ]
        dropped = time.monotonic()
        drop_drafts(site, batch)

        def all_prepared() -> bool:
            jobs = site.jobs()
            return len(jobs) == count and all(
                job.containers and job.containers[-1].status_code == "FINISHED" for job in jobs
            )

        wait_for(all_prepared, lead + 600, "every container prepared")
        prepared_s = time.monotonic() - dropped
        prepared_before_slot = datetime.now(UTC) < slot
        wait_for(lambda: finished(site, count), lead + 900, "every draft finished")
        jobs = site.jobs()
        states = collections.Counter(job.state.value for job in jobs)
        published = [job for job in jobs if job.state is State.PUBLISHED]
        counts = posts_per_caption(sandbox)
        return {
            "accounts": accounts,
            "posts_due": count,
            "latency_ms": round(latency * 1000),
            "slot_after_drop_s": lead,
            "all_prepared_after_drop_s": round(prepared_s, 1),
            "all_prepared_before_slot": prepared_before_slot,
            "states": dict(states),
            "claimed_late": spread([claimed_late(job) for job in published]),
            "media_publish_sent_late": spread([publish_call_late(job) for job in published]),
            "media_id_recorded_late": spread([published_late(job) for job in published]),
            "posts": sum(counts.values()),
            "captions_posted_twice": sum(1 for n in counts.values() if n > 1),
            "more_than_one_attempt": sum(1 for job in published if job.attempts > 1),
            "slowest": describe(max(published, key=published_late)),
        }
    finally:
        daemon.stop()
        sandbox.stop()


def describe(job: Job) -> dict[str, Any]:
    """What happened to a job, for reading a figure: its history and its calls' outcomes."""
    assert job.scheduled_for is not None
    return {
        "draft": job.draft,
        "attempts": job.attempts,
        "history": [
            f"{(e.at - job.scheduled_for).total_seconds():+.1f}s {e.state} {e.note}"[:120]
            for e in job.history[-6:]
        ],
        "call_errors": [c.error for c in job.api_calls if c.error][-5:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller figures")
    parser.add_argument("--only", default="storm,sigterm,crash,busy", help="comma-separated list")
    parser.add_argument("--attempts", type=int, default=10, help="storm: publishing.attempts")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    print(f"# {platform.node()} {os.cpu_count()} cpus, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as temp:
        root = Path(temp)
        if "storm" in wanted:
            drafts, accounts = (30, 3) if args.quick else (100, 5)
            figures = bench_storm(root / "storm", drafts, accounts, 0.3, args.attempts)
            print("storm", json.dumps(figures))
        if "sigterm" in wanted:
            print("sigterm", json.dumps(bench_sigterm(root / "sigterm")))
        if "crash" in wanted:
            print("crash", json.dumps(bench_crash(root / "crash", 30, 3)))
        if "busy" in wanted:
            accounts, lead = (40, 60.0) if args.quick else (200, 120.0)
            print("busy", json.dumps(bench_busy(root / "busy", accounts, 5, 0.150, lead)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
