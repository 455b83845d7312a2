"""Converting a big photo stays within its memory budget, measured as the peak of a child
process of its own: a 50 MP JPEG made at run time with Pillow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.paths import REPO

# The child's own peak (VmHWM): its ru_maxrss would start at this test process's size, which
# Linux carries over a fork and exec.
MEASURE = """
import sys
from pathlib import Path
from publisher.hosting import convert
result = convert.convert(Path(sys.argv[1]), Path(sys.argv[2]))
assert not isinstance(result, str), result
status = Path("/proc/self/status").read_text()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


@pytest.mark.slow
def test_fifty_megapixel_photo_converts_within_300_mb(tmp_path: Path) -> None:
    source, cache = tmp_path / "50mp.jpg", tmp_path / "state" / "cache"
    photo = Image.linear_gradient("L").resize((8660, 5784)).convert("RGB")
    photo.save(source, quality=90)
    del photo
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(source), str(cache)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    peak_mb = int(done.stdout.strip()) // 1024
    assert peak_mb < 300, f"peak RSS {peak_mb} MB"
