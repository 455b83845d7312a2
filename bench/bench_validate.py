"""How long validating a content folder takes: `drafts.load` over 1,000 drafts, and
`publisher validate` in-process over the same folder. Goal: under 5 s for 1,000 drafts.

The daemon loads every draft at start and on every rescan, so this is the cost of a rescan.

Assumptions (say so next to the figures):
- the drafts mix what users write: 50 % posts, 30 % carousels of 2-4 images, 10 % stories,
  10 % reels, each with its own copy of the repository's 4 s clip (probed in-process with
  PyAV: container, codecs, duration, frame rate, size, moov position);
- every image is its own small JPEG (640x800, ~10 KB), opened for real (header, EXIF and
  end-marker check); 30 % of the drafts already carry a `status:` block (the daemon's);
- the files are in the page cache (written just before), as on a rescan.

Run: .venv/bin/python bench/bench_validate.py [--drafts N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from publisher import cli, config, drafts

CLIP = Path(__file__).resolve().parent.parent / "publisher" / "starter" / "content" / "clip.mp4"

CONFIG = """\
content_dir: content
state_dir: state
timezone: Europe/Paris
accounts:
  main: {ig_user_id: "17841400000000000"}
  shop: {ig_user_id: "17841400000000001"}
"""

STATUS = """\
status:
  state: scheduled
  scheduled_for: 2026-12-01T09:00:00+01:00
  attempts: 0
  error: null
  updated_at: 2026-11-24T10:00:00+01:00
"""


def jpeg(path: Path, seed: int) -> None:
    Image.new("RGB", (640, 800), (seed % 256, (seed * 7) % 256, 90)).save(path, "JPEG")


def draft_text(number: int, folder: Path) -> str:
    kind = number % 10
    account = "main" if number % 3 else "shop"
    caption = f"Look {number} of the autumn collection, shot in Lyon. #autumn #look{number}"
    lines = [f"# draft {number}", f"account: {account}", f"caption: |\n  {caption}"]
    if kind < 5:
        jpeg(folder / f"p{number}.jpg", number)
        lines += ["type: post", f"media: [p{number}.jpg]", 'alt_text: "A coat on a chair"']
    elif kind < 8:
        names = []
        for item in range(2 + number % 3):
            jpeg(folder / f"c{number}-{item}.jpg", number + item)
            names.append(f"c{number}-{item}.jpg")
        lines += ["type: carousel", f"media: [{', '.join(names)}]", "collaborators: [jane]"]
    elif kind == 8:
        jpeg(folder / f"s{number}.jpg", number)
        lines = [f"account: {account}", "type: story", f"media: [s{number}.jpg]"]
    else:
        shutil.copyfile(CLIP, folder / f"r{number}.mp4")
        lines += ["type: reel", f"media: [r{number}.mp4]", "share_to_feed: true"]
    day = 1 + number % 28
    lines.append(f"publish_at: 2026-12-{day:02d} {9 + number % 10:02d}:30")
    text = "\n".join(lines) + "\n"
    if number % 10 in (1, 4, 7):
        text += STATUS
    return text


def build(root: Path, count: int) -> config.Config:
    (root / "config.yaml").write_text(CONFIG)
    content = root / "content"
    for number in range(count):
        folder = content / f"2026-{1 + number % 12:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"draft-{number:04d}.yaml").write_text(draft_text(number, folder))
    return config.load(root / "config.yaml", environ={})


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Return (first run, best of `repeat`) in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times[0], min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        cfg = build(root, options.drafts)
        paths = drafts.discover(cfg.content_dir)
        assert len(paths) == options.drafts
        invalid = [loaded for loaded in map(lambda p: drafts.load(p, cfg), paths) if loaded.errors]
        if invalid:
            print(f"bench is broken: {len(invalid)} drafts invalid, e.g. {invalid[0].errors}")
            return 1

        def load_all() -> None:
            for path in drafts.discover(cfg.content_dir):
                drafts.load(path, cfg)

        def validate() -> None:  # `publisher validate` as a user runs it, in-process
            with contextlib.redirect_stderr(io.StringIO()):
                status = cli.main(["-c", str(root / "config.yaml"), "validate"], out=io.StringIO())
            if status != 0:
                raise SystemExit(f"publisher validate exited {status}")

        count = options.drafts
        worst = 0.0
        for label, run in (
            ("drafts.discover + drafts.load", load_all),
            ("publisher validate", validate),
        ):
            first, best = timed(run, options.repeat)
            worst = max(worst, best)
            print(
                f"{label}, {count} drafts: first run {first:.2f} s, best of {options.repeat} "
                f"{best:.2f} s ({best / count * 1000:.2f} ms per draft)"
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MB (whole process: Python, Pillow, the bench's own setup)")
        per_thousand = worst / count * 1000
        print(
            f"goal: under 5 s per 1,000 drafts: {per_thousand:.2f} s, "
            f"{'met' if per_thousand < 5 else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
