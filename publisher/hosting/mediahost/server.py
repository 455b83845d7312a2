"""The HTTP side of `media.host: serve`: a small threading server that answers GET and
HEAD for a link its host opens (`Opener.open_link`), from the descriptor the host opened and
checked, never from a path opened again.

The answer has the right Content-Type, Content-Length and `Accept-Ranges: bytes`; a single
`Range` gets 206 with Content-Range (Meta's video fetcher asks for one first), an
unsatisfiable or malformed one 416. Files are streamed in chunks. Anything else (any other
method, any link the host refuses) is the same 404 with no hint. Request lines are never
logged as http.server would: a signed link is a capability.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import sys
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO, Protocol

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
}
_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")


def content_type(name: str | os.PathLike[str]) -> str:
    """The Content-Type of a media file, by its suffix (in any case)."""
    suffix = os.path.splitext(os.fspath(name))[1].lower()
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


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


@dataclass(frozen=True)
class Opened:
    """A file a link may read, opened and checked: serve these bytes, from this handle."""

    handle: BinaryIO
    name: str  # the path the link names (for the Content-Type and the debug log)
    size: int
    mtime: float


class Opener(Protocol):
    def open_link(self, request_path: str) -> Opened | None:
        """The file the request's link may read, opened and checked; None for a 404."""


class MediaServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], opener: Opener) -> None:
        self.opener = opener
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
    server: MediaServer

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
        opened = self.server.opener.open_link(self.path)
        if opened is None:
            self._not_found(method)
            return
        with opened.handle:
            status = self._answer(opened, send_body)
        log.debug("media: %s %s %d", method, os.path.basename(opened.name), status)

    def _answer(self, opened: Opened, send_body: bool) -> int:
        size = opened.size
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
        self.send_header("Content-Type", content_type(opened.name))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", email.utils.formatdate(opened.mtime, usegmt=True))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if wanted is not None:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if send_body:
            try:
                _copy(opened.handle, self.wfile, first, length)
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
