"""The daemon (`publisher run` in a subprocess, the real clock): punctuality, a burst of new
drafts, the idle cost of a long queue, and restart time.

    lateness   media_publish sent - slot, p50/p99, for posts and for reels, with prepare-ahead
               (goal <= 1 s p99). The send time is the client's own record of the call
               (job.api_calls, sub-millisecond); the sandbox's post timestamp (whole seconds)
               is checked against it.
    burst      N drafts dropped into content/ at once -> seconds until every one is scheduled
               in the job store, and until every draft's status block says so (goal <= 10 s
               for 1,000)
    idle       with N scheduled drafts: CPU share over a window (utime+stime from
               /proc/<pid>/stat) and RSS (goal < 1 % and < 150 MB for 10,000)
    restart    with N drafts and their jobs: seconds from exec to "ready"

Run: .venv/bin/python bench/bench_daemon.py [--quick] [--only lateness,burst,idle,restart]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from publisher.drafts import statusblock
from publisher.job import Job, State
from publisher.store import jobstore

REPO = Path(__file__).resolve().parent.parent
MEDIA = ("sunrise.jpg", "clip.mp4", "cover.jpg")
IDS = ("17841400000000021", "17841400000000022", "17841400000000023")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


class Site:
    def __init__(self, root: Path, accounts: dict[str, Any], **settings: Any) -> None:
        self.root = root
        self.content = root / "content"
        self.state = root / "state"
        self.config = root / "config.yaml"
        self.content.mkdir(parents=True)
        for name in MEDIA:
            shutil.copyfile(REPO / "content" / name, self.content / name)
        port = free_port()
        document = {
            "content_dir": "content",
            "state_dir": "state",
            "timezone": "UTC",
            "accounts": accounts,
            "media": {
                "host": "serve",
                "listen": f"127.0.0.1:{port}",
                "public_url": f"http://127.0.0.1:{port}",
            },
            **settings,
        }
        self.config.write_text(json.dumps(document, indent=1))
        self.runs = 0

    def start(self) -> Daemon:
        self.runs += 1
        return Daemon(self, self.root / f"daemon-{self.runs}.log")

    def jobs(self) -> list[Job]:
        return jobstore.read_jobs(self.state)


class Daemon:
    def __init__(self, site: Site, log: Path) -> None:
        self.log = log
        self.started = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "publisher", "-c", str(site.config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            env=env,
        )

    def ready(self, timeout: float = 600.0) -> float:
        """Wait for the "ready:" line; return seconds since exec."""

        def seen() -> bool:
            if self.process.poll() is not None:
                raise SystemExit(f"daemon exited:\n{self.log.read_text()[-3000:]}")
            return "ready:" in self.log.read_text(errors="replace")

        wait_for(seen, timeout, "the daemon to be ready")
        return time.monotonic() - self.started

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    def rss_mb(self, field: str = "VmRSS") -> float:
        """The daemon's resident memory (MB); field VmHWM: its peak so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Sandbox:
    def __init__(self, state: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "publisher.sandbox.server",
                "--port",
                "0",
                "--state",
                str(state),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        match = re.search(r"(http://\S+)", self.process.stdout.readline())
        assert match
        self.url = match.group(1)

    def faults(self, **changes: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json=changes).raise_for_status()

    def posts(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_sandbox/posts").json())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def post_draft(caption: str, publish_at: datetime, account: str) -> str:
    return (
        f"type: post\ncaption: {json.dumps(caption)}\nmedia: [sunrise.jpg]\n"
        f"account: {account}\npublish_at: {publish_at.isoformat()}\n"
    )


def reel_draft(caption: str, publish_at: datetime, account: str) -> str:
    return (
        f"type: reel\ncaption: {json.dumps(caption)}\nmedia: [clip.mp4]\ncover: cover.jpg\n"
        f"account: {account}\npublish_at: {publish_at.isoformat()}\n"
    )


# --- lateness --------------------------------------------------------------------------------


def bench_lateness(root: Path, posts: int, reels: int) -> dict[str, Any]:
    sandbox = Sandbox(root / "sandbox.json")
    # Images are FINISHED at the first status check, videos two checks later (real images
    # are mostly ready after a second; videos take longer).
    sandbox.faults(processing_polls=0)
    accounts = {
        f"a{i}": {"api": "sandbox", "ig_user_id": ig, "base_url": sandbox.url}
        for i, ig in enumerate(IDS)
    }
    site = Site(root / "site", accounts, publishing={"poll_interval": "1s"})
    daemon = site.start()
    daemon.ready()
    try:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        kinds = ["post"] * posts + ["reel"] * reels
        for index, kind in enumerate(kinds):
            account = f"a{index % len(IDS)}"
            # each account publishes one draft every 3 s; all three accounts together 1/s
            when = start + timedelta(seconds=index)
            text = (post_draft if kind == "post" else reel_draft)(f"{kind} {index}", when, account)
            (site.content / f"{index:03}-{kind}.yaml").write_text(text)

        def done() -> bool:
            jobs = site.jobs()
            return len(jobs) == len(kinds) and all(j.state in FINAL_STATES for j in jobs)

        wait_for(done, 60 + 2 * len(kinds), "every draft published")
        lateness: dict[str, list[float]] = {"post": [], "reel": []}
        server_lateness: list[float] = []
        stamps = {post["caption"]: post["timestamp"] for post in sandbox.posts()}
        for job in site.jobs():
            if job.state is not State.PUBLISHED or job.scheduled_for is None:
                raise SystemExit(f"{job.draft} is {job.state.value}: {job.error}")
            [call] = [c for c in job.api_calls if c.endpoint.endswith("/media_publish")]
            lateness[job.type].append((call.at - job.scheduled_for).total_seconds())
            caption = f"{job.type} {int(job.draft[:3])}"
            stamp = datetime.strptime(stamps[caption], "%Y-%m-%dT%H:%M:%S%z")
            server_lateness.append((stamp - job.scheduled_for).total_seconds())
        result: dict[str, Any] = {}
        for kind, values in lateness.items():
            result[kind] = {
                "n": len(values),
                "p50_ms": round(statistics.median(values) * 1000, 1),
                "p99_ms": round(percentile(values, 0.99) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1),
            }
        result["sandbox_timestamp_max_s"] = max(server_lateness)
        return result
    finally:
        daemon.stop()
        sandbox.stop()


FINAL_STATES = {State.PUBLISHED, State.FAILED, State.UNCONFIRMED, State.MISSED}


# --- burst, idle, restart --------------------------------------------------------------------


def far_future_drafts(folder: Path, count: int) -> None:
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    for index in range(count):
        when = base + timedelta(minutes=index)
        (folder / f"d{index:05}.yaml").write_text(post_draft(f"draft {index}", when, "main"))


def bench_burst(root: Path, count: int) -> dict[str, Any]:
    accounts = {"main": {"api": "sandbox", "ig_user_id": IDS[0]}}
    site = Site(root / "site", accounts)
    daemon = site.start()
    daemon.ready()
    try:
        staging = root / "staging"
        staging.mkdir()
        far_future_drafts(staging, count)
        started = time.monotonic()
        for path in sorted(staging.iterdir()):
            path.rename(site.content / path.name)  # dropped: one rename each
        dropped = time.monotonic() - started

        def all_scheduled() -> bool:
            jobs = site.jobs()
            return len(jobs) == count and all(j.state is State.SCHEDULED for j in jobs)

        wait_for(all_scheduled, 600, "every draft scheduled")
        scheduled = time.monotonic() - started
        unwritten = set(site.content.glob("d*.yaml"))

        def all_written() -> bool:
            # Only the drafts not seen written yet are read again: the poll stays cheap.
            for path in list(unwritten):
                if (statusblock.read(path.read_bytes()) or {}).get("state") == "scheduled":
                    unwritten.discard(path)
            return not unwritten

        wait_for(all_written, 600, "every status block written")
        written = time.monotonic() - started
        return {
            "drafts": count,
            "drop_s": round(dropped, 2),
            "all_scheduled_s": round(scheduled, 2),
            "all_status_written_s": round(written, 2),
            "peak_rss_mb": round(daemon.rss_mb("VmHWM"), 1),
        }
    finally:
        daemon.stop()


def bench_idle_and_restart(root: Path, count: int, window: float) -> dict[str, Any]:
    """First start on `count` new drafts, then a restart; idle CPU and RSS are measured on
    the restarted daemon (the steady state), RSS of the first one is shown too."""
    accounts = {"main": {"api": "sandbox", "ig_user_id": IDS[0]}}
    site = Site(root / "site", accounts)
    far_future_drafts(site.content, count)
    first = site.start()
    first_ready = first.ready()
    time.sleep(2)  # the status blocks are written after the jobs
    first_rss = first.rss_mb()
    first.stop()
    count_scheduled = sum(1 for j in site.jobs() if j.state is State.SCHEDULED)
    second = site.start()
    restart = second.ready()
    time.sleep(2)  # let the start settle
    cpu_before = second.cpu_seconds()
    time.sleep(window)
    cpu_share = (second.cpu_seconds() - cpu_before) / window
    rss = second.rss_mb()
    second.stop()
    return {
        "drafts": count,
        "scheduled": count_scheduled,
        "first_start_s": round(first_ready, 1),
        "first_rss_mb": round(first_rss, 1),
        "restart_s": round(restart, 1),
        "idle_cpu_percent": round(cpu_share * 100, 2),
        "idle_window_s": window,
        "rss_mb": round(rss, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller figures, shorter window")
    parser.add_argument("--only", default="lateness,burst,idle", help="comma-separated list")
    parser.add_argument("--burst", type=int, default=0, help="drafts in the burst (1000)")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    print(f"# {platform.node()} {os.cpu_count()} cpus, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as temp:
        root = Path(temp)
        if "lateness" in wanted:
            posts, reels = (6, 3) if args.quick else (20, 10)
            print("lateness", json.dumps(bench_lateness(root / "lateness", posts, reels)))
        if "burst" in wanted:
            count = args.burst or (200 if args.quick else 1000)
            print("burst", json.dumps(bench_burst(root / "burst", count)))
        if "idle" in wanted or "restart" in wanted:
            count, window = (1000, 5.0) if args.quick else (10000, 30.0)
            print("idle+restart", json.dumps(bench_idle_and_restart(root / "idle", count, window)))


if __name__ == "__main__":
    main()
