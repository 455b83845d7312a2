"""A real S3 API on loopback for tests: moto's server mode, started in this process on
127.0.0.1 and a free port (nothing to install but the test extras, no Docker), and the
environment boto3 reads its credentials from, made by the test (no ~/.aws, no instance
metadata lookup).

    with moto_s3() as server:            # or the `moto` fixture of a test module
        use_fake_credentials(monkeypatch)
        bucket = server.new_bucket()
        ... S3Host(target=Target(bucket=bucket, endpoint_url=server.endpoint_url, ...))
        assert server.keys(bucket) == []

moto keeps its state per process: each test takes a new bucket, and `moto_s3` resets moto
when it stops. `server.checking_credentials()` turns on moto's IAM authentication (off by
default: moto takes any key) for tests of refused credentials.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

REGION = "us-east-1"
# Shaped like real keys (20 and 40 characters), so that redaction treats them as it would.
ACCESS_KEY = "AKIAMOTOTESTKEY12345"
SECRET_KEY = "motoTestSecret/0123456789abcdefghijklmnop"
# Every variable botocore reads that could point it at a real account or another endpoint.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)
_ALLOW_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)


def use_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment where boto3 finds no credentials at all, and looks nowhere else."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    missing = "/nonexistent/publisher-tests/aws"
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{missing}/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{missing}/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 169.254.169.254 lookup


def use_fake_credentials(
    monkeypatch: pytest.MonkeyPatch, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY
) -> None:
    """The environment of a user whose keys are in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."""
    use_no_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)


def dead_endpoint() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str


@dataclass
class MotoS3:
    """A running moto server and the test's own view of it (its own fixed keys)."""

    endpoint_url: str

    def client(self, service: str = "s3") -> Any:
        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        )
        config = BotoConfig(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1})
        return session.client(service, endpoint_url=self.endpoint_url, config=config)

    @cached_property
    def s3(self) -> S3Client:
        """The test's own S3 client (made once: a client takes a tenth of a second)."""
        client: S3Client = self.client("s3")
        return client

    def new_bucket(self, region: str = REGION) -> str:
        """Create a bucket no other test uses, in `region`; return its name."""
        name = f"media-{uuid.uuid4().hex[:12]}"
        if region == REGION:
            self.s3.create_bucket(Bucket=name)
        else:
            self.s3.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every key in the bucket, sorted."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    @contextmanager
    def checking_credentials(self) -> Iterator[dict[str, Keys]]:
        """Make IAM users ("allowed": s3:* on everything; "denied": no policy), then turn on
        moto's authentication: from then on a request must be signed with a known key and
        its secret, and be allowed. Yield the users' keys; turn it off again at the end."""
        iam = self.client("iam")
        users: dict[str, Keys] = {}
        for name in ("allowed", "denied"):
            user = f"{name}-{uuid.uuid4().hex[:8]}"
            iam.create_user(UserName=user)
            made = iam.create_access_key(UserName=user)["AccessKey"]
            users[name] = Keys(made["AccessKeyId"], made["SecretAccessKey"])
            if name == "allowed":
                iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=_ALLOW_ALL)
        self._set_auth("0")
        try:
            yield users
        finally:
            self._set_auth("inf")

    def _set_auth(self, unauthenticated_requests: str) -> None:
        # moto's own API: how many requests pass before authentication starts ("inf": never).
        answer = httpx.post(
            f"{self.endpoint_url}/moto-api/reset-auth", content=unauthenticated_requests
        )
        answer.raise_for_status()


@contextmanager
def moto_s3() -> Iterator[MotoS3]:
    """Start moto's server on 127.0.0.1 and a free port; stop and reset it at the end."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs each request line, presigned query strings included: the fake's logs,
    # not ours; keep them out of the tests' captured records.
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    try:
        yield MotoS3(endpoint_url)
    finally:
        httpx.post(f"{endpoint_url}/moto-api/reset")
        server.stop()
        werkzeug.setLevel(level)
