"""How long `publisher import` takes: a CSV of N rows (default 1,000) into N drafts, every
row checked like `validate` (media opened), then every written draft loaded again by
`drafts.load` as `publisher validate` would. Goal: 1,000 rows in under 10 s, round trip.

Assumptions (say so next to the figures):
- the rows mix 60 % posts, 25 % carousels (2 images and the clip), 10 % reels, 5 % stories;
  half have a publish_at (a distinct future time, 09:00-16:00), half go to the queue;
  captions of ~150 characters with two hashtags, a first comment on a third of the posts,
  alt text on the posts;
- the media are the repository's example files (5 images and the 4 s clip), shared by every
  row, so they are in the page cache: the figure is publisher's own cost, not the disk's;
- content_dir starts with the 4 example drafts (each row is compared with them for
  duplicates) and lives on the same file system as /tmp.

Run: .venv/bin/python bench/bench_import.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher import config, drafts
from publisher.commands import csvsheet, importcsv

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "publisher" / "starter" / "content"
CONFIG = """\
content_dir: content
state_dir: state
timezone: Europe/Paris
schedule:
  slots: [{days: daily, times: ["09:00", "18:30"]}]
accounts:
  main: {ig_user_id: "17841400000000000"}
"""
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def row(number: int) -> list[str]:
    caption = f"Post number {number}: a line about the collection, the light and the shop. " * 2
    caption = caption.strip() + f" #launch #n{number}"
    # A distinct time each, by day, never in the small hours (no daylight-saving gap).
    day = NOW + timedelta(days=1 + number // 8)
    when = f"{day:%Y-%m-%d} {9 + number % 8:02d}:{number % 60:02d}"
    when = when if number % 2 else ""
    kind = number % 20
    if kind < 12:
        comment = "Link in bio" if number % 3 == 0 else ""
        return ["post", "main", caption, "sunrise.jpg", when, comment, "An orange sky"]
    if kind < 17:
        return ["carousel", "main", caption, "look1.jpg|look2.jpg|clip.mp4", when, "", ""]
    if kind < 19:
        return ["reel", "main", caption, "clip.mp4", when, "", ""]
    return ["story", "main", "", "story.jpg", when, "", ""]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as temp:
        root = Path(temp)
        shutil.copytree(EXAMPLES, root / "content")
        (root / "config.yaml").write_text(CONFIG)
        source = root / "posts.csv"
        with source.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(csvsheet.COLUMNS)
            writer.writerows(row(number) for number in range(args.rows))
        site = config.load(root / "config.yaml", environ={})

        started, cpu = time.perf_counter(), time.process_time()
        done = importcsv.run(site, source, clock=lambda: NOW)
        imported, imported_cpu = time.perf_counter() - started, time.process_time() - cpu
        if not done.ok:
            print("\n".join(done.lines[:20]), file=sys.stderr)
            return 1

        started, cpu = time.perf_counter(), time.process_time()
        paths = drafts.discover(site.content_dir)
        invalid = [p for p in paths if drafts.load(p, site).errors]
        validated, validated_cpu = time.perf_counter() - started, time.process_time() - cpu

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        written = len(paths) - 4
        print(f"rows: {args.rows}, drafts written: {written}, invalid after: {len(invalid)}")
        # CPU time too: on a shared machine the wall clock counts the other processes' turns.
        print(f"import (check every row, write all): {imported:.2f} s ({imported_cpu:.2f} s CPU)")
        print(
            f"validate the {len(paths)} drafts again: {validated:.2f} s ({validated_cpu:.2f} s CPU)"
        )
        total, total_cpu = imported + validated, imported_cpu + validated_cpu
        print(f"round trip: {total:.2f} s ({total_cpu:.2f} s CPU); peak RSS {peak:.0f} MB")
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return 0 if written == args.rows and not invalid else 1


if __name__ == "__main__":
    sys.exit(main())
