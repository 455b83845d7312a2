"""What the sandbox remembers: accounts, containers, posts, comments, publish calls and
tokens, kept in one JSON file so that a sandbox in its own process keeps them across
restarts.

`World.save()` replaces the file atomically (publisher.atomicfile: temp + fsync + rename +
dir fsync), so a kill -9 of the sandbox leaves the old state or the new, never a mix. Tokens
themselves are never stored: only their fingerprints (sha256), with when each was issued
and whether a refresh replaced it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.errors import StoreCorrupt
from publisher.sandbox import params
from publisher.store import atomicfile

FORMAT_VERSION = 1


@dataclass
class Account:
    ig_user_id: str
    username: str
    created_at: str  # ISO 8601, aware


@dataclass
class Container:
    id: str
    ig_user_id: str
    kind: str  # IMAGE | VIDEO | REELS | STORIES | CAROUSEL (params.py)
    is_video: bool
    is_carousel_item: bool
    media_url: str | None
    children: list[str]
    caption: str
    extras: dict[str, str]
    created_at: str  # ISO 8601, aware
    polls_left: int  # status reads still answered IN_PROGRESS
    fate: str  # FINISHED | ERROR | EXPIRED: the status after processing
    error_status: str | None = None  # Meta's `status` text when fate is ERROR
    media_id: str | None = None  # set when published
    # upload_type=resumable (sandbox.rupload): bytes received so far (None: not resumable),
    # the file_size announced, and the sha256 of the whole file once every byte is in
    upload_received: int | None = None
    upload_size: int | None = None
    upload_sha256: str | None = None

    @property
    def uploading(self) -> bool:
        """A resumable container still waiting for bytes: not processed yet."""
        return self.upload_received is not None and self.upload_sha256 is None

    # ISO 8601: processing takes time (faults.processing_s): IN_PROGRESS until then too
    ready_at: str | None = None


@dataclass
class Post:
    id: str
    ig_user_id: str
    container_id: str
    caption: str
    timestamp: str  # Meta's form: 2026-12-01T08:00:07+0000
    media_type: str  # IMAGE | VIDEO | CAROUSEL_ALBUM
    media_product_type: str  # FEED | REELS | STORY
    shortcode: str
    permalink: str
    children: list[str] = field(default_factory=list)  # child container ids (carousels)
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def published_at(self) -> datetime:
        return datetime.strptime(self.timestamp, "%Y-%m-%dT%H:%M:%S%z")


@dataclass
class Comment:
    id: str
    media_id: str
    ig_user_id: str  # the account that wrote it
    username: str
    text: str
    timestamp: str  # Meta's form, like Post.timestamp


@dataclass
class TokenRecord:
    """A token the sandbox has seen or issued, by its fingerprint (never the token)."""

    key: str
    issued_at: str  # ISO 8601, aware: first seen, or issued by /refresh_access_token
    replaced: bool = False  # a refresh issued a new token: this one no longer works
    issued: bool = False  # made by the sandbox's /refresh_access_token


def meta_timestamp(moment: datetime) -> str:
    """Given an aware datetime, return it the way Meta writes timestamps (UTC, +0000)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps are aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def post_for(container: Container, media_id: str, username: str, now: datetime) -> Post:
    """Given a container being published, its new media id, the account's username and the
    time, return the post: media_type and media_product_type as Meta reports them (a reel
    is VIDEO/REELS, a story IMAGE or VIDEO/STORY) and a permalink with a fresh shortcode."""
    shortcode = "".join(secrets.choice(SHORTCODE_ALPHABET) for _ in range(11))
    if container.kind == params.CAROUSEL:
        media_type, product = "CAROUSEL_ALBUM", "FEED"
        permalink = f"https://www.instagram.com/p/{shortcode}/"
    elif container.kind == params.REELS:
        media_type, product = "VIDEO", "REELS"
        permalink = f"https://www.instagram.com/reel/{shortcode}/"
    elif container.kind == params.STORIES:
        media_type, product = ("VIDEO" if container.is_video else "IMAGE"), "STORY"
        permalink = f"https://www.instagram.com/stories/{username}/{media_id}/"
    else:
        media_type, product = "IMAGE", "FEED"
        permalink = f"https://www.instagram.com/p/{shortcode}/"
    return Post(
        id=media_id,
        ig_user_id=container.ig_user_id,
        container_id=container.id,
        caption=container.caption,
        timestamp=meta_timestamp(now),
        media_type=media_type,
        media_product_type=product,
        shortcode=shortcode,
        permalink=permalink,
        children=list(container.children),
        extras=dict(container.extras),
    )


class World:
    """The sandbox's state. Not thread-safe: the caller holds its lock around every use."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.accounts: dict[str, Account] = {}
        self.containers: dict[str, Container] = {}
        self.posts: list[Post] = []
        self.comments: list[Comment] = []
        self.tokens: dict[str, TokenRecord] = {}
        self.publish_calls: dict[str, int] = {}
        if path is not None and path.exists():
            self._load(path)

    def clear(self) -> None:
        self.accounts.clear()
        self.containers.clear()
        self.posts.clear()
        self.comments.clear()
        self.tokens.clear()
        self.publish_calls.clear()

    def post(self, media_id: str) -> Post | None:
        for post in self.posts:
            if post.id == media_id:
                return post
        return None

    def new_id(self, prefix: str) -> str:
        """Return a fresh 17-digit id starting with `prefix` ("17", "18"), hard to guess and
        used by no container, post or account yet."""
        while True:
            candidate = prefix + "".join(
                str(secrets.randbelow(10)) for _ in range(17 - len(prefix))
            )
            taken = (
                candidate in self.containers
                or candidate in self.accounts
                or self.post(candidate) is not None
                or any(comment.id == candidate for comment in self.comments)
            )
            if not taken:
                return candidate

    def save(self) -> None:
        """Write the state to `path` atomically and durably (nothing without a path)."""
        if self.path is None:
            return
        document = {
            "version": FORMAT_VERSION,
            "accounts": [dataclasses.asdict(a) for a in self.accounts.values()],
            "containers": [dataclasses.asdict(c) for c in self.containers.values()],
            "posts": [dataclasses.asdict(p) for p in self.posts],
            "comments": [dataclasses.asdict(c) for c in self.comments],
            "tokens": [dataclasses.asdict(t) for t in self.tokens.values()],
            "publish_calls": self.publish_calls,
        }
        data = json.dumps(document, indent=1, sort_keys=True).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomicfile.write_bytes(self.path, data)

    def _load(self, path: Path) -> None:
        try:
            document: Any = json.loads(path.read_bytes())
            if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
                raise ValueError(f"not a version {FORMAT_VERSION} sandbox state")
            for raw in document["accounts"]:
                account = Account(**raw)
                self.accounts[account.ig_user_id] = account
            for raw in document["containers"]:
                container = Container(**raw)
                self.containers[container.id] = container
            self.posts = [Post(**raw) for raw in document["posts"]]
            # Files written before comments and tokens were kept have neither.
            self.comments = [Comment(**raw) for raw in document.get("comments", [])]
            for raw in document.get("tokens", []):
                record = TokenRecord(**raw)
                self.tokens[record.key] = record
            self.publish_calls = {str(k): int(v) for k, v in document["publish_calls"].items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StoreCorrupt(
                f"{path}: the sandbox state cannot be read ({exc}); move it away to start "
                "an empty sandbox"
            ) from exc
