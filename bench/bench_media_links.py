"""What binding a signed link to its file costs (`hosting.mediahost`, issue 8): the hash when
the link is made, and the time of a request, whose file is opened beneath content_dir and
checked against the link before a byte is sent.

For each size, a file of random bytes is written into a temporary content_dir and left to
age past `identity.RACY` (a file changed just before it is hashed is hashed again at the
next request); then: `url_for` (opens and hashes the file), a second `url_for` (its hash is
known), the median time of a GET asking for the first 64 KiB (Meta's video fetcher asks for a
range first) over loopback with a kept-alive connection, and the first such GET after a
restart (a new server: the hash is read again, once).

Run: .venv/bin/python bench/bench_media_links.py [--sizes-mb 1,100,500] [--requests N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from publisher.hosting.mediahost import ServeHost, identity


def _host(content: Path, state: Path) -> ServeHost:
    host = ServeHost(
        content_dir=content,
        state_dir=state,
        listen=("127.0.0.1", 0),
        public_url="http://127.0.0.1:0",
        link_ttl=timedelta(hours=1),
    )
    host.start()
    return host


def _timed_get(http: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = http.get(url, headers={"Range": "bytes=0-65535"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 206, response.status_code
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", default="1,100,500")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(text) for text in args.sizes_mb.split(",")]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}"
    )
    print(
        "| file | url_for, first (s) | url_for, again (ms) | GET 64 KiB, median (ms) "
        "| first GET after a restart (s) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as temp:
        content, state = Path(temp, "content"), Path(temp, "state")
        content.mkdir()
        for size in sizes:
            path = content / f"clip{size}.mp4"
            with path.open("wb") as handle:
                for _ in range(size):
                    handle.write(os.urandom(1024 * 1024))
        time.sleep(identity.RACY / 1e9 + 0.1)  # past the racy window: hashes are kept
        for size in sizes:
            path = content / f"clip{size}.mp4"
            host = _host(content, state)
            port = host.port
            try:
                started = time.perf_counter()
                url = host.url_for(path)
                first = time.perf_counter() - started
                started = time.perf_counter()
                host.url_for(path)
                again = time.perf_counter() - started
                with httpx.Client(timeout=60, trust_env=False) as http:
                    _timed_get(http, url)
                    times = [_timed_get(http, url) for _ in range(args.requests)]
            finally:
                host.stop()
            restarted = _host(content, state)
            try:
                moved = url.replace(f":{port}/", f":{restarted.port}/")
                with httpx.Client(timeout=60, trust_env=False) as http:
                    after_restart = _timed_get(http, moved)
            finally:
                restarted.stop()
            print(
                f"| {size} MB | {first:.2f} | {again * 1000:.2f} | "
                f"{statistics.median(times) * 1000:.2f} | {after_restart:.2f} |"
            )


if __name__ == "__main__":
    main()
