"""Shared by the draft tests: a site (config.yaml and content/), its media files made on
the spot, and a draft loaded from text."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from PIL import Image

from publisher import config, drafts
from publisher.config import Config
from tests.support.paths import CLIP
from tests.support.videos import write_video

IMG = {"a.jpg": (1080, 1080)}
TWO = {"a.jpg": (1080, 1080), "b.jpg": (1080, 1350)}


def make_config(root: Path, accounts: tuple[str, ...] = ("main",)) -> Config:
    """Write root/config.yaml (Europe/Paris, these accounts) and root/content/; load it."""
    lines = ["timezone: Europe/Paris", "accounts:"]
    for number, name in enumerate(accounts):
        lines += [f"  {name}:", f'    ig_user_id: "1784140000000000{number}"']
    (root / "config.yaml").write_text("\n".join(lines) + "\n")
    (root / "content").mkdir(exist_ok=True)
    return config.load(root / "config.yaml", environ={})


def jpeg(path: Path, size: tuple[int, int] = (1080, 1080)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 120, 40)).save(path, "JPEG", quality=60)


def build(content: Path, files: dict[str, Any]) -> None:
    """Create media files: (w, h) -> a JPEG of that size, "clip" -> the repository's 4 s
    MP4, a dict -> a video made by `write_video` with those options, bytes -> those bytes."""
    for name, spec in files.items():
        target = content / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if spec == "clip":
            shutil.copyfile(CLIP, target)
        elif isinstance(spec, tuple):
            jpeg(target, spec)
        elif isinstance(spec, dict):
            write_video(target, **spec)
        else:
            assert isinstance(spec, bytes)
            target.write_bytes(spec)


def load_text(
    cfg: Config, text: str, files: dict[str, Any] | None = None, name: str = "d.yaml"
) -> drafts.Loaded:
    """Write the draft `text` (and its media `files`) under content_dir and load it."""
    build(cfg.content_dir, files or {})
    path = cfg.content_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return drafts.load(path, cfg)
