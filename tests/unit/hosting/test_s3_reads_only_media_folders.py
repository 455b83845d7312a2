"""`media.host: s3` reads a file only beneath content_dir or state_dir/cache (issue 8): a
media file, or a folder on its path, that leads out of them is never read, so never
uploaded. The refusal comes before any request to S3 (the endpoint here answers nothing)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.confined import OutsideContentDir
from publisher.hosting.s3 import S3Host
from publisher.hosting.s3errors import Target
from tests.support.ports import HOST, free_port


@pytest.fixture
def host(tmp_path: Path) -> S3Host:
    (tmp_path / "content" / "album").mkdir(parents=True)
    (tmp_path / "state" / "cache").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "photo.jpg").write_bytes(b"\xff\xd8\xff secret")
    (tmp_path / "state" / "tokens").write_bytes(b"secret token")
    target = Target(
        bucket="photos",
        prefix="publisher/",
        endpoint_url=f"http://{HOST}:{free_port()}",  # nothing listens: no request may be made
        region="us-east-1",
        config_path=str(tmp_path / "config.yaml"),
    )
    return S3Host(
        target=target,
        link_ttl=timedelta(hours=1),
        media_dirs=(tmp_path / "content", tmp_path / "state" / "cache"),
    )


def test_a_media_symlink_out_of_content_dir_is_not_read(host: S3Host, tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "photo.jpg").symlink_to(tmp_path / "outside" / "photo.jpg")
    (content / "tokens.jpg").symlink_to(tmp_path / "state" / "tokens")
    for name in ("photo.jpg", "tokens.jpg"):
        with pytest.raises(OutsideContentDir):
            host.url_for(content / name, job_id="job1")


def test_a_folder_swapped_for_a_link_out_is_not_followed(host: S3Host, tmp_path: Path) -> None:
    content = tmp_path / "content"
    os.rmdir(content / "album")
    (content / "album").symlink_to(tmp_path / "outside")
    with pytest.raises(OutsideContentDir):
        host.url_for(content / "album" / "photo.jpg", job_id="job1")


def test_the_rest_of_state_dir_is_not_read(host: S3Host, tmp_path: Path) -> None:
    with pytest.raises(OutsideContentDir):
        host.url_for(tmp_path / "state" / "tokens", job_id="job1")
