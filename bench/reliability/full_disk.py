"""A full disk, on state_dir and on content_dir: the folder is a small tmpfs that the harness
fills to the last byte (a real ENOSPC from the kernel, for every write the daemon makes
there), while `publisher run` has drafts falling due and a user saves new ones. Then the
space comes back.

Why a tmpfs: it is the only way to get the kernel's own "No space left on device" for one
folder and not the other; RLIMIT_FSIZE (EFBIG, for every file of the process alike, logs
included) or a failing storage hook in the code would test something else than a disk. It
needs root (mount); without it the rows say "not run" and fail, never pass.

Counted: duplicates and lost drafts (not published once space is back), drafts whose
user bytes changed, the daemon's CPU share and log volume while the disk is full, and
whether the drafts' status blocks caught up."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from bench.reliability.common import Row, draft_whole, now, posts_per_caption, workdir
from publisher.config import Config
from publisher.drafts import statusblock
from publisher.job import Job, State
from publisher.store import jobstore
from tests.support.processes import DaemonProcess, SandboxProcess
from tests.support.site import load_config, make_site
from tests.support.wait import wait_for

SIZE = "16m"
FULL_FOR_S = 20.0
AFTER_S = 60.0
CPU_GOAL = 0.10  # share of one core while full
LOG_GOAL = 20_000  # bytes of log while full (a line a minute is about 300 bytes)


@contextlib.contextmanager
def tmpfs(path: Path) -> Iterator[bool]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until the disk refuses (ENOSPC); return it."""
    filler = folder / ".filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    for size in (4096, 512, 1):  # the last blocks too
        with filler.open("ab", buffering=0) as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * size)
    return filler


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(quick: bool) -> list[Row]:
    return [_full(where, quick) for where in ("state_dir", "content_dir")]


def _draft(config: Config, name: str, caption: str, when: object) -> bytes:
    text = (
        f"type: post\ncaption: {json.dumps(caption)}\nmedia: [sunrise.jpg]\n"
        f"publish_at: {when}\n# the user's comment, to be kept\n"
    ).encode()
    (config.content_dir / name).write_bytes(text)
    return text


def _full(where: str, quick: bool) -> Row:
    key, scenario = "full_disk", f"full disk on {where}"
    with workdir("disk") as root:
        folder = root / "site" / ("state" if where == "state_dir" else "content")
        with tmpfs(folder) as mounted:
            if not mounted:
                return Row(
                    key, scenario, "not run: mounting a tmpfs needs root", "-", "runs", False
                )
            sandbox = SandboxProcess(root / "sandbox.json", log=root / "sandbox.log")
            try:
                return _with_disk(root, folder, where, sandbox, quick)
            finally:
                sandbox.stop()


def _with_disk(root: Path, folder: Path, where: str, sandbox: SandboxProcess, quick: bool) -> Row:
    config = load_config(
        make_site(
            root / "site", account={"base_url": sandbox.url}, publishing={"poll_interval": "1s"}
        )
    )
    daemon = DaemonProcess(
        [sys.executable, "-m", "publisher", "-c", str(config.config_path), "run"],
        cwd=config.config_path.parent,
        log=root / "daemon.log",
    )
    written: dict[str, bytes] = {}
    wanted: dict[str, str] = {}
    notes: list[str] = []
    try:
        daemon.wait_ready(60)
        due = now().replace(microsecond=0) + timedelta(seconds=12)
        for index in range(2 if quick else 4):
            name = f"before-{index}.yaml"
            wanted[name] = f"Saved before the disk filled, {index} ({where})"
            written[name] = _draft(config, name, wanted[name], due.isoformat())
        wait_for(lambda: len(jobstore.read_jobs(config.state_dir)) == len(wanted), timeout=30)
        filler = fill(folder)
        log_before, cpu_before, full_at = (
            daemon.log.stat().st_size,
            cpu_seconds(daemon.process.pid),
            time.monotonic(),
        )
        if where == "state_dir":  # a user saves a draft meanwhile (content_dir has room)
            name = "saved-while-full.yaml"
            wanted[name] = f"Saved while {where} was full"
            written[name] = _draft(
                config, name, wanted[name], (due + timedelta(seconds=5)).isoformat()
            )
        time.sleep(max(0.0, FULL_FOR_S - (time.monotonic() - full_at)))
        alive = daemon.alive()
        cpu_share = (cpu_seconds(daemon.process.pid) - cpu_before) / FULL_FOR_S if alive else 0.0
        log_bytes = daemon.log.stat().st_size - log_before
        filler.unlink()  # the space comes back
        back_at = time.monotonic()

        def settled() -> bool:
            jobs = {job.draft: job for job in jobstore.read_jobs(config.state_dir)}
            if any(
                jobs.get(name) is None or jobs[name].state is not State.PUBLISHED for name in wanted
            ):
                return False
            blocks = [statusblock.read((config.content_dir / name).read_bytes()) for name in wanted]
            return all(block and block.get("state") == "published" for block in blocks)

        with contextlib.suppress(AssertionError):
            wait_for(settled, timeout=AFTER_S, every=1.0)
        recovered_in = time.monotonic() - back_at
    finally:
        daemon.stop()
    jobs = {job.draft: job for job in jobstore.read_jobs(config.state_dir)}
    counts = posts_per_caption(sandbox.posts(), wanted)
    duplicates = sum(count - 1 for count in counts.values() if count > 1)
    lost = [
        name
        for name in wanted
        if counts[name] == 0 or jobs.get(name) is None or jobs[name].state is not State.PUBLISHED
    ]
    damaged = [
        f"{name}: {problem}"
        for name in wanted
        if (problem := draft_whole(config, config.content_dir / name, written[name]))
    ]
    stale = [
        name
        for name in wanted
        if (statusblock.read((config.content_dir / name).read_bytes()) or {}).get("state")
        != "published"
    ]
    notes += [f"not published once space was back: {name} ({_state(jobs, name)})" for name in lost]
    notes += damaged[:3]
    notes += (
        [f"status block not `published` {AFTER_S:.0f} s after space was back: {', '.join(stale)}"]
        if stale
        else []
    )
    if not alive:
        notes.append("the daemon exited while the disk was full")
    hot = cpu_share > CPU_GOAL or log_bytes > LOG_GOAL
    passed = not duplicates and not lost and not damaged and not stale and not hot and alive
    return Row(
        key="full_disk",
        scenario=f"full disk on {where}",
        done=f"{len(wanted)} drafts due while {where} (a {SIZE} tmpfs) was full for "
        f"{FULL_FOR_S:.0f} s, then space back",
        figure=f"duplicates {duplicates}, lost {len(lost)}, drafts damaged {len(damaged)}, "
        f"status blocks behind {len(stale)}; while full: CPU {cpu_share:.0%} of a core, "
        f"log {log_bytes / 1000:.0f} kB; all settled {recovered_in:.0f} s after space was back",
        goal=f"0 duplicates/lost/damaged, blocks caught up within {AFTER_S:.0f} s, "
        f"CPU < {CPU_GOAL:.0%}, log < {LOG_GOAL // 1000} kB while full",
        passed=passed,
        notes=notes,
    )


def _state(jobs: dict[str, Job], name: str) -> str:
    return jobs[name].state.value if name in jobs else "no job"
