"""Resumable upload: a video's bytes sent to Meta's upload host, so no public URL is needed.

[RU] Meta's "Upload Video to Meta Servers" (Facebook Login for Business only),
https://developers.facebook.com/docs/instagram-platform/content-publishing/resumable-uploads/
[MEDIA] IG User Media reference (`upload_type`), https://developers.facebook.com/docs/
instagram-platform/instagram-graph-api/reference/ig-user/media; both in instagram-api.md §2.3.

    step     what is sent                                                          source
    create   POST graph /{ig-user-id}/media, upload_type=resumable, no video_url  [RU][MEDIA]
    upload   POST {host}/ig-api-upload/{version}/{container-id}, the raw bytes    [RU]
             headers: Authorization: OAuth <token>, offset (first byte sent),     [RU]
             file_size (total bytes)
    answer   {"success": true, "message": "Upload successful."}; else debug_info [RU]
    resume   GET graph /{container-id}?fields=video_status ->                     [RU]
             uploading_phase.bytes_transferred; POST again from that offset with
             the rest of the file (the rest-of-file part is inferred: §9.9)

The token goes only to the configured upload host (`accounts.<name>.upload_url`, default
rupload.facebook.com; the sandbox for `api: sandbox`), in the header; the `uri` Meta returns
with the container is not followed, so an answer can never send the token elsewhere. The
file is streamed from its open descriptor in CHUNK pieces: memory stays bounded whatever
the video's size.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

import httpx

from publisher import errors, logs
from publisher.clock import Clock, Sleep, system_clock
from publisher.instagram import errors as graph_errors
from publisher.job import ApiCall

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://rupload.facebook.com"
STEP = "upload"
CHUNK = 1024 * 1024
MAX_ATTEMPTS = 5  # POSTs per upload before the publish attempt gives up (the next resumes)
MAX_BACKOFF = 30.0


def resumable_params(params: Mapping[str, str]) -> dict[str, str]:
    """Given a video container's parameters (from `instagram.payloads`), return them for a
    resumable upload: no `video_url`, `upload_type=resumable` (lowercase, [MEDIA])."""
    changed = {key: value for key, value in params.items() if key != "video_url"}
    changed["upload_type"] = "resumable"
    return changed


def endpoint(api_version: str, container_id: str) -> str:
    """The upload path on the host: /ig-api-upload/{version}/{container-id}."""
    return f"/ig-api-upload/{api_version}/{container_id}"


def _chunks(
    source: BinaryIO, offset: int, size: int, sent: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """The bytes of `source` from `offset` to `size`, CHUNK at a time (read with pread, so
    a retry never depends on where a failed send left the file position). `sent(position)`
    hears of each piece the client has taken, before the next is read."""
    fd = source.fileno()
    position = offset
    while position < size:
        if sent is not None and position > offset:
            sent(position)
        piece = os.pread(fd, min(CHUNK, size - position), position)
        if not piece:
            raise OSError(f"the video file got shorter while it was sent ({position} bytes)")
        position += len(piece)
        yield piece


def _each(progress: Callable[[int, int], None] | None, size: int) -> Callable[[int], None] | None:
    return None if progress is None else (lambda position: progress(position, size))


class Uploader:
    """Sends one account's videos to its upload host. Owns nothing: the httpx.Client is
    injected. `received(container_id)` asks the Graph API how many bytes Meta holds
    (`instagram.client.Client.upload_progress`)."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        host: str,
        api_version: str,
        token: str | None,
        received: Callable[[str], int],
        on_call: Callable[[ApiCall], None] | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = system_clock,
        retry_wait: float = 1.0,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._http = http
        self.host = host.rstrip("/")
        self._api_version = api_version
        self._token = token
        if token:
            logs.register_secret(token)
        self._received = received
        self._on_call = on_call
        self._sleep = sleep
        self._clock = clock
        self._retry_wait = retry_wait
        self._max_attempts = max_attempts

    def __repr__(self) -> str:  # no token, ever
        return f"Uploader(host={self.host!r})"

    def send(
        self,
        container_id: str,
        source: BinaryIO,
        size: int,
        *,
        offset: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Make Meta hold all `size` bytes of `source` (an open file) for the container:
        ask how many it has (unless `offset` says it: 0 for a container just made), send
        the rest, and after an interruption (a transport error, a 5xx, a retriable answer)
        ask again and send from there. Return once every byte is in; `progress(sent,
        size)` hears of each answer and of each CHUNK on its way.

        Raise AuthFailed if the host refuses the token, Transient when it is still
        incomplete after `max_attempts` POSTs (the next attempt resumes where it stopped)."""
        if not self._token:
            raise errors.AuthFailed("no access token to upload with", step=STEP)
        failure: errors.ApiError | None = None
        for attempt in range(self._max_attempts):
            if attempt or offset is None:
                offset = self._received(container_id)
            if progress is not None:
                progress(min(offset, size), size)
            if offset >= size:
                return
            if attempt:
                log.info(
                    "upload: container %s resumes at byte %d of %d", container_id, offset, size
                )
            try:
                self._post(container_id, source, offset, size, progress)
            except errors.Transient as exc:
                failure = exc
                wait = min(2.0**attempt, MAX_BACKOFF) * self._retry_wait
                log.warning("%s; resuming in %.1f s", exc.describe(), wait)
                self._sleep(wait)
                continue
            if progress is not None:
                progress(size, size)
            return
        raise errors.Transient(
            f"the upload did not complete in {self._max_attempts} tries",
            step=STEP,
            container_id=container_id,
            hint=(failure.describe() + "; " if failure else "")
            + "the next attempt resumes from the bytes Meta already holds",
        )

    def _post(
        self,
        container_id: str,
        source: BinaryIO,
        offset: int,
        size: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        path = endpoint(self._api_version, container_id)
        headers = {
            "Authorization": f"OAuth {self._token}",
            "offset": str(offset),
            "file_size": str(size),
            "Content-Length": str(size - offset),
            "Content-Type": "application/octet-stream",
        }
        started = self._clock()
        try:
            response = self._http.post(
                f"{self.host}{path}",
                content=_chunks(source, offset, size, _each(progress, size)),
                headers=headers,
            )
        except OSError as exc:  # the file, not the network
            raise errors.Permanent(
                f"the video could not be read while uploading: {exc.strerror or exc}",
                step=STEP,
                container_id=container_id,
                hint="check that the file is still there and readable",
            ) from exc
        except httpx.HTTPError as exc:
            self._record(path, started, None, type(exc).__name__)
            raise errors.Transient(
                f"{type(exc).__name__} while sending the video to the upload host",
                step=STEP,
                container_id=container_id,
                hint="publisher resumes from the bytes Meta already holds.",
            ) from exc
        except httpx.InvalidURL as exc:
            raise errors.Permanent(
                "the upload host is not a valid URL",
                step=STEP,
                hint="check accounts.<name>.upload_url in config.yaml",
            ) from exc
        body = _json(response)
        if response.is_success and isinstance(body, dict) and body.get("success") is True:
            self._record(path, started, response.status_code, None)
            return
        failure = _failure(response.status_code, body, container_id)
        self._record(path, started, response.status_code, f"HTTP {response.status_code}")
        raise failure

    def _record(self, path: str, started: Any, status: int | None, error: str | None) -> None:
        duration_ms = (self._clock() - started).total_seconds() * 1000
        log.debug(
            "POST %s (upload) -> %s in %.0f ms",
            path,
            status if status is not None else "no response",
            duration_ms,
        )
        if self._on_call is None:
            return
        try:
            self._on_call(
                ApiCall(
                    at=started,
                    method="POST",
                    endpoint=path,
                    status=status,
                    duration_ms=round(duration_ms, 1),
                    step=STEP,
                    error=error,
                )
            )
        except Exception as exc:  # bookkeeping never fails an upload
            log.warning("could not record the upload call %s: %s", path, exc)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _failure(status: int, body: Any, container_id: str) -> errors.ApiError:
    """The upload host's refusal, classified: a Graph error body through the one table;
    `debug_info` (Meta's upload failure shape) by its `retriable`; else by status."""
    if graph_errors.graph_error(body) is not None:
        return graph_errors.classify(
            http_status=status, body=body, step=STEP, container_id=container_id
        )
    info = body.get("debug_info") if isinstance(body, dict) else None
    message = f"the upload host answered HTTP {status}"
    if isinstance(info, dict):
        kind = str(info.get("type") or "an error")
        message += f" ({kind})"
        if info.get("retriable") is True:
            return errors.Transient(message, step=STEP, container_id=container_id)
    if status in (401, 403) or "unauthorized" in str(info or "").lower():
        return errors.AuthFailed(
            message + ": the token was refused",
            step=STEP,
            container_id=container_id,
            http_status=status,
            hint="resumable upload needs a Facebook Login token with instagram_content_publish",
        )
    if status >= 500 or status == 429 or not isinstance(info, dict):
        return errors.Transient(message, step=STEP, container_id=container_id, http_status=status)
    return errors.Permanent(
        message,
        step=STEP,
        container_id=container_id,
        http_status=status,
        hint="Meta refused the video's bytes; check the file against Meta's video spec",
    )
