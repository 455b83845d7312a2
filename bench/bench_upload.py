"""How long a resumable video upload takes, and how much memory the uploading process uses:
`instagram.upload.Uploader` sending a 16 MB and a 256 MB file to the sandbox's upload host
(the goal: memory independent of the file's size, since the bytes are streamed from the file).

The sandbox runs in its own process (`python -m publisher.sandbox.server`, its spool on disk),
so its memory is not counted. Each upload runs in a fresh child that imports publisher,
creates a resumable container, uploads once and reports the time and its peak RSS (VmHWM).
The file is an MP4 `ftyp` box followed by zeros (sparse: made in no time, read like any file).

Run: .venv/bin/python bench/bench_upload.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES_MB = (16, 256)

MEASURE = """
import json, sys, time
from pathlib import Path
from publisher.instagram import client as graph, session, upload
base, path = sys.argv[1], Path(sys.argv[2])
token = "bench-token-0123456789"
with session.make_http() as http:
    client = graph.Client(http=http, base_url=base, api_version="v25.0",
                          ig_user_id="17841400000000009", token=token, api="sandbox")
    container = client.create_container({"media_type": "REELS", "upload_type": "resumable"})
    uploader = upload.Uploader(http=http, host=base, api_version="v25.0", token=token,
                               received=client.upload_progress)
    with path.open("rb") as source:
        started = time.perf_counter()
        uploader.send(container, source, path.stat().st_size)
        seconds = time.perf_counter() - started
    assert client.upload_progress(container) == path.stat().st_size
status = Path("/proc/self/status").read_text()
hwm = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) // 1024
print(json.dumps({"seconds": seconds, "hwm_mb": hwm}))
"""


def make_video(path: Path, megabytes: int) -> None:
    with path.open("wb") as out:
        out.write(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
        out.truncate(megabytes * 1024 * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as folder:
        root = Path(folder)
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "publisher.sandbox.server", "--port", "0", "--no-fetch"]
            + ["--state", str(root / "sandbox.json")],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert sandbox.stdout is not None
            found = re.search(r"(http://\S+)", sandbox.stdout.readline())
            assert found, "the sandbox did not start"
            base = found.group(1)
            print(f"machine: {platform.machine()}, Python {platform.python_version()}")
            print("| file | upload (s, median) | MB/s | peak RSS of the uploader (MB) |")
            print("| --- | ---: | ---: | ---: |")
            for megabytes in SIZES_MB:
                video = root / f"{megabytes}.mp4"
                make_video(video, megabytes)
                runs = []
                for _ in range(args.runs):
                    done = subprocess.run(
                        [sys.executable, "-c", MEASURE, base, str(video)],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    runs.append(json.loads(done.stdout))
                seconds = statistics.median(run["seconds"] for run in runs)
                hwm = max(run["hwm_mb"] for run in runs)
                rate = megabytes / seconds
                print(f"| {megabytes} MB | {seconds:.2f} | {rate:.0f} | {hwm} |")
                video.unlink()
        finally:
            sandbox.terminate()
            sandbox.wait(10)


if __name__ == "__main__":
    main()
