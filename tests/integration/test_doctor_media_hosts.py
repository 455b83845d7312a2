"""`publisher doctor`'s media check for each `media.host` besides serve (tests/unit/commands/
test_doctor.py): a base_url mirror of content_dir served over loopback, and an S3 bucket on
a loopback moto server."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from publisher.commands import doctor
from tests.support.ports import free_port
from tests.support.s3 import MotoS3, moto_s3, use_fake_credentials
from tests.support.site import load_config, make_site


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """content_dir of a site, mirrored over loopback by a plain static file server."""
    config_path = make_site(tmp_path)
    content = config_path.parent / "content"
    handler = functools.partial(_Quiet, directory=str(content))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


def test_a_base_url_mirror_passes_and_a_wrong_one_is_named(mirror: tuple[str, Path]) -> None:
    url, root = mirror
    good = make_site(root, media={"host": "base_url", "public_url": url})
    check = doctor.media_check(load_config(good))
    assert check.ok, check.detail
    assert "cover.jpg" in check.detail  # the first JPEG of content_dir

    nowhere = f"http://127.0.0.1:{free_port()}"
    bad = make_site(root, media={"host": "base_url", "public_url": nowhere})
    check = doctor.media_check(load_config(bad))
    assert not check.ok and f"media.public_url ({nowhere})" in check.detail


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.mark.slow
def test_s3_passes_through_a_presigned_link_and_names_a_missing_bucket(
    moto: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_fake_credentials(monkeypatch)
    bucket = moto.new_bucket()

    def site(name: str) -> doctor.Check:
        s3 = {"bucket": name, "endpoint_url": moto.endpoint_url, "region": "us-east-1"}
        path = make_site(tmp_path / name, media={"host": "s3", "s3": s3})
        return doctor.media_check(load_config(path))

    check = site(bucket)
    assert check.ok, check.detail
    assert moto.keys(bucket) == []  # the test object is deleted
    missing = site("no-such-bucket-here")
    assert not missing.ok and "media.s3.bucket" in missing.detail
