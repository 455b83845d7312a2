"""How long converting a phone photo takes, and how much memory: `hosting.convert` on a 12 MP
and a 50 MP JPEG (the goal: within 300 MB RSS), plus a 12 MP HEIC and PNG for comparison.

Each photo is made at run time in a child process (a smooth gradient with grain, so the JPEG
is about the size a camera makes); each conversion runs in a fresh child that imports
publisher, converts once into an empty cache and reports its time and peak RSS. This process
stays small, so a child's ru_maxrss (which Linux carries over from the parent through fork and
exec) is the child's own; VmHWM, the peak of the child's own memory, is printed beside it.

Run: .venv/bin/python bench/bench_convert.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = [  # name, width, height, format
    ("12 MP JPEG", 4000, 3000, "JPEG"),
    ("50 MP JPEG", 8660, 5784, "JPEG"),
    ("12 MP HEIC", 4000, 3000, "HEIF"),
    ("12 MP PNG", 4000, 3000, "PNG"),
]

MAKE = """
import sys
import pillow_heif
from PIL import Image, ImageChops
pillow_heif.register_heif_opener()
path, width, height, fmt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
size = (width, height)
red = Image.linear_gradient("L").resize(size)
green = Image.radial_gradient("L").resize(size)
blue = red.transpose(Image.Transpose.ROTATE_180)
grain = Image.effect_noise(size, 6)
channels = [ImageChops.add(c, grain, 1.0, -128) for c in (red, green, blue)]
Image.merge("RGB", channels).save(path, fmt, quality=90)
"""

MEASURE = """
import json, resource, sys, time
from pathlib import Path
from publisher.hosting import convert
start = time.perf_counter()
result = convert.convert(Path(sys.argv[1]), Path(sys.argv[2]))
seconds = time.perf_counter() - start
assert not isinstance(result, str), result
status = Path("/proc/self/status").read_text().splitlines()
hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({
    "seconds": seconds,
    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "hwm_mb": hwm_kb / 1024,
    "output_kb": result.stat().st_size / 1024,
}))
"""

BASELINE = """
import resource
from publisher.hosting import convert
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="conversions per photo (median)")
    options = parser.parse_args()
    print(f"machine: {os.cpu_count()} cpus, Python {platform.python_version()}, {sys.platform}")
    baseline = float(python(BASELINE))
    print(f"a child that only imports publisher.hosting.convert: {baseline:.0f} MB RSS\n")
    print("| photo | file | convert (s) | peak RSS (MB) | VmHWM (MB) | sent |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for name, width, height, fmt in CASES:
            source = Path(folder) / f"photo.{fmt.lower()}"
            python(MAKE, str(source), str(width), str(height), fmt)
            runs = []
            for run in range(options.runs):
                cache = Path(folder) / f"cache-{name}-{run}".replace(" ", "-")
                runs.append(json.loads(python(MEASURE, str(source), str(cache))))
            seconds = statistics.median(result["seconds"] for result in runs)
            peak = max(result["maxrss_mb"] for result in runs)
            hwm = max(result["hwm_mb"] for result in runs)
            print(
                f"| {name} ({width}x{height}) | {source.stat().st_size / 1e6:.1f} MB "
                f"| {seconds:.2f} | {peak:.0f} | {hwm:.0f} | {runs[0]['output_kb']:.0f} KB |"
            )
            source.unlink()


if __name__ == "__main__":
    main()
