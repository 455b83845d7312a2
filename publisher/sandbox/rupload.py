"""The sandbox's upload host: Meta's rupload.facebook.com for resumable video uploads
(Upload Video to Meta Servers, instagram-api.md §2.3), served on the sandbox's own port.

    POST /ig-api-upload/{version}/{container-id}
        Authorization: OAuth <token>     (Bearer or a token in the query is refused)
        offset: <first byte sent>        must be what the host holds (else a retriable refusal)
        file_size: <total bytes>         the same on every POST of one container
        body: the bytes from `offset`, with a Content-Length
    -> 200 {"success": true, "message": "Upload successful."}
    -> a refusal: {"debug_info": {"retriable": bool, "type": "ProcessingFailedError",
                                   "message": ...}}

What the host holds is read through the Graph API, like Meta's: GET /{container-id}?
fields=video_status -> uploading_phase.bytes_transferred (sandbox.views). The container stays
IN_PROGRESS, unprocessed, until every byte is in; then the video is checked (the first bytes
must be an MP4/MOV `ftyp` box, as for a fetched video) and processing starts (the usual polls).
The bytes are spooled to a file per container (memory stays bounded) and deleted once
complete; the sha256 of the whole file is kept on the container for tests.

Fault: `Faults.upload_interruptions` (the next N POSTs keep half of their bytes, then answer a
bare 502 or drop the connection, `upload_interrupt_with`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.sandbox import fetch, meta_errors
from publisher.sandbox.meta_errors import GraphError
from publisher.sandbox.views import ERROR, EXPIRED, PUBLISHED

if TYPE_CHECKING:
    from publisher.sandbox.handler import Handler

log = logging.getLogger(__name__)

PREFIX = "/ig-api-upload/"
_PATH = re.compile(r"^/ig-api-upload/(v\d+\.\d+)/(\d+)$")
CHUNK = 256 * 1024
SUCCESS = {"success": True, "message": "Upload successful."}


def refusal(message: str, *, retriable: bool) -> dict[str, Any]:
    """The failure shape Meta's page shows for the upload host."""
    inner = {"success": False, "error": {"message": message}}
    return {
        "debug_info": {
            "retriable": retriable,
            "type": "ProcessingFailedError",
            "message": str(inner).replace("'", '"').replace("False", "false"),
        }
    }


class _Refused(Exception):
    def __init__(self, status: int, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.body = refusal(message, retriable=retriable)


class Spool:
    """Where partial uploads wait: one file per container, in `folder` (a temporary folder
    of its own when None, removed by `close`)."""

    def __init__(self, folder: Path | None) -> None:
        self._own = folder is None
        self.folder = (
            Path(tempfile.mkdtemp(prefix="sandbox-uploads-")) if folder is None else folder
        )
        self.lock = threading.Lock()  # one body written at a time

    def path(self, container_id: str) -> Path:
        return self.folder / f"{container_id}.part"

    def clear(self) -> None:
        """Forget every partial upload (the sandbox was reset)."""
        with self.lock:
            for part in self.folder.glob("*.part"):
                part.unlink(missing_ok=True)

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.folder, ignore_errors=True)


def serve(handler: Handler, method: str, path: str) -> str:
    """Answer one request to the upload host; return the status for the log line."""
    sandbox = handler.server.sandbox
    match = _PATH.match(path)
    try:
        if method != "POST" or match is None:
            raise _Refused(404, f"no upload endpoint {method} {path}")
        if "?" in handler.path and "access_token" in handler.path.split("?", 1)[1]:
            raise _Refused(400, "the token goes in the Authorization header, never the URL")
        scheme, _, token = handler.headers.get("Authorization", "").strip().partition(" ")
        if scheme != "OAuth" or not token.strip():
            raise _Refused(401, "unauthorized user request: send Authorization: OAuth <token>")
        try:
            sandbox.check_bare_token(token.strip())
        except GraphError as exc:
            raise _Refused(401, "unauthorized user request") from exc
        return _receive(handler, match.group(2))
    except _Refused as refused:
        handler.close_connection = True
        _drain(handler)
        handler.send_json(refused.status, refused.body)
        return str(refused.status)


def _receive(handler: Handler, container_id: str) -> str:
    sandbox = handler.server.sandbox
    offset = _header_number(handler, "offset")
    size = _header_number(handler, "file_size")
    length = _header_number(handler, "Content-Length")
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        raise _Refused(400, "send the body with a Content-Length")
    spool = sandbox.uploads
    with spool.lock:
        with sandbox.graph.locked() as world:
            container = world.containers.get(container_id)
            if container is None or container.upload_received is None:
                raise _Refused(
                    400, f"{container_id} is not a container made with upload_type=resumable"
                )
            status = sandbox.graph.status_of(container)
            if status in (PUBLISHED, EXPIRED) or not container.uploading:
                raise _Refused(400, f"container {container_id} takes no more bytes ({status})")
            if container.upload_size is not None and container.upload_size != size:
                raise _Refused(400, f"file_size {size} differs from {container.upload_size}")
            if offset != container.upload_received:
                raise _Refused(
                    400,
                    f"offset {offset} is not the {container.upload_received} bytes received",
                    retriable=True,
                )
            if offset + length > size:
                raise _Refused(400, "the body runs past file_size")
            container.upload_size = size
            world.save()
            faults = sandbox.faults
            cut = faults.upload_interruptions > 0
            if cut:
                faults.upload_interruptions -= 1
        keep = length // 2 if cut else length
        written = _write(handler, spool.path(container_id), offset, keep)
        with sandbox.graph.locked() as world:
            container.upload_received = offset + written
            if written == keep and not cut and container.upload_received == size:
                _complete(container, spool.path(container_id))
            world.save()
    if cut:
        return _interrupt(handler, length - written)
    if written < keep:  # the client went away mid-body
        handler.close_connection = True
        return "client gone"
    handler.send_json(200, SUCCESS)
    return "200"


def _write(handler: Handler, part: Path, offset: int, count: int) -> int:
    """Copy `count` body bytes into the spool file at `offset`; return how many came."""
    fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o600)
    written = 0
    try:
        while written < count:
            piece = handler.rfile.read(min(CHUNK, count - written))
            if not piece:
                break
            os.pwrite(fd, piece, offset + written)
            written += len(piece)
    except (ConnectionError, TimeoutError):
        pass
    finally:
        os.close(fd)
    return written


def _complete(container: Any, part: Path) -> None:
    """Every byte is in: check the video like a fetched one, keep its digest, start the
    processing polls (a bad file ends in ERROR with Meta's subcode)."""
    digest = hashlib.sha256()
    with part.open("rb") as handle:
        head = handle.read(fetch.VIDEO_PROBE_BYTES)
        digest.update(head)
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    problem = fetch.video_problem(head, "video/mp4")
    if problem is not None:
        container.fate = ERROR
        container.error_status = meta_errors.container_error_status(problem)
    container.upload_sha256 = digest.hexdigest()
    part.unlink(missing_ok=True)


def _interrupt(handler: Handler, unread: int) -> str:
    handler.close_connection = True
    if handler.server.sandbox.faults.upload_interrupt_with == "drop":
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return "dropped"
    _discard(handler, unread)
    handler.send_raw(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
    return "502"


def _header_number(handler: Handler, name: str) -> int:
    text = handler.headers.get(name, "").strip()
    if not text.isdigit():
        raise _Refused(400, f"the {name} header must be a whole number of bytes")
    return int(text)


def _drain(handler: Handler) -> None:
    text = handler.headers.get("Content-Length", "0").strip()
    if text.isdigit():
        _discard(handler, int(text))


def _discard(handler: Handler, count: int) -> None:
    try:
        while count > 0:
            piece = handler.rfile.read(min(CHUNK, count))
            if not piece:
                return
            count -= len(piece)
    except (ConnectionError, TimeoutError):
        return
