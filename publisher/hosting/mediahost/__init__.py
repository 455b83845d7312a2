"""How Instagram's servers fetch our media: they need a URL (instagram-api.md §2.4).

`make(config, clock=...)` returns the `MediaHost` that `media.host` names:

- `serve`: `ServeHost` (`mediahost.serve`), a small HTTP server of our own on
  `media.listen` (`mediahost.server`) that serves exactly the files it signed a link for
  (`mediahost.links`), each only while it is the very file the link was made for
  (`mediahost.identity`), until the link expires. Anything else is a 404 with no hint.
- `base_url`: `BaseUrlHost`, for media mirrored elsewhere: `public_url` + "/" + relpath.
- `s3`: `publisher.hosting.s3.S3Host`: the file is uploaded to a bucket for the job and
  Instagram gets a presigned link; the job's objects are deleted once it is done.

Every host takes the job a link is for (`url_for(path, job_id=...)`) and is told when a job
is done (`release(job_id)`) and, at start, which jobs are still active (`sweep(ids)`), so a
host that copies files somewhere can delete them; serve and base_url have nothing to delete.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from publisher.clock import Clock
from publisher.config import Config
from publisher.hosting.mediahost.links import CACHE, relative_path
from publisher.hosting.mediahost.serve import ServeHost
from publisher.hosting.mediahost.server import byte_range, content_type

__all__ = [
    "BaseUrlHost",
    "MediaHost",
    "ServeHost",
    "byte_range",
    "cache_dir",
    "content_type",
    "make",
    "relative_path",
]


class MediaHost(Protocol):
    """Turns a media file into a URL Instagram can fetch, for a job."""

    def url_for(self, path: Path, *, job_id: str | None = None) -> str: ...

    def release(self, job_id: str) -> None:
        """The job is published, failed or cancelled: what was put out for it can go."""

    def sweep(self, active_job_ids: Collection[str]) -> None:
        """At start: what earlier runs put out for jobs not in `active_job_ids` can go."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def cache_dir(config: Config) -> Path:
    """The folder of converted images: state_dir/cache (made by `convert` when needed)."""
    return config.state_dir / CACHE


class BaseUrlHost:
    """`media.host: base_url`: content_dir is mirrored at `public_url`. Nothing to run, and
    nothing to delete: the links point at the files where they are."""

    def __init__(self, *, content_dir: Path, public_url: str) -> None:
        self._content_dir = Path(os.path.realpath(content_dir))
        self._public_url = public_url.rstrip("/")

    def url_for(self, path: Path, *, job_id: str | None = None) -> str:
        """Return public_url + "/" + the percent-encoded path relative to content_dir.
        Raise ValueError if `path` is outside content_dir."""
        return f"{self._public_url}/{quote(relative_path(self._content_dir, path), safe='/')}"

    def release(self, job_id: str) -> None:
        pass

    def sweep(self, active_job_ids: Collection[str]) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def make(config: Config, *, clock: Clock) -> MediaHost:
    """Given the config, return the media host `media.host` names (not started).
    Raise StoreError if the serve key cannot be made; ConfigError if s3 has no bucket."""
    media = config.media
    if media.host == "serve":
        return ServeHost(
            content_dir=config.content_dir,
            state_dir=config.state_dir,
            listen=media.listen_address,
            public_url=media.public_url,
            link_ttl=media.link_ttl,
            clock=clock,
        )
    if media.host == "base_url":
        return BaseUrlHost(content_dir=config.content_dir, public_url=media.public_url)
    from publisher.hosting import s3  # boto3 takes half a second to import: s3 users only

    return s3.make(config)
