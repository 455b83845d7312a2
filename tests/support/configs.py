"""Shared by the config tests: the smallest valid config.yaml, and writing one."""

from __future__ import annotations

from pathlib import Path

MINIMAL = 'accounts:\n  main:\n    ig_user_id: "17841400000000000"\n'
TOKEN = "IGQVJ-secret-token-value"


def write(folder: Path, text: str) -> Path:
    """Write `text` as folder/config.yaml; return its path."""
    path = folder / "config.yaml"
    path.write_text(text)
    return path
