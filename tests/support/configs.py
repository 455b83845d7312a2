"""Shared by the config tests: the smallest valid config.yaml, and writing one."""

from __future__ import annotations

from pathlib import Path

import yaml

MINIMAL = 'accounts:\n  main:\n    ig_user_id: "17841400000000000"\n'
TOKEN = "IGQVJ-secret-token-value"


def write(folder: Path, text: str) -> Path:
    """Write `text` as folder/config.yaml, and make the content_dir it names (a missing one
    is a config error of its own); return its path."""
    path = folder / "config.yaml"
    path.write_text(text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    named = data.get("content_dir") if isinstance(data, dict) else None
    content_dir = folder / (named if isinstance(named, str) else "content")
    if not content_dir.exists():
        content_dir.mkdir(parents=True)
    return path
