"""Where the repository's files are, for tests at any depth."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
GOLDEN = TESTS / "golden"
HOSTILE = TESTS / "hostile"
STARTER = REPO / "publisher" / "starter"
CLIP = STARTER / "content" / "clip.mp4"
