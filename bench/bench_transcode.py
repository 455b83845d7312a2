"""How long transcoding a phone-sized video takes, and how much memory: `hosting.transcode` on
a 30 s 1080p clip that Instagram would refuse (MPEG-4 Part 2 in Matroska at 25 fps,
1920x1080, AAC stereo 48 kHz), made at run time with PyAV.

The clip is a moving gradient with grain (so the encoder has real work); it is made in a
child process, then each transcode runs in a fresh child that imports publisher, transcodes
once into an empty cache and reports its wall time, CPU time and peak RSS (VmHWM, the
child's own). A last child transcodes while its main thread counts loop turns, to show that
the transcode leaves the rest of the process running (the GIL is released while FFmpeg
works).

Run: .venv/bin/python bench/bench_transcode.py [--runs N] [--seconds S]
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

MAKE = """
import sys
from fractions import Fraction
import av
from PIL import Image, ImageChops
path, seconds = sys.argv[1], float(sys.argv[2])
width, height, fps, rate = 1920, 1080, 25, 48000
size = (width, height)
red = Image.linear_gradient("L").resize(size)
green = Image.radial_gradient("L").resize(size)
grain = Image.effect_noise(size, 10)
base = Image.merge("RGB", [ImageChops.add(c, grain, 1.0, -128) for c in (red, green, red)])
with av.open(path, "w", format="matroska") as out:
    video = out.add_stream("mpeg4", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"qscale": "4"}
    sound = out.add_stream("aac", rate=rate, layout="stereo")
    frames = round(seconds * fps)
    samples_per_frame = rate // fps
    for number in range(frames):
        picture = ImageChops.offset(base, number * 8, number * 2)
        out.mux(video.encode(av.VideoFrame.from_image(picture)))
        chunk = av.AudioFrame(format="fltp", layout="stereo", samples=samples_per_frame)
        for plane in chunk.planes:
            plane.update(bytes(plane.buffer_size))
        chunk.sample_rate, chunk.pts = rate, number * samples_per_frame
        chunk.time_base = Fraction(1, rate)
        for packet in sound.encode(chunk):
            out.mux(packet)
    out.mux(video.encode())
    out.mux(sound.encode())
"""

MEASURE = """
import json, resource, sys, time, threading
from pathlib import Path
from publisher.hosting import transcode, videoinfo
turns = [0]
stop = threading.Event()
result = {}
def work():
    started = time.perf_counter()
    result["path"] = transcode.transcode(Path(sys.argv[1]), Path(sys.argv[2]), use="reel")
    result["seconds"] = time.perf_counter() - started
    stop.set()
cpu = time.process_time()
worker = threading.Thread(target=work)
worker.start()
gap, last = 0.0, time.perf_counter()
while not stop.is_set():
    now = time.perf_counter()
    gap, last = max(gap, now - last), now
    sum(range(1000))
    turns[0] += 1
worker.join()
path = result["path"]
assert not isinstance(path, str), path
with path.open("rb") as handle:
    info = videoinfo.read(handle)
status = Path("/proc/self/status").read_text().splitlines()
hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({
    "seconds": result["seconds"],
    "cpu_seconds": time.process_time() - cpu,
    "hwm_mb": hwm_kb / 1024,
    "output_mb": path.stat().st_size / 1e6,
    "out": f"{info.video_codec} {info.width}x{info.height} {info.fps:g} fps, {info.audio_codec}",
    "main_thread_turns_per_s": turns[0] / result["seconds"],
    "main_thread_longest_gap_ms": gap * 1000,
}))
"""

IDLE = """
import time
turns, end = 0, time.perf_counter() + 2
while time.perf_counter() < end:
    sum(range(1000))
    turns += 1
print(turns / 2)
"""


def python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="transcodes (median time)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the clip")
    options = parser.parse_args()
    print(f"machine: {os.cpu_count()} cpus, Python {platform.python_version()}, {sys.platform}")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "clip.mkv"
        python(MAKE, str(source), str(options.seconds))
        print(f"source: {options.seconds:g} s, 1920x1080 25 fps MPEG-4 Part 2 + AAC stereo in")
        print(f"Matroska, {source.stat().st_size / 1e6:.1f} MB")
        runs = []
        for run in range(options.runs):
            cache = Path(folder) / f"cache-{run}"
            runs.append(json.loads(python(MEASURE, str(source), str(cache))))
        idle = float(python(IDLE))
    seconds = statistics.median(result["seconds"] for result in runs)
    cpu = statistics.median(result["cpu_seconds"] for result in runs)
    print(f"sent: {runs[0]['out']}, {runs[0]['output_mb']:.1f} MB")
    print("| transcode (s) | CPU (s) | x real time | peak RSS, VmHWM (MB) |")
    print("| ---: | ---: | ---: | ---: |")
    print(
        f"| {seconds:.1f} | {cpu:.1f} | {options.seconds / seconds:.2f} "
        f"| {max(result['hwm_mb'] for result in runs):.0f} |"
    )
    turns = statistics.median(result["main_thread_turns_per_s"] for result in runs)
    gap = max(result["main_thread_longest_gap_ms"] for result in runs)
    print(
        f"main thread while transcoding: {turns:.0f} loop turns/s ({turns / idle:.0%} of "
        f"{idle:.0f} alone), longest pause {gap:.0f} ms"
    )


if __name__ == "__main__":
    main()
