"""How much memory a 50 MB file named like a draft costs the running daemon (issue 8: its RSS
went from 50 to 250 MB, though drafts are capped at 256 KiB and such a file is refused).

A starter site (`publisher init`, the sandbox account in-process) runs `publisher run` in a
child; once it is ready its peak RSS (VmHWM) is read, a file `x.yaml` of SIZE_MB real bytes is
written into content/, and the peak is read again once the daemon has recorded it as invalid
(`publisher status --json`). The goal: the peak grows by less than a few draft caps.

Run: .venv/bin/python bench/bench_big_draft.py [--size-mb 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PUBLISHER = Path(sys.executable).with_name("publisher")


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the daemon did not get there in time")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=50)
    size_mb = parser.parse_args().size_mb
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        subprocess.run([PUBLISHER, "init", str(site)], check=True, capture_output=True)
        log = (site / "run.log").open("w")
        daemon = subprocess.Popen(
            [PUBLISHER, "-c", str(site / "config.yaml"), "run"], stdout=log, stderr=log
        )
        try:
            wait_for(lambda: "ready:" in (site / "run.log").read_text(), 60)
            time.sleep(2)  # the starter drafts' first publishes settle
            before = peak_kib(daemon.pid)
            with (site / "content" / "x.yaml").open("wb") as big:
                chunk = b"caption: " + b"x" * (1024 * 1024 - 10) + b"\n"
                for _ in range(size_mb):
                    big.write(chunk)

            def recorded() -> bool:
                shown = subprocess.run(
                    [PUBLISHER, "-c", str(site / "config.yaml"), "status", "--json"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
                return any(job.get("draft") == "x.yaml" for job in json.loads(shown or "[]"))

            wait_for(recorded, 60)
            time.sleep(1)
            after = peak_kib(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait(30)
            log.close()
        stays = os.path.getsize(site / "content" / "x.yaml") == size_mb * 1024 * 1024
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{size_mb} MB x.yaml: daemon peak RSS {before / 1024:.1f} MB before, "
        f"{after / 1024:.1f} MB after (+{(after - before) / 1024:.1f} MB); "
        f"file left as it was: {stays}"
    )


if __name__ == "__main__":
    main()
