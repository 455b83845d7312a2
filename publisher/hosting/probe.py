"""Is our media reachable the way Meta's fetcher reaches it? The test `publisher doctor`
runs against `media.host` (SPEC §8): fetch a link with no cookies, no proxy of ours and no
redirect followed, and take only a 200 `image/jpeg` answer with the very bytes (a login or
proxy page is not the image). `media.host: s3` has its own (`S3Host.check`, presigned).
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx

FETCH_TIMEOUT = 15.0
# What Meta's fetcher looks like to a server (the sandbox's fetcher says the same).
FETCHER_AGENT = "facebookexternalhit/1.1"


def fetch_problem(url: str, expected: bytes, *, what: str) -> str | None:
    """Fetch `url` as Meta's fetcher does (no cookies, no proxy of ours, redirects not
    followed) and return None if it would take the answer, else what is wrong, naming
    `what` (the config key that made the link)."""
    try:
        with httpx.Client(
            follow_redirects=False,
            trust_env=False,
            timeout=FETCH_TIMEOUT,
            headers={"User-Agent": FETCHER_AGENT},
        ) as http:
            response = http.get(url)
    except httpx.HTTPError as exc:
        return f"a test link through {what} could not be fetched ({type(exc).__name__})"
    except httpx.InvalidURL:
        return f"{what} does not make valid links"
    if response.is_redirect:
        return (
            f"a test link through {what} answers {response.status_code}, a redirect "
            f"(to {response.headers.get('location', '?')}); Meta does not follow it"
        )
    if response.status_code != 200:
        return f"a test link through {what} answers {response.status_code}, not 200"
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "image/jpeg":
        page = " (a login or error page?)" if kind == "text/html" else ""
        return f"a test link through {what} answers {kind or 'no type'}{page}, not image/jpeg"
    if response.content != expected:
        return f"a test link through {what} answers other bytes than the file (another server?)"
    return None


@contextlib.contextmanager
def test_jpeg(cache: Path) -> Iterator[tuple[Path, bytes]]:
    """Given state_dir/cache, yield (path, bytes) of a small JPEG made there, removed after:
    a converted copy's folder, so the built-in server links to it like to any copy."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 120, 200)).save(buffer, "JPEG", quality=80)
    data = buffer.getvalue()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"doctor-{secrets.token_hex(6)}.jpg"
    path.write_bytes(data)
    try:
        yield path, data
    finally:
        path.unlink(missing_ok=True)


def a_jpeg(content_dir: Path) -> Path | None:
    """Given content_dir, return its first JPEG (hidden and set-aside folders skipped), or
    None: what a `base_url` mirror must serve too."""
    for root, folders, names in os.walk(content_dir):
        folders[:] = sorted(f for f in folders if not f.startswith((".", "_")))
        for file_name in sorted(names):
            if file_name.lower().endswith((".jpg", ".jpeg")) and not file_name.startswith("."):
                return Path(root) / file_name
    return None
