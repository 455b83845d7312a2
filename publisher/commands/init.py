"""`publisher init DIR`: a starter config.yaml, example drafts with real media, the unit file.

The starter lives in the package (publisher/starter/); the repository's own config.yaml,
content/ and systemd/ are copies of it, kept identical by a test.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from publisher.commands import schema
from publisher.store import atomicfile


def _walk(node: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        name = f"{prefix}{child.name}"
        if child.is_dir():
            out.extend(_walk(child, name + "/"))
        elif not child.name.startswith(".") and child.name != "__init__.py":
            out.append((name, child))
    return out


def starter_files() -> list[tuple[str, bytes]]:
    """Return (relative path, bytes) of every starter file, sorted: the package's starter
    and the JSON Schemas its `# yaml-language-server: $schema=` lines name (made now, from
    this version's models, so they always match it)."""
    root = resources.files("publisher") / "starter"
    found = [(name, node.read_bytes()) for name, node in _walk(root)]
    found += [(path, schema.render(kind).encode("utf-8")) for kind, path in schema.FILES.items()]
    return sorted(found)


def write(target: Path) -> list[Path]:
    """Write the starter into `target` (created if missing); return the files written.

    Raise FileExistsError naming the files that already exist: nothing is overwritten and
    nothing is written when any exists.
    """
    files = starter_files()
    existing = [target / name for name, _ in files if (target / name).exists()]
    if existing:
        names = ", ".join(str(p) for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise FileExistsError(f"already there, not overwritten: {names}{more}")
    written = []
    for name, data in files:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomicfile.write_bytes(path, data)
        written.append(path)
    return written
