"""What every scenario shares: a row of the matrix, a site on disk talking to a sandbox, the
one-post-per-caption count, and a check that a draft file is whole."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher import drafts
from publisher.config import Config
from publisher.drafts import captions, statusblock
from tests.support.paths import REPO
from tests.support.processes import clean_env
from tests.support.site import load_config, make_site

COMMAND = ".venv/bin/python -m bench.reliability --only {key}"


@dataclass
class Row:
    """One line of the matrix: what was done, what was counted, the goal, and the verdict."""

    key: str
    scenario: str
    done: str
    figure: str
    goal: str
    passed: bool
    notes: list[str] = field(default_factory=list)

    @property
    def command(self) -> str:
        return COMMAND.format(key=self.key)


@contextmanager
def workdir(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"reliability-{name}-") as folder:
        yield Path(folder)


_accounts = itertools.count(1)


def site(root: Path, base_url: str, **publishing: Any) -> Config:
    """A site in `root` whose account is the sandbox at `base_url`, media served by the
    daemon's own media server (the sandbox fetches and checks them). Each site has an
    Instagram account of its own: Meta's quota of 100 posts a day is per account."""
    account = {"base_url": base_url, "ig_user_id": str(17841400000100000 + next(_accounts))}
    return load_config(
        make_site(root, account=account, publishing={"poll_interval": "0s", **publishing})
    )


def post_draft(config: Config, name: str, caption: str, extra: str = "") -> Path:
    path = config.content_dir / name
    path.write_text(
        f"type: post\ncaption: {json.dumps(caption)}\nmedia: [sunrise.jpg]\n{extra}",
        encoding="utf-8",
    )
    return path


def posts_per_caption(posts: list[dict[str, Any]], wanted: dict[str, str]) -> Counter[str]:
    """How many posts went out for each draft (name -> its caption): matched as publisher
    matches them, through Meta's read-back transformations."""
    counts: Counter[str] = Counter({name: 0 for name in wanted})
    kept = {name: captions.fingerprint(caption) for name, caption in wanted.items()}
    for post in posts:
        for name, fingerprint in kept.items():
            if captions.matches(post.get("caption") or "", fingerprint):
                counts[name] += 1
    return counts


def draft_whole(config: Config, path: Path, written: bytes) -> str | None:
    """None if the draft at `path` is the user's bytes (`written`) plus at most a status
    block and still loads; else what is wrong (a lost or corrupt draft)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "the draft file is gone"
    user, _block = statusblock.split(data)
    if user.rstrip(b"\r\n") != written.rstrip(b"\r\n"):
        return "bytes the user wrote were changed"
    loaded = drafts.load(path, config)
    if loaded.errors:
        return "; ".join(str(error) for error in loaded.errors)
    return None


def publisher_command(
    config: Config, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m publisher -c CONFIG ARGS...` as a user runs it (a clean environment)."""
    return subprocess.run(
        [sys.executable, "-m", "publisher", "-c", str(config.config_path), *args],
        env=clean_env(**(env or {})),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def now() -> datetime:
    return datetime.now(UTC)


def verdict(passed: bool) -> str:
    return "pass" if passed else "**FAIL**"


def cpu_count() -> int:
    return os.cpu_count() or 1
