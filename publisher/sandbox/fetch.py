"""Fetching media like Instagram's servers do, and refusing what Instagram refuses.

Instagram cURLs every `image_url` / `video_url` when a container is made (instagram-api.md
§2.4), so the sandbox really downloads them, over HTTP, with its own httpx client: a media
URL that only works from inside our own process would be caught here, not in production.

Images: a failed download is 9004/2207052 ("The media could not be fetched from this URI");
a timeout -2/2207003; more than 8 MiB 36000/2207004; not a JPEG with 3 colour components
(magic bytes, Pillow's format and mode, the Content-Type) 36001/2207005; a feed image outside
4:5..1.91:1, exactly, 36003/2207009.
Videos are checked the way Meta does it, asynchronously: a problem becomes the subcode of the
container's ERROR status. The first request asks for a byte range and must get 206 (servers
without Range support fail with 2207077 [3P]); the file must start with an MP4/MOV `ftyp` box
(else 2207026); then the whole file is read once, into a temp file, and `videocheck` looks
at its codecs and moov atom with PyAV (2207026 too).
"""

from __future__ import annotations

import io
import tempfile
from fractions import Fraction

import httpx
from PIL import Image

from publisher.sandbox import meta_errors, videocheck

IMAGE_MAX_BYTES = 8 * 1024 * 1024
VIDEO_MAX_BYTES = 300 * 1024 * 1024
VIDEO_PROBE_BYTES = 64 * 1024
FEED_RATIO_MIN = Fraction(4, 5)
FEED_RATIO_MAX = Fraction(191, 100)
FETCH_TIMEOUT_S = 5.0
CHUNK = 64 * 1024

# Types a file server may send for a JPEG / an MP4 besides the exact ones (S3 and friends).
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg"}) | _GENERIC_TYPES
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/x-m4v"}) | _GENERIC_TYPES
# ISO base media brands of MP4 and QuickTime files (the `ftyp` box's major brand).
VIDEO_BRANDS = frozenset(
    {
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso8", b"iso9",
        b"mp41", b"mp42", b"mp71", b"avc1", b"M4V ", b"M4VP", b"MSNV", b"qt  ", b"dash",
    }
)  # fmt: skip

SUBCODE_FETCH = 2207052
SUBCODE_TIMEOUT = 2207003
SUBCODE_NO_RANGE = 2207077
SUBCODE_FORMAT = 2207026
SUBCODE_UPLOAD = 2207053


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def check_image(data: bytes, content_type: str | None, *, feed: bool) -> None:
    """Given a downloaded image, its Content-Type and whether it shows in the feed, return
    if Instagram would take it. Raise GraphError (36000, 36001 or 36003) otherwise."""
    if len(data) > IMAGE_MAX_BYTES:
        raise meta_errors.image_too_large()
    if not data.startswith(b"\xff\xd8\xff") or _media_type(content_type) not in IMAGE_TYPES:
        raise meta_errors.image_format()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":  # MPO and JPS are JPEGs Instagram refuses
                raise meta_errors.image_format()
            if image.mode != "RGB":  # 3 colour components only: CMYK, grey are refused
                raise meta_errors.image_format()
            width, height = image.size
            try:
                orientation = image.getexif().get(0x0112)
            except Exception:  # a damaged EXIF block only loses the rotation hint
                orientation = None
    except meta_errors.GraphError:
        raise
    except Exception as exc:  # Pillow raises many types on hostile input
        raise meta_errors.image_format() from exc
    if orientation in (5, 6, 7, 8):  # shown rotated by 90 degrees
        width, height = height, width
    # Exact, like Meta (issue 10: 1080x1358 is 0.795, refused); in fractions, not with our
    # own publisher.hosting.ratio: a fake that shared the code under test would agree with it.
    if feed and not FEED_RATIO_MIN <= Fraction(width, max(height, 1)) <= FEED_RATIO_MAX:
        raise meta_errors.aspect_ratio(width, height)


def video_problem(head: bytes, content_type: str | None) -> int | None:
    """Given the first bytes of a video and its Content-Type, return the subcode Instagram
    would fail it with (2207026: not MP4/MOV), or None when it looks like MP4/MOV."""
    if _media_type(content_type) not in VIDEO_TYPES:
        return SUBCODE_FORMAT
    if len(head) < 12 or head[4:8] != b"ftyp" or head[8:12] not in VIDEO_BRANDS:
        return SUBCODE_FORMAT
    return None


class Fetcher:
    """Downloads media for the sandbox. Owns an httpx.Client (closed by `close`)."""

    def __init__(self, http: httpx.Client | None = None) -> None:
        self._http = http or httpx.Client(
            timeout=FETCH_TIMEOUT_S,
            follow_redirects=True,
            trust_env=False,  # a proxy from the environment must not intercept loopback
            headers={"User-Agent": "facebookexternalhit/1.1 (publisher sandbox)"},
        )

    def close(self) -> None:
        self._http.close()

    def image(self, url: str, *, feed: bool) -> None:
        """Download the image at `url` and check it (`check_image`). Raise GraphError:
        9004/2207052 if it cannot be fetched, -2/2207003 on a timeout, or what
        `check_image` raises."""
        try:
            with self._http.stream("GET", url) as response:
                if not response.is_success:
                    raise meta_errors.fetch_failed(url)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > IMAGE_MAX_BYTES:
                    raise meta_errors.image_too_large()
                data = bytearray()
                for chunk in response.iter_bytes(CHUNK):
                    data += chunk
                    if len(data) > IMAGE_MAX_BYTES:
                        raise meta_errors.image_too_large()
                content_type = response.headers.get("content-type")
        except httpx.TimeoutException as exc:
            raise meta_errors.fetch_timeout() from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise meta_errors.fetch_failed(url) from exc
        check_image(bytes(data), content_type, feed=feed)

    def video(self, url: str) -> int | None:
        """Download the video at `url` like Meta: a Range request first, then the file.
        Return the subcode the container fails with, or None when the video is fine."""
        try:
            with self._http.stream(
                "GET", url, headers={"Range": f"bytes=0-{VIDEO_PROBE_BYTES - 1}"}
            ) as response:
                if not response.is_success:
                    return SUBCODE_FETCH
                if response.status_code != 206:
                    return SUBCODE_NO_RANGE
                head = b""
                for chunk in response.iter_bytes(CHUNK):
                    head += chunk
                    if len(head) >= VIDEO_PROBE_BYTES:
                        break
                problem = video_problem(head, response.headers.get("content-type"))
                total = _range_total(response.headers.get("content-range", ""))
            if problem is not None:
                return problem
            with self._http.stream("GET", url) as response, tempfile.TemporaryFile() as body:
                if not response.is_success:
                    return SUBCODE_FETCH
                received = 0
                for chunk in response.iter_bytes(CHUNK):
                    received += len(chunk)
                    if received > VIDEO_MAX_BYTES:
                        return SUBCODE_UPLOAD
                    body.write(chunk)
                if total is not None and received != total:
                    return SUBCODE_UPLOAD
                return videocheck.problem(body)  # codecs and moov, as Meta's processing
        except httpx.TimeoutException:
            return SUBCODE_TIMEOUT
        except (httpx.HTTPError, httpx.InvalidURL):
            return SUBCODE_FETCH
        return None


def _range_total(content_range: str) -> int | None:
    """'bytes 0-99/1234' -> 1234; None when absent or unknown ('*')."""
    _, _, total = content_range.rpartition("/")
    return int(total) if total.strip().isdigit() else None
