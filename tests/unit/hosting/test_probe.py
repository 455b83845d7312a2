"""hosting.probe: a media link fetched the way Meta's fetcher does, against a loopback server
that answers what the test scripts: the image, a redirect, a login page, other bytes, a 404."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from publisher.hosting import probe


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def answering() -> Iterator[tuple[str, dict[str, Any]]]:
    """A loopback server answering every GET as `script` says: status, headers, body."""
    script: dict[str, Any] = {"status": 200, "headers": {}, "body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(script["status"])
            for name, value in script["headers"].items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(script["body"])))
            self.end_headers()
            self.wfile.write(script["body"])

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x.jpg", script
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "headers", "body", "words"),
    [
        (200, {"Content-Type": "image/jpeg"}, None, None),
        (302, {"Location": "https://login.example/"}, b"", "a redirect"),
        (200, {"Content-Type": "text/html"}, b"<html>Log in</html>", "login or error page"),
        (200, {"Content-Type": "image/jpeg"}, b"\xff\xd8\xffother", "other bytes"),
        (404, {"Content-Type": "text/plain"}, b"no", "answers 404, not 200"),
    ],
)
def test_the_media_fetch_takes_only_what_meta_would(
    answering: tuple[str, dict[str, Any]],
    status: int,
    headers: dict[str, str],
    body: bytes | None,
    words: str | None,
) -> None:
    url, script = answering
    data = jpeg()
    script.update(status=status, headers=headers, body=data if body is None else body)
    problem = probe.fetch_problem(url, data, what="media.public_url (X)")
    if words is None:
        assert problem is None
    else:
        assert problem is not None and words in problem and "media.public_url" in problem


def test_a_jpeg_of_content_dir_skips_hidden_and_set_aside_folders(tmp_path: Any) -> None:
    for name in (".hidden/a.jpg", "_drafts/b.jpg", "c/d.png", "c/e.JPG"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert probe.a_jpeg(tmp_path) == tmp_path / "c" / "e.JPG"
    assert probe.a_jpeg(tmp_path / "c" / "nothing") is None
