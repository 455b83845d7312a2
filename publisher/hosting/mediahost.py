"""How Instagram's servers fetch our media: they need a URL (instagram-api.md §2.4).

`make(config, clock=...)` returns the `MediaHost` that `media.host` names:

- `serve`: `ServeHost`, a small HTTP server of our own on `media.listen` that serves exactly
  the files it signed a link for, until the link expires. A link is
  `{public_url}/m/{expires}/{signature}/{path relative to content_dir, percent-encoded}` with
  signature = HMAC-SHA256(key, "{expires}:{relpath}"), base64url without padding. The key is
  32 random bytes made once in `state_dir/media.key` (mode 0600) and reused after restarts,
  so links given out before a restart keep working. Anything else is a 404 with no hint.
- `base_url`: `BaseUrlHost`, for media mirrored elsewhere: `public_url` + "/" + relpath.
- `s3`: `publisher.hosting.s3.S3Host`: the file is uploaded to a bucket for the job and
  Instagram gets a presigned link; the job's objects are deleted once it is done.

Every host takes the job a link is for (`url_for(path, job_id=...)`) and is told when a job
is done (`release(job_id)`) and, at start, which jobs are still active (`sweep(ids)`), so a
host that copies files somewhere can delete them; serve and base_url have nothing to delete.

The server answers GET and HEAD with the right Content-Type, Content-Length and
`Accept-Ranges: bytes`; a single `Range` gets 206 with Content-Range (Meta's video fetcher
asks for one first), an unsatisfiable or malformed one 416. Files are streamed in chunks and
never leave `content_dir`, symlinks included.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import sys
import threading
from collections.abc import Collection
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from publisher.clock import Clock, system_clock
from publisher.config import Config
from publisher.errors import StoreCorrupt, StoreError
from publisher.hosting import httpserve

log = logging.getLogger(__name__)

KEY_FILE = "media.key"
KEY_BYTES = 32
CHUNK = 64 * 1024
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
}
_EXPIRES = re.compile(r"^[0-9]{1,12}$")
_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")


class MediaHost(Protocol):
    """Turns a media file into a URL Instagram can fetch, for a job."""

    def url_for(self, path: Path, *, job_id: str | None = None) -> str: ...

    def release(self, job_id: str) -> None:
        """The job is published, failed or cancelled: what was put out for it can go."""

    def sweep(self, active_job_ids: Collection[str]) -> None:
        """At start: what earlier runs put out for jobs not in `active_job_ids` can go."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


# --- pure helpers -------------------------------------------------------------------------


def relative_path(content_dir: Path, path: Path) -> str:
    """Given the (resolved) content folder and a file (absolute, or relative to the folder),
    return its path relative to the folder, with `/`, symlinks resolved.

    Raise ValueError if the file is not inside the folder (after resolving symlinks).
    """
    candidate = path if path.is_absolute() else content_dir / path
    real = Path(os.path.realpath(candidate))
    try:
        relative = real.relative_to(content_dir)
    except ValueError:
        raise ValueError(f"{path} is not inside the content folder {content_dir}") from None
    if not relative.parts:
        raise ValueError(f"{path} is the content folder itself, not a media file")
    return relative.as_posix()


def sign(key: bytes, expires: int, relpath: str) -> str:
    """HMAC-SHA256 of "{expires}:{relpath}" under `key`, base64url without padding."""
    digest = hmac.new(key, f"{expires}:{relpath}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Given a Range header and the file size, return the inclusive (first, last) byte to
    send, or None to send the whole file (no header, or several ranges, which we may
    ignore). Raise ValueError for a malformed or unsatisfiable range (answer 416)."""
    if not header:
        return None
    header = header.strip()
    if "," in header:
        return None
    match = _RANGE.match(header)
    if match is None:
        raise ValueError("malformed range")
    first_text, last_text = match.groups()
    if first_text:
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
        if last < first:
            raise ValueError("malformed range")
        if first >= size:
            raise ValueError("range outside the file")
        return first, min(last, size - 1)
    if not last_text:
        raise ValueError("malformed range")
    suffix = int(last_text)
    if suffix == 0 or size == 0:
        raise ValueError("empty range")
    return max(size - suffix, 0), size - 1


def load_key(state_dir: Path) -> bytes:
    """Return the link-signing key in `state_dir/media.key`, creating it (32 random bytes,
    mode 0600, created atomically: a crash or a second process never leaves a partial or a
    different key) the first time.

    Raise StoreCorrupt if the file is there but is not a key; StoreError if it cannot be
    read or made.
    """
    path = state_dir / KEY_FILE
    try:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = _create_key(path)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot read or create the media link key: {exc.strerror}"
        ) from exc
    if len(data) != KEY_BYTES:
        raise StoreCorrupt(
            f"{path} is not a media link key ({len(data)} bytes, not {KEY_BYTES}); delete it "
            "and publisher makes a new one (links already given out then stop working)"
        )
    return data


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.publisher-tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        # link() never replaces: if another process made the key first, theirs wins and
        # both processes sign with the same key.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path.read_bytes()


# --- the hosts ----------------------------------------------------------------------------


class _NothingToDelete:
    """Hosts that link to the files where they are: no copies to release or sweep."""

    def release(self, job_id: str) -> None:
        pass

    def sweep(self, active_job_ids: Collection[str]) -> None:
        pass


class BaseUrlHost(_NothingToDelete):
    """`media.host: base_url`: content_dir is mirrored at `public_url`. Nothing to run."""

    def __init__(self, *, content_dir: Path, public_url: str) -> None:
        self._content_dir = Path(os.path.realpath(content_dir))
        self._public_url = public_url.rstrip("/")

    def url_for(self, path: Path, *, job_id: str | None = None) -> str:
        """Return public_url + "/" + the percent-encoded path relative to content_dir.
        Raise ValueError if `path` is outside content_dir."""
        return f"{self._public_url}/{quote(relative_path(self._content_dir, path), safe='/')}"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class ServeHost(_NothingToDelete):
    """`media.host: serve`: signed, expiring links to our own HTTP server (module doc).

    Owns the server (a ThreadingHTTPServer in a daemon thread). `listen` may use port 0:
    `port` is the real port after `start()`, and a port 0 in `public_url` is replaced by it.
    """

    def __init__(
        self,
        *,
        content_dir: Path,
        state_dir: Path,
        listen: tuple[str, int],
        public_url: str,
        link_ttl: timedelta,
        clock: Clock = system_clock,
    ) -> None:
        self._content_dir = Path(os.path.realpath(content_dir))
        self._key = load_key(state_dir)
        self._listen = listen
        self._public_url = public_url.rstrip("/")
        self._ttl = link_ttl
        self._clock = clock
        self._httpd: _MediaServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port served on (the configured one before `start()`)."""
        if self._httpd is not None:
            return int(self._httpd.server_address[1])
        return self._listen[1]

    @property
    def public_url(self) -> str:
        split = urlsplit(self._public_url)
        if split.port == 0 and self._httpd is not None:
            netloc = f"{split.hostname}:{self.port}"
            if split.hostname and ":" in split.hostname:  # IPv6 literal
                netloc = f"[{split.hostname}]:{self.port}"
            return urlunsplit(split._replace(netloc=netloc))
        return self._public_url

    def url_for(self, path: Path, *, job_id: str | None = None) -> str:
        """Return a link to `path` that works until now + link_ttl.
        Raise ValueError if `path` is outside content_dir."""
        relpath = relative_path(self._content_dir, path)
        expires = int((self._clock() + self._ttl).timestamp())
        signature = sign(self._key, expires, relpath)
        return f"{self.public_url}/m/{expires}/{signature}/{quote(relpath, safe='/')}"

    def resolve(self, request_path: str) -> Path | None:
        """Given a request's path (query ignored), return the file it may read: the
        signature matches, the link has not expired, and the file is a regular file inside
        content_dir. Return None otherwise, whatever the reason."""
        parts = urlsplit(request_path).path.split("/", 4)
        if len(parts) != 5 or parts[0] != "" or parts[1] != "m":
            return None
        expires_text, signature, quoted = parts[2], parts[3], parts[4]
        if not _EXPIRES.match(expires_text):
            return None
        try:
            relpath = unquote(quoted, errors="strict")
        except UnicodeDecodeError:
            return None
        expected = sign(self._key, int(expires_text), relpath)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        if self._clock().timestamp() > int(expires_text):
            return None
        pure = PurePosixPath(relpath)
        if "\x00" in relpath or pure.is_absolute() or any(p in ("", "..") for p in pure.parts):
            return None
        real = Path(os.path.realpath(self._content_dir.joinpath(*pure.parts)))
        if not real.is_relative_to(self._content_dir) or not real.is_file():
            return None
        return real

    def start(self) -> None:
        """Listen on `listen` and serve from a daemon thread. Raise OSError if the address
        cannot be bound."""
        if self._httpd is not None:
            return
        self._httpd = _MediaServer(self._listen, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name="mediahost",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpserve.shutdown(httpd)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


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


# --- the HTTP server ----------------------------------------------------------------------


class _MediaServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], host: ServeHost) -> None:
        self.host = host
        super().__init__(address, _MediaHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback on stderr (the user's terminal, the journal),
        # past the log filter. A client that drops the connection is routine here.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            log.debug("media: a client dropped its connection")
        else:
            log.warning("media: a request failed", exc_info=True)


class _MediaHandler(BaseHTTPRequestHandler):
    server_version = "publisher"
    sys_version = ""
    timeout = 60
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    server: _MediaServer

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    # Every other method: the same 404 as a bad link (no hint that the path exists).
    def do_POST(self) -> None:
        self._not_found("POST")

    def do_PUT(self) -> None:
        self._not_found("PUT")

    def do_DELETE(self) -> None:
        self._not_found("DELETE")

    def do_PATCH(self) -> None:
        self._not_found("PATCH")

    def do_OPTIONS(self) -> None:
        self._not_found("OPTIONS")

    # http.server logs request lines to stderr; a signed link is a capability: log ours.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("media: malformed request")

    def _not_found(self, method: str) -> None:
        body = b"not found\n"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)
        log.debug("media: %s (refused) 404", method)

    def _serve(self, *, send_body: bool) -> None:
        method = "GET" if send_body else "HEAD"
        target = self.server.host.resolve(self.path)
        if target is None:
            self._not_found(method)
            return
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            self._not_found(method)
            return
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                self._not_found(method)
                return
            status = self._answer(handle, target, info.st_size, info.st_mtime, send_body)
        log.debug("media: %s %s %d", method, target.name, status)

    def _answer(
        self, handle: BinaryIO, target: Path, size: int, mtime: float, send_body: bool
    ) -> int:
        try:
            wanted = byte_range(self.headers.get("Range"), size)
        except ValueError:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return 416
        first, last = wanted if wanted is not None else (0, size - 1)
        length = last - first + 1 if size else 0
        status = 206 if wanted is not None else 200
        self.send_response(status)
        self.send_header("Content-Type", content_type(target))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if wanted is not None:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if send_body:
            try:
                _copy(handle, self.wfile, first, length)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the fetcher had what it wanted (a probe of the first bytes)
        return status


def _copy(source: BinaryIO, sink: Any, offset: int, length: int) -> None:
    source.seek(offset)
    remaining = length
    while remaining > 0:
        chunk = source.read(min(CHUNK, remaining))
        if not chunk:
            break
        sink.write(chunk)
        remaining -= len(chunk)
