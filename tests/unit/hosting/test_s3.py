"""`media.host: s3` without a server: key layout, what S3's errors mean, what the doctor's
fetch accepts. (The host against a real S3 API: tests/integration/test_s3_host.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSLError,
)

from publisher import config as config_module
from publisher.errors import ConfigError, Transient
from publisher.hosting import mediahost
from publisher.hosting.s3 import S3Host, fetch_problem
from publisher.hosting.s3errors import CREDENTIALS, Target, translate
from publisher.hosting.s3layout import object_key, owner_of, safe_name

DIGEST = "ab" * 32
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
AWS = Target("photos", "publisher/", None, "eu-west-3", "/site/config.yaml")
R2 = Target("photos", "ig/", "https://acc.r2.cloudflarestorage.com", "auto", "/site/config.yaml")


# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("photo.jpg", "photo.jpg"),
        ("IMG_0042.JPG", "IMG_0042.JPG"),
        ("été à la mer.jpg", "ete-a-la-mer.jpg"),
        ("a/b?c#d&e=f.jpg", "a-b-c-d-e-f.jpg"),
        ("日本.jpg", "media.jpg"),
        ("archive.tar.gz", "archive.tar.gz"),
        ("no suffix", "no-suffix"),
        ("???", "media"),
        ("..", "media"),
        ("x" * 300 + ".jpg", "x" * 100 + ".jpg"),
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_object_key_and_owner_of_agree() -> None:
    key = object_key("publisher/", "6f1c0a9e", DIGEST, "été.jpg")
    assert key == f"publisher/6f1c0a9e/{DIGEST}/ete.jpg"
    assert owner_of("publisher/", key) == "6f1c0a9e"
    assert owner_of("", object_key("", "unowned", DIGEST, "a.mp4")) == "unowned"


@pytest.mark.parametrize(
    "key",
    [
        f"other/job/{DIGEST}/a.jpg",  # outside the prefix
        "publisher/notes.txt",
        f"publisher/job/{DIGEST}/",  # no name
        "publisher/job/not-a-digest/a.jpg",
        f"publisher/job/{DIGEST}/deeper/a.jpg",
        f"publisher/jo b/{DIGEST}/a.jpg",
    ],
)
def test_owner_of_leaves_keys_that_are_not_ours(key: str) -> None:
    assert owner_of("publisher/", key) is None


@pytest.mark.parametrize(("owner", "digest"), [("a/b", DIGEST), ("", DIGEST), ("job", "abc")])
def test_object_key_refuses_other_shapes(owner: str, digest: str) -> None:
    with pytest.raises(ValueError):
        object_key("publisher/", owner, digest, "a.jpg")


# --- what S3's errors mean ----------------------------------------------------------------


def client_error(code: str, status: int, operation: str = "PutObject") -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "server words AKIAEXAMPLEKEY"}}
    response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("error", "path", "field", "says"),
    [
        (
            client_error("NoSuchBucket", 404),
            "/site/config.yaml",
            "at 'media.s3.bucket'",
            "bucket 'photos' does not exist at AWS S3 (eu-west-3); create it, or set "
            "media.s3.bucket to a bucket that exists there",
        ),
        (
            client_error("InvalidBucketName", 400),
            "/site/config.yaml",
            "at 'media.s3.bucket'",
            "'photos' is not a valid bucket name; set media.s3.bucket",
        ),
        (
            client_error("InvalidAccessKeyId", 403),
            CREDENTIALS,
            "",
            "AWS S3 (eu-west-3) does not know the access key id (InvalidAccessKeyId)",
        ),
        (
            client_error("SignatureDoesNotMatch", 403),
            CREDENTIALS,
            "",
            "refused the signature (SignatureDoesNotMatch)",
        ),
        (
            client_error("AccessDenied", 403),
            CREDENTIALS,
            "",
            "denies them the media upload in bucket 'photos' (AccessDenied); allow "
            "s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on "
            "arn:aws:s3:::photos and arn:aws:s3:::photos/publisher/*",
        ),
        (  # HEAD answers have no body, so no code: the status stands for it
            client_error("403", 403, "HeadObject"),
            CREDENTIALS,
            "",
            "denies them the media upload in bucket 'photos' (AccessDenied)",
        ),
        (
            client_error("ExpiredToken", 400),
            CREDENTIALS,
            "",
            "the session token has expired or is not valid (ExpiredToken)",
        ),
        (
            client_error("AuthorizationHeaderMalformed", 400),
            "/site/config.yaml",
            "at 'media.s3.region'",
            "bucket 'photos' is not in eu-west-3 (AuthorizationHeaderMalformed); set "
            "media.s3.region to the bucket's region",
        ),
        (
            client_error("PermanentRedirect", 301),
            "/site/config.yaml",
            "at 'media.s3.region'",
            "set media.s3.region",
        ),
        (
            client_error("RequestTimeTooSkewed", 403),
            "this machine's clock",
            "",
            "timedatectl set-ntp true",
        ),
        (
            client_error("MalformedXML", 400),
            "/site/config.yaml",
            "at 'media.s3.bucket'",
            "AWS S3 (eu-west-3) refused the media upload in bucket 'photos' (MalformedXML, "
            "HTTP 400); check media.s3",
        ),
        (
            NoCredentialsError(),
            CREDENTIALS,
            "",
            "none found for media.host: s3; publisher reads them",
        ),
        (
            PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            CREDENTIALS,
            "",
            "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY",
        ),
        (
            ProfileNotFound(profile="work"),
            CREDENTIALS,
            "",
            "The config profile (work) could not be found",
        ),
        (
            SSLError(endpoint_url="https://minio.lan", error="certificate verify failed"),
            "/site/config.yaml",
            "at 'media.s3.endpoint_url'",
            "has a TLS certificate this system does not trust",
        ),
    ],
)
def test_setup_problems_name_what_to_change(
    error: Exception, path: str, field: str, says: str
) -> None:
    translated = translate(error, AWS, "media upload")

    assert isinstance(translated, ConfigError)
    (problem,) = translated.problems
    assert (problem.path, problem.field) == (path, field)
    assert says in problem.message
    assert "AKIAEXAMPLEKEY" not in str(translated)  # the server's words are not repeated


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            EndpointConnectionError(endpoint_url="https://acc.r2.cloudflarestorage.com"),
            "https://acc.r2.cloudflarestorage.com does not answer (EndpointConnectionError) — "
            "check media.s3.endpoint_url and that the server there is running",
        ),
        (
            ConnectTimeoutError(endpoint_url="https://acc.r2.cloudflarestorage.com"),
            "does not answer (ConnectTimeoutError)",
        ),
        (
            ReadTimeoutError(endpoint_url="https://acc.r2.cloudflarestorage.com"),
            "does not answer (ReadTimeoutError)",
        ),
        (client_error("SlowDown", 503), "answered HTTP 503 (SlowDown) — publisher tries again"),
        (client_error("InternalError", 500), "answered HTTP 500 (InternalError)"),
        (client_error("", 502), "answered HTTP 502 (no code)"),
    ],
)
def test_blips_are_transient(error: Exception, says: str) -> None:
    translated = translate(error, R2, "media upload")

    assert isinstance(translated, Transient)
    assert translated.step == "media upload"
    assert says in str(translated)


def test_an_unreachable_aws_points_at_the_network() -> None:
    translated = translate(EndpointConnectionError(endpoint_url="https://s3"), AWS, "media check")
    assert str(translated) == (
        "media check failed: AWS S3 (eu-west-3) does not answer (EndpointConnectionError) — "
        "check this machine's network (media.s3.endpoint_url is not set, so this is AWS); "
        "publisher tries again"
    )


# --- the doctor's fetch -------------------------------------------------------------------


JPEG = b"\xff\xd8\xff\xe0test\xff\xd9"


@pytest.mark.parametrize(
    ("status", "headers", "body", "says"),
    [
        (200, {"content-type": "image/jpeg"}, JPEG, None),
        (200, {"content-type": "image/jpeg; charset=binary"}, JPEG, None),
        (301, {"location": "https://elsewhere/"}, b"", "answers 301 (a redirect"),
        (307, {"location": "https://elsewhere/"}, b"", "set media.s3.region"),
        (403, {"content-type": "application/xml"}, b"<Error/>", "answers 403, not 200"),
        (200, {"content-type": "text/html"}, b"<html>", "Content-Type text/html, not image/"),
        (200, {}, JPEG, "Content-Type none, not image/jpeg"),
        (200, {"content-type": "image/jpeg"}, b"other", "other bytes than were uploaded"),
    ],
)
def test_fetch_problem(status: int, headers: dict[str, str], body: bytes, says: str | None) -> None:
    response = httpx.Response(status, headers=headers, content=body)
    problem = fetch_problem(response, JPEG)
    if says is None:
        assert problem is None
    else:
        assert problem is not None
        assert says in problem


# --- from config.yaml ---------------------------------------------------------------------


def _config(tmp_path: Path, media: str) -> config_module.Config:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"accounts:\n  main:\n    ig_user_id: '17841400000000000'\nmedia:\n{media}",
        encoding="utf-8",
    )
    (tmp_path / "content").mkdir(exist_ok=True)
    return config_module.load(path, environ={})


def test_make_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        mediahost.make(_config(tmp_path, "  host: s3\n"), clock=lambda: T0)
    (problem,) = raised.value.problems
    assert problem.path == str(tmp_path / "config.yaml")
    assert problem.field == "at 'media.s3.bucket'"
    assert "set media.s3.bucket to the bucket that holds the media" in problem.message


def test_links_last_at_most_seven_days(tmp_path: Path) -> None:
    config = _config(tmp_path, "  host: s3\n  link_ttl: 8d\n  s3: {bucket: photos}\n")
    with pytest.raises(ConfigError) as raised:
        mediahost.make(config, clock=lambda: T0)
    (problem,) = raised.value.problems
    assert problem.field == "at 'media.link_ttl'"
    assert "set media.link_ttl to 7d or less" in problem.message
    week = _config(tmp_path, "  host: s3\n  link_ttl: 7d\n  s3: {bucket: photos}\n")
    assert isinstance(mediahost.make(week, clock=lambda: None), S3Host)  # type: ignore[arg-type,return-value]
