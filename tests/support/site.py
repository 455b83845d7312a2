"""The site folder every test that runs publisher on files starts from: config.yaml and
content/ with the repository's example media, and one draft of each type."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from publisher import config as config_module
from publisher.config import Config
from tests.support.paths import REPO

EXAMPLES = REPO / "content"
MEDIA_FILES = ("sunrise.jpg", "look1.jpg", "look2.jpg", "clip.mp4", "cover.jpg", "story.jpg")
IG_USER_ID = "17841400000000001"

DRAFTS = {
    "post": (
        "type: post\n"
        "caption: |\n  First light over the roofs.\n  #sunrise\n"
        "media: [sunrise.jpg]\n"
        'alt_text: "An orange gradient"\n'
        'location_id: "110843418940484"\n'
    ),
    "carousel": (
        "type: carousel\n"
        "caption: New collection is live #launch\n"
        "media: [look1.jpg, clip.mp4, look2.jpg]\n"
        "collaborators: [jane]\n"
    ),
    "reel": (
        "type: reel\n"
        'caption: "Four seconds of test pattern. #reels"\n'
        "media: [clip.mp4]\n"
        "cover: cover.jpg\n"
        "thumb_offset: 1500\n"
        "share_to_feed: true\n"
        "collaborators: [jane, joe]\n"
        'location_id: "110843418940484"\n'
    ),
    "story": "type: story\nmedia: [story.jpg]\n",
}


def make_site(
    root: Path,
    *,
    account: dict[str, Any] | None = None,
    publishing: dict[str, Any] | None = None,
    media: dict[str, Any] | None = None,
    extra_accounts: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write root/config.yaml and root/content/ (with the example media); return the config
    path. The account defaults to the in-process sandbox; media to a served loopback host
    on a free port."""
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    for name in MEDIA_FILES:
        shutil.copyfile(EXAMPLES / name, content / name)
    accounts = {"main": {"api": "sandbox", "ig_user_id": IG_USER_ID, **(account or {})}}
    accounts.update(extra_accounts or {})
    document = {
        "content_dir": "content",
        "state_dir": "state",
        "timezone": "UTC",
        "publishing": {"attempts": 3, "backoff": "5s", **(publishing or {})},
        "accounts": accounts,
        "media": media
        or {"host": "serve", "listen": "127.0.0.1:0", "public_url": "http://127.0.0.1:0"},
    }
    path = root / "config.yaml"
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")  # JSON is YAML
    return path


def load_config(path: Path) -> Config:
    return config_module.load(path, environ={})


def write_draft(config: Config, kind: str, name: str | None = None, text: str = "") -> Path:
    path = config.content_dir / (name or f"{kind}.yaml")
    path.write_text(text or DRAFTS[kind], encoding="utf-8")
    return path
