"""`media.host: s3` against a real S3 API on loopback (moto's server mode, started here):
uploads, presigned links fetched over HTTP, reuse, release, sweep, and every setup problem
as the sentence that names the key to change."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from publisher import config as config_module
from publisher.errors import ConfigError, Transient
from publisher.hosting import mediahost
from publisher.hosting.s3 import S3Host
from publisher.hosting.s3errors import CREDENTIALS, Target
from tests.support.logcapture import Capture, exception_texts, verbose_capture
from tests.support.s3 import (
    ACCESS_KEY,
    SECRET_KEY,
    MotoS3,
    dead_endpoint,
    moto_s3,
    use_fake_credentials,
    use_no_credentials,
)

JOB = "6f1c0a9e2b3d4c5e8f7a6b5c4d3e2f10"
OTHER_JOB = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TTL = timedelta(hours=2)
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
MP4 = b"\x00\x00\x00\x20ftypisom" + b"\x01" * 3000

pytestmark = pytest.mark.slow  # a real server; most tests take about a second


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_s3() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    use_fake_credentials(monkeypatch)
    return moto.new_bucket()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "photo.jpg").write_bytes(JPEG)
    (folder / "clip.mp4").write_bytes(MP4)
    (folder / "été à la mer.jpg").write_bytes(JPEG + b"accents")
    return folder


def make_host(
    bucket: str,
    endpoint_url: str | None,
    *,
    prefix: str = "publisher/",
    region: str | None = "us-east-1",
    attempts: int = 3,
) -> S3Host:
    target = Target(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        region=region,
        config_path="/site/config.yaml",
    )
    # the tests' files are all over tmp_path: any folder is a media folder here
    return S3Host(target=target, link_ttl=TTL, attempts=attempts, media_dirs=[Path("/")])


@pytest.fixture
def host(moto: MotoS3, bucket: str) -> Iterator[S3Host]:
    made = make_host(bucket, moto.endpoint_url)
    made.start()
    yield made
    made.stop()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(url: str) -> httpx.Response:
    """As Meta's fetcher: no cookies, no redirect followed."""
    return httpx.get(url, follow_redirects=False)


# --- uploads and links ------------------------------------------------------------------------


def test_url_for_uploads_the_file_and_the_presigned_link_serves_it(
    host: S3Host, moto: MotoS3, bucket: str, media: Path
) -> None:
    url = host.url_for(media / "photo.jpg", job_id=JOB)

    assert moto.keys(bucket) == [f"publisher/{JOB}/{sha(JPEG)}/photo.jpg"]
    answer = fetch(url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.content == JPEG
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["7200"]  # media.link_ttl
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]

    clip = fetch(host.url_for(media / "clip.mp4", job_id=JOB))
    assert (clip.status_code, clip.headers["content-type"], clip.content) == (
        200,
        "video/mp4",
        MP4,
    )


def test_a_name_meta_would_choke_on_becomes_plain_ascii(
    host: S3Host, moto: MotoS3, bucket: str, media: Path
) -> None:
    url = host.url_for(media / "été à la mer.jpg", job_id=JOB)
    assert url.isascii()
    assert moto.keys(bucket) == [f"publisher/{JOB}/{sha(JPEG + b'accents')}/ete-a-la-mer.jpg"]
    assert fetch(url).content == JPEG + b"accents"


def test_the_same_bytes_are_uploaded_once_per_job(
    host: S3Host, moto: MotoS3, bucket: str, media: Path, tmp_path: Path
) -> None:
    host.url_for(media / "photo.jpg", job_id=JOB)
    (key,) = moto.keys(bucket)
    # Mark the stored object: a second upload would put the file's bytes back.
    moto.s3.put_object(Bucket=bucket, Key=key, Body=b"marker", ContentType="image/jpeg")

    again = host.url_for(media / "photo.jpg", job_id=JOB)
    copy = tmp_path / "cache" / "photo.jpg"  # the same bytes elsewhere (a cached copy)
    copy.parent.mkdir()
    copy.write_bytes(JPEG)
    from_copy = host.url_for(copy, job_id=JOB)

    assert moto.keys(bucket) == [key]
    assert fetch(again).content == b"marker"
    assert fetch(from_copy).content == b"marker"

    (media / "photo.jpg").write_bytes(JPEG + b"edited")
    host.url_for(media / "photo.jpg", job_id=JOB)
    assert len(moto.keys(bucket)) == 2  # new bytes, new object


def signing_region(url: str) -> str:
    credential = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0]
    return credential.split("/")[2]  # key id / date / region / s3 / aws4_request


def test_without_a_region_links_are_signed_for_the_buckets_own(
    moto: MotoS3, bucket: str, media: Path
) -> None:
    # S3 refuses a link signed for another region than the bucket's, and botocore would
    # sign for us-east-1 (or AWS_DEFAULT_REGION) while following redirects for itself.
    paris = moto.new_bucket(region="eu-west-3")
    unset = make_host(paris, moto.endpoint_url, region=None)
    assert signing_region(unset.url_for(media / "photo.jpg", job_id=JOB)) == "eu-west-3"
    assert signing_region(unset.url_for(media / "clip.mp4", job_id=JOB)) == "eu-west-3"

    told = make_host(bucket, moto.endpoint_url, region="ap-south-1")  # configured: kept
    assert signing_region(told.url_for(media / "photo.jpg", job_id=JOB)) == "ap-south-1"


def test_on_aws_a_region_that_is_not_the_buckets_is_refused(
    moto: MotoS3, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No media.s3.endpoint_url: AWS as far as publisher knows (botocore is sent to moto by
    # the environment variable AWS tools honour).
    use_fake_credentials(monkeypatch)
    paris = moto.new_bucket(region="eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto.endpoint_url)
    host = make_host(paris, None, region="us-east-1")

    with pytest.raises(ConfigError) as raised:
        host.url_for(media / "photo.jpg", job_id=JOB)

    (problem,) = raised.value.problems
    assert problem.field == "at 'media.s3.region'"
    assert problem.message == (
        f"bucket {paris!r} is in eu-west-3, not us-east-1; set media.s3.region to eu-west-3 "
        "(or leave it unset)"
    )
    assert moto.keys(paris) == []
    unset = make_host(paris, None, region=None)
    assert signing_region(unset.url_for(media / "photo.jpg", job_id=JOB)) == "eu-west-3"


# --- release and sweep ------------------------------------------------------------------------


def test_release_deletes_the_jobs_objects_and_no_others(
    host: S3Host, moto: MotoS3, bucket: str, media: Path
) -> None:
    for job in (JOB, OTHER_JOB):
        host.url_for(media / "photo.jpg", job_id=job)
        host.url_for(media / "clip.mp4", job_id=job)

    host.release(JOB)
    assert [key.split("/")[1] for key in moto.keys(bucket)] == [OTHER_JOB, OTHER_JOB]

    host.release(OTHER_JOB)
    host.release(OTHER_JOB)  # twice: nothing left to do, no error
    assert moto.keys(bucket) == []


def test_sweep_deletes_what_inactive_jobs_left_and_keeps_the_rest(
    host: S3Host, moto: MotoS3, bucket: str, media: Path
) -> None:
    host.url_for(media / "photo.jpg", job_id=JOB)  # a crashed run's job, now done
    kept = host.url_for(media / "clip.mp4", job_id=OTHER_JOB)  # still active
    host.url_for(media / "photo.jpg")  # no job given: unowned
    foreign = ["publisher/notes.txt", "publisher/a/b/c/d.jpg", f"elsewhere/{JOB}/{sha(JPEG)}/x"]
    for key in foreign:
        moto.s3.put_object(Bucket=bucket, Key=key, Body=b"not ours")

    host.sweep({OTHER_JOB})

    assert moto.keys(bucket) == sorted([*foreign, f"publisher/{OTHER_JOB}/{sha(MP4)}/clip.mp4"])
    assert fetch(kept).status_code == 200


def test_a_prefix_without_a_slash_is_used_as_written(
    moto: MotoS3, bucket: str, media: Path
) -> None:
    host = make_host(bucket, moto.endpoint_url, prefix="ig-")
    host.url_for(media / "photo.jpg", job_id=JOB)
    assert moto.keys(bucket) == [f"ig-{JOB}/{sha(JPEG)}/photo.jpg"]
    host.sweep(set())
    assert moto.keys(bucket) == []


# --- the doctor's check ------------------------------------------------------------------------


def test_check_passes_on_a_good_setup_and_leaves_nothing(
    host: S3Host, moto: MotoS3, bucket: str
) -> None:
    assert host.check() is None
    assert moto.keys(bucket) == []


# --- setup problems, each a sentence naming what to change ------------------------------------


def error_texts(exc: BaseException) -> str:
    return "\n".join(exception_texts(exc))


def test_a_bucket_that_does_not_exist(
    moto: MotoS3, bucket: str, media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host = make_host("no-such-bucket-here", moto.endpoint_url)

    with pytest.raises(ConfigError) as raised:
        host.url_for(media / "photo.jpg", job_id=JOB)

    (problem,) = raised.value.problems
    assert (problem.path, problem.field) == ("/site/config.yaml", "at 'media.s3.bucket'")
    assert problem.message == (
        f"bucket 'no-such-bucket-here' does not exist at {moto.endpoint_url}; create it, or "
        "set media.s3.bucket to a bucket that exists there"
    )
    assert host.check() == str(raised.value)
    # release and sweep are best effort: logged, never raised
    caplog.set_level(logging.WARNING, logger="publisher.hosting.s3")
    host.release(JOB)
    host.sweep(set())
    assert [record.getMessage() for record in caplog.records] == [
        f"media: the objects of job {JOB} were not deleted: {raised.value}",
        f"media: leftovers in the bucket were not swept: {raised.value}",
    ]


@pytest.mark.parametrize(
    ("who", "secret", "says"),
    [
        (
            "unknown",
            "any",
            "does not know the access key id (InvalidAccessKeyId); set AWS_ACCESS_KEY_ID (or "
            "the profile in ~/.aws/credentials) to a key of the account that owns bucket "
            "'{bucket}', or check media.s3.endpoint_url",
        ),
        (
            "allowed",
            "wrong secret for this key 0123456789abc",
            "refused the signature (SignatureDoesNotMatch): the secret key is not the access "
            "key's; set AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials) to the secret that came "
            "with AWS_ACCESS_KEY_ID",
        ),
        (
            "denied",
            None,
            "denies them the media upload in bucket '{bucket}' (AccessDenied); allow "
            "s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on "
            "arn:aws:s3:::{bucket} and arn:aws:s3:::{bucket}/publisher/*",
        ),
    ],
)
def test_refused_credentials(
    moto: MotoS3,
    bucket: str,
    media: Path,
    monkeypatch: pytest.MonkeyPatch,
    who: str,
    secret: str | None,
    says: str,
) -> None:
    # moto checks credentials once its IAM authentication is on (see tests/support/s3.py):
    # keys unknown to its IAM, a wrong secret and a user without a policy are refused as
    # AWS refuses them.
    with moto.checking_credentials() as users:
        keys = users.get(who)
        access_key = keys.access_key if keys else "AKIAUNKNOWNKEY000000"
        secret_key = secret or (keys.secret_key if keys else "x" * 40)
        use_fake_credentials(monkeypatch, access_key, secret_key)
        host = make_host(bucket, moto.endpoint_url)
        with pytest.raises(ConfigError) as raised:
            host.url_for(media / "photo.jpg", job_id=JOB)
        check = host.check()

    (problem,) = raised.value.problems
    assert problem.path == CREDENTIALS
    assert problem.message == f"{moto.endpoint_url} {says.format(bucket=bucket)}"
    assert check == str(raised.value).replace("media upload", "media check")
    texts = error_texts(raised.value)
    assert access_key not in texts
    assert secret_key not in texts


def test_a_good_key_works_while_credentials_are_checked(
    moto: MotoS3, bucket: str, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control for the test above: the refusals come from the keys, not from moto.
    with moto.checking_credentials() as users:
        use_fake_credentials(monkeypatch, users["allowed"].access_key, users["allowed"].secret_key)
        make_host(bucket, moto.endpoint_url).url_for(media / "photo.jpg", job_id=JOB)
    assert moto.keys(bucket) == [f"publisher/{JOB}/{sha(JPEG)}/photo.jpg"]


def test_no_credentials_at_all(moto: MotoS3, media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_no_credentials(monkeypatch)
    host = make_host("any-bucket", moto.endpoint_url)

    with pytest.raises(ConfigError) as raised:
        host.start()

    (problem,) = raised.value.problems
    assert problem.path == "AWS credentials (AWS_ACCESS_KEY_ID / ~/.aws/credentials)"
    assert problem.message.startswith(
        "none found for media.host: s3; publisher reads them where every AWS tool does, "
        "never from config.yaml: the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
    with pytest.raises(ConfigError) as again:
        host.url_for(media / "photo.jpg", job_id=JOB)
    assert str(again.value) == str(raised.value)
    assert host.check() == str(raised.value)


def test_half_the_credentials(moto: MotoS3, media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_no_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    with pytest.raises(ConfigError) as raised:
        make_host("any-bucket", moto.endpoint_url).start()
    (problem,) = raised.value.problems
    assert problem.path == CREDENTIALS
    assert "AWS_SECRET_ACCESS_KEY" in problem.message
    assert ACCESS_KEY not in error_texts(raised.value)


def test_an_endpoint_that_does_not_answer(
    bucket: str, media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = dead_endpoint()
    host = make_host(bucket, endpoint, attempts=1)
    started = time.monotonic()

    with pytest.raises(Transient) as raised:
        host.url_for(media / "photo.jpg", job_id=JOB)

    assert time.monotonic() - started < 5
    assert raised.value.step == "media upload"
    assert str(raised.value) == (
        f"media upload failed: {endpoint} does not answer (EndpointConnectionError) — check "
        "media.s3.endpoint_url and that the server there is running; publisher tries again"
    )
    assert host.check() == (
        f"media check failed: {endpoint} does not answer (EndpointConnectionError) — check "
        "media.s3.endpoint_url and that the server there is running; publisher tries again"
    )


def test_an_endpoint_url_that_is_not_a_url(bucket: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_host(bucket, "s3.example.org:9000").start()
    (problem,) = raised.value.problems
    assert problem.field == "at 'media.s3.endpoint_url'"
    assert "'s3.example.org:9000' is not an endpoint URL; write it like https://" in str(problem)


# --- secrets ----------------------------------------------------------------------------------


@pytest.fixture
def every_log_line() -> Iterator[Capture]:
    with verbose_capture() as capture:
        yield capture


def test_the_keys_never_reach_a_log_line_or_an_error(
    moto: MotoS3,
    bucket: str,
    media: Path,
    every_log_line: Capture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = make_host(bucket, moto.endpoint_url)
    host.start()
    url = host.url_for(media / "photo.jpg", job_id=JOB)
    host.url_for(media / "photo.jpg", job_id=JOB)
    assert host.check() is None
    host.release(JOB)
    host.sweep(set())
    with pytest.raises(ConfigError) as missing:
        make_host("no-such-bucket-here", moto.endpoint_url).url_for(media / "photo.jpg")
    host.stop()

    assert ACCESS_KEY in url  # the presigned link carries the key id: it is for Meta only
    lines = every_log_line.lines
    assert any("botocore.endpoint: Sending http request" in line for line in lines)
    assert any("botocore.auth: Calculating signature" in line for line in lines)
    text = "\n".join([*lines, capsys.readouterr().err, error_texts(missing.value)])
    assert ACCESS_KEY not in text
    assert SECRET_KEY not in text


# --- make() -----------------------------------------------------------------------------------


def test_make_builds_the_s3_host_from_config_yaml(
    moto: MotoS3, bucket: str, media: Path, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "accounts:\n  main:\n    ig_user_id: '17841400000000000'\n"
        "media:\n  host: s3\n  link_ttl: 30m\n"
        f"  s3: {{bucket: {bucket}, prefix: media/, endpoint_url: '{moto.endpoint_url}', "
        "region: us-east-1}\n",
        encoding="utf-8",
    )
    config = config_module.load(path, environ={})

    host = mediahost.make(config, clock=lambda: datetime.now(UTC))
    host.start()
    url = host.url_for(media / "photo.jpg", job_id=JOB)
    host.stop()

    assert isinstance(host, S3Host)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["1800"]
    assert moto.keys(bucket) == [f"media/{JOB}/{sha(JPEG)}/photo.jpg"]
