"""instagram.upload: the resumable-upload POSTs, their headers, resuming and refusals, against
an httpx.MockTransport upload host (the sandbox's real one is in the integration tests)."""

from __future__ import annotations

import io
import tempfile
from typing import Any

import httpx
import pytest

from publisher import errors
from publisher.instagram import upload

TOKEN = "EAAG-unit-token-0123456789"


class Host:
    """An upload host that keeps what it is sent; `answers` script the next POSTs."""

    def __init__(self, answers: list[tuple[int, Any, int | None]] | None = None) -> None:
        self.data = bytearray()
        self.requests: list[httpx.Request] = []
        self._answers = list(answers or [])  # (status, body, bytes kept or None for all)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = request.read()
        assert int(request.headers["offset"]) == len(self.data)
        status, answer, kept = self._answers.pop(0) if self._answers else (200, None, None)
        self.data += body if kept is None else body[:kept]
        if status == 200 and answer is None:
            answer = {"success": True, "message": "Upload successful."}
        return httpx.Response(status, json=answer)


def send(host: Host, payload: bytes, **kwargs: Any) -> None:
    with (
        httpx.Client(transport=httpx.MockTransport(host.handler)) as http,
        tempfile.TemporaryFile() as source,
    ):
        source.write(payload)
        source.flush()
        uploader = upload.Uploader(
            http=http,
            host="https://rupload.example",
            api_version="v25.0",
            token=TOKEN,
            received=lambda _container: len(host.data),
            sleep=lambda _seconds: None,
            **kwargs,
        )
        uploader.send("1789", source, len(payload))


def test_the_bytes_go_with_oauth_offset_and_file_size_headers() -> None:
    host = Host()
    payload = bytes(range(256)) * 5000  # over one CHUNK: streamed in pieces
    send(host, payload)
    [request] = host.requests
    assert request.url == "https://rupload.example/ig-api-upload/v25.0/1789"
    assert request.headers["Authorization"] == f"OAuth {TOKEN}"
    assert (request.headers["offset"], request.headers["file_size"]) == ("0", str(len(payload)))
    assert request.headers["Content-Length"] == str(len(payload))
    assert "transfer-encoding" not in request.headers
    assert bytes(host.data) == payload


@pytest.mark.parametrize(
    "failure",
    [
        (502, None, 1000),
        (500, {"debug_info": {"retriable": True, "type": "ProcessingFailedError"}}, 10),
        (400, {"debug_info": {"retriable": True, "type": "ProcessingFailedError"}}, 0),
    ],
)
def test_an_interrupted_upload_resumes_from_the_reported_offset(
    failure: tuple[int, Any, int],
) -> None:
    host = Host([failure])
    payload = bytes(range(256)) * 20
    send(host, payload)
    assert [r.headers["offset"] for r in host.requests] == ["0", str(failure[2])]
    assert bytes(host.data) == payload


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, None, errors.AuthFailed),
        (
            400,
            {"debug_info": {"retriable": False, "message": "unauthorized user request"}},
            errors.AuthFailed,
        ),
        (
            400,
            {"debug_info": {"retriable": False, "type": "ProcessingFailedError"}},
            errors.Permanent,
        ),
        (400, {"error": {"code": 190, "message": "Invalid OAuth access token"}}, errors.AuthFailed),
    ],
)
def test_a_refusal_is_classified(status: int, body: Any, kind: type[errors.ApiError]) -> None:
    host = Host([(status, body, 0)])
    with pytest.raises(kind) as caught:
        send(host, b"x" * 100)
    assert TOKEN not in str(caught.value)
    assert len(host.requests) == 1


def test_an_upload_that_never_completes_is_transient_for_the_next_attempt() -> None:
    host = Host([(503, None, 0)] * 3)
    with pytest.raises(errors.Transient, match="did not complete in 3 tries"):
        send(host, b"x" * 100, max_attempts=3)


def test_resumable_params_drop_the_video_url() -> None:
    params = {"media_type": "REELS", "video_url": "https://x/clip.mp4", "caption": "c"}
    assert upload.resumable_params(params) == {
        "media_type": "REELS",
        "caption": "c",
        "upload_type": "resumable",
    }


def test_no_token_no_upload() -> None:
    with httpx.Client() as http:
        uploader = upload.Uploader(
            http=http, host="https://h", api_version="v25.0", token=None, received=lambda _c: 0
        )
        with pytest.raises(errors.AuthFailed):
            uploader.send("1", io.BytesIO(b"x"), 1)
