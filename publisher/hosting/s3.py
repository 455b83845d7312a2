"""`media.host: s3`: the job's media in a bucket (AWS S3, Cloudflare R2, MinIO, any S3 API),
handed to Instagram as presigned GET links (SPEC §7).

`url_for(path, job_id=...)` is called while the containers are made, so a file goes up
shortly before Meta fetches it. It is stored as

    s3://{bucket}/{prefix}{job_id}/{sha256 of its bytes}/{its name, ASCII-safe}

(`publisher.hosting.s3layout`) with its Content-Type, unless that object is there already
(HEAD: a retry, a rebuilt container, the same photo twice in a carousel), and the link
returned is presigned (SigV4) for `media.link_ttl`, for the region the bucket reports
(`media.s3.region` may be left unset). `release(job_id)` deletes the job's objects
once it is published, failed or cancelled; `sweep(active_job_ids)`, at start, deletes what
crashed runs left under the prefix for jobs that are no longer active. Both are best effort:
a failure is logged and the objects wait for the next sweep. A `url_for` without a job files
the object under `unowned/`, which the next sweep deletes. So one prefix belongs to one
state_dir: two publishers sharing a prefix would sweep each other's media.

Credentials come from boto3's usual chain (environment, ~/.aws, the instance's role), never
from config.yaml. They are registered with `publisher.logs` as secrets as soon as they are
read (the access key id is in every presigned link, and botocore's debug lines carry it), and
botocore's loggers get the redacting filter. Errors: see `publisher.hosting.s3errors`.

`check()` is the doctor's test: upload a tiny JPEG, fetch it through its presigned link the
way Meta's fetcher does (no cookies, no redirect followed: 200 and image/jpeg), delete it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import boto3
import httpx
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from publisher import confined, logs
from publisher.config import Config
from publisher.errors import ConfigError, Problem, PublisherError
from publisher.hosting import s3errors
from publisher.hosting.mediahost.links import CACHE
from publisher.hosting.mediahost.server import content_type
from publisher.hosting.s3errors import Target
from publisher.hosting.s3layout import UNOWNED, is_owner, object_key, owner_of

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

# SigV4 presigned links live at most 7 days.
MAX_LINK_TTL = timedelta(days=7)
CHECK_NAME = "publisher-check.jpg"
# Loggers of the SDK that may print signed requests at DEBUG (botocore.endpoint prints the
# Authorization header, with the access key id).
SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")


# --- pure helpers -------------------------------------------------------------------------


def fetch_problem(response: httpx.Response, expected: bytes) -> str | None:
    """Given the answer to a presigned test link (fetched without following redirects) and
    the bytes stored there, return None if Meta's fetcher would take it, else why not."""
    if response.is_redirect:
        return (
            f"the presigned link answers {response.status_code} (a redirect; Meta does not "
            "follow it): set media.s3.region to the bucket's region, or media.s3.endpoint_url "
            "to the host the redirect names"
        )
    if response.status_code != 200:
        return (
            f"the presigned link answers {response.status_code}, not 200: check "
            "media.s3.region, media.s3.endpoint_url and this machine's clock (a signature "
            "made for another region, host or time is refused)"
        )
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "image/jpeg":
        return (
            f"the presigned link answers with Content-Type {kind or 'none'}, not image/jpeg: "
            "the endpoint does not keep the type set at upload; media.s3.endpoint_url may "
            "point at a page or a proxy rather than the S3 API"
        )
    if response.content != expected:
        return (
            "the presigned link answers with other bytes than were uploaded: "
            "media.s3.endpoint_url may point at a page or a proxy rather than the S3 API"
        )
    return None


def _test_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 60, 40)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


# --- the host -----------------------------------------------------------------------------


class S3Host:
    """`media.host: s3` (module doc). Owns a boto3 S3 client, made by `start()` (or the
    first call that needs it); thread-safe, as the daemon's workers share it.

    `media_dirs` are the folders a file may be read from (content_dir, state_dir/cache):
    a file is opened beneath one of them, no link followed out of it (`confined`).
    `attempts` is botocore's: each S3 request is tried this many times (backoff between)
    before an error is raised.
    """

    def __init__(
        self,
        *,
        target: Target,
        link_ttl: timedelta,
        media_dirs: Sequence[Path],
        attempts: int = 3,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ) -> None:
        if not timedelta(seconds=1) <= link_ttl <= MAX_LINK_TTL:
            raise ConfigError(
                [
                    Problem(
                        target.config_path,
                        "at 'media.link_ttl'",
                        "presigned S3 links last at most 7 days (SigV4); set media.link_ttl "
                        "to 7d or less",
                    )
                ]
            )
        self._target = target
        self._media_dirs = [Path(os.path.realpath(folder)) for folder in media_dirs]
        self._expires_in = int(link_ttl.total_seconds())
        # Path-style addressing for other endpoints (MinIO needs it; R2 and others take it);
        # AWS picks virtual hosts itself. Checksums only where the API requires them: the
        # default CRC32 headers of botocore 1.36 are refused by some S3-compatible servers.
        self._boto_config = BotoConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if target.endpoint_url else "auto"},
            retries={"total_max_attempts": attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._s3: S3Client | None = None
        # Whether the bucket was asked its region (at the first request: see _settle_region).
        self._region_known = False

    # --- the MediaHost protocol -----------------------------------------------------------

    def start(self) -> None:
        """Read the credentials and make the client: no credentials, or an endpoint_url
        botocore cannot use, is a ConfigError now rather than at the first slot. No request
        is sent (a bucket that does not exist shows at the first upload, or in `check()`)."""
        self._client()

    def stop(self) -> None:
        """Close the client's connections. Safe to call twice; the host can start again."""
        with self._lock:
            client, self._s3, self._session = self._s3, None, None
            self._region_known = False
        if client is not None:
            client.close()

    def url_for(self, path: Path, *, job_id: str | None = None) -> str:
        """Given a media file (the user's, or its converted copy) and the job it is sent
        for, upload it unless the same bytes are already stored for that job, and return a
        presigned GET link valid for `link_ttl`.

        The file is opened once, beneath the media folder it is in (a link swapped in to
        lead out of it is not followed), and hashed and uploaded from that descriptor.

        Raise ConfigError for a setup problem (bucket, credentials, region), Transient if
        S3 does not answer or answers 5xx, OSError if the file cannot be read
        (OutsideContentDir if it leads out of the media folders), ValueError if `job_id`
        cannot name a folder.
        """
        with self._open(path) as body:
            hashed = hashlib.sha256()
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                hashed.update(chunk)
            digest = hashed.hexdigest()
            key = object_key(self._target.prefix, job_id or UNOWNED, digest, path.name)
            with self._translated("media upload") as client:
                if self._stored(client, key):
                    log.debug("media: %s is already in the bucket", path.name)
                else:
                    body.seek(0)
                    client.put_object(
                        Bucket=self._target.bucket,
                        Key=key,
                        Body=body,
                        ContentType=content_type(path),
                    )
                    log.info("media: uploaded %s to the bucket", path.name)
                return self._presign(client, key)

    def release(self, job_id: str) -> None:
        """Delete the job's objects (the job is published, failed or cancelled). Best
        effort: a failure is logged, and the next start's sweep deletes them."""
        if not is_owner(job_id):
            return
        try:
            with self._translated("media cleanup") as client:
                keys = list(self._keys(client, f"{self._target.prefix}{job_id}/"))
                self._delete(client, keys)
        except PublisherError as exc:
            log.warning("media: the objects of job %s were not deleted: %s", job_id, exc)
            return
        if keys:
            log.info("media: deleted %d object(s) of job %s", len(keys), job_id)

    def sweep(self, active_job_ids: Collection[str]) -> None:
        """Delete every object of ours under the prefix whose job is not in
        `active_job_ids` (left by a crashed run). Objects not laid out as ours are kept.
        Best effort: a failure is logged."""
        active = set(active_job_ids)
        prefix = self._target.prefix
        try:
            with self._translated("media cleanup") as client:
                stale = [
                    key
                    for key in self._keys(client, prefix)
                    if (owner := owner_of(prefix, key)) is not None and owner not in active
                ]
                self._delete(client, stale)
        except PublisherError as exc:
            log.warning("media: leftovers in the bucket were not swept: %s", exc)
            return
        if stale:
            log.info("media: swept %d object(s) left by earlier runs", len(stale))

    # --- the doctor -----------------------------------------------------------------------

    def check(self) -> str | None:
        """Upload a tiny JPEG, fetch it through its presigned link as Meta's fetcher would
        (no cookies, no redirect followed), delete it. Return None if Meta could fetch it,
        else the sentence that says what is wrong and what to change."""
        data = _test_jpeg()
        owner = f"check-{secrets.token_hex(6)}"
        key = object_key(self._target.prefix, owner, hashlib.sha256(data).hexdigest(), CHECK_NAME)
        try:
            with self._translated("media check") as client:
                client.put_object(
                    Bucket=self._target.bucket, Key=key, Body=data, ContentType="image/jpeg"
                )
                try:
                    return _fetch(self._presign(client, key), data)
                finally:
                    client.delete_object(Bucket=self._target.bucket, Key=key)
        except PublisherError as exc:
            return str(exc)

    # --- inside ---------------------------------------------------------------------------

    def _open(self, path: Path) -> BinaryIO:
        """`path` opened beneath the media folder its real location is in. Raise
        OutsideContentDir if it is in none, OSError if it cannot be opened."""
        real = Path(os.path.realpath(path))
        for folder in self._media_dirs:
            if real.is_relative_to(folder):
                return confined.open_beneath(folder, path)
        raise confined.OutsideContentDir(0, f"{path} is not in the media folders")

    def _client(self) -> S3Client:
        with self._lock:
            if self._s3 is not None:
                return self._s3
            try:
                session = boto3.session.Session(region_name=self._target.region)
                _remember(session.get_credentials())
                self._s3 = session.client(
                    "s3", endpoint_url=self._target.endpoint_url, config=self._boto_config
                )
            except BotoCoreError as exc:
                raise s3errors.translate(exc, self._target, "media setup") from exc
            except ValueError as exc:  # botocore: "Invalid endpoint: ..."
                raise s3errors.config_problem(
                    self._target,
                    "endpoint_url",
                    f"{self._target.endpoint_url!r} is not an endpoint URL; write it like "
                    "https://<account>.r2.cloudflarestorage.com, or leave it unset for AWS",
                ) from exc
            self._session = session
            return self._s3

    @contextmanager
    def _translated(self, step: str) -> Iterator[S3Client]:
        """`with self._translated(step) as client:` the client, with every botocore error
        inside the block raised as ours (ConfigError or Transient)."""
        client = self._client()
        with self._lock:
            session, region_known = self._session, self._region_known
        try:
            if session is not None:  # refreshed credentials (a role's) are new secrets
                _remember(session.get_credentials())
            _guard_sdk_logs()  # SDK modules imported since make new loggers
            if not region_known:
                client = self._settle_region(client)
            yield client
        except (BotoCoreError, ClientError) as exc:
            raise s3errors.translate(exc, self._target, step) from exc

    def _settle_region(self, client: S3Client) -> S3Client:
        """Make sure links are signed for the bucket's region, which HEAD bucket reports
        (x-amz-bucket-region): botocore follows a wrong region for its own requests, but a
        link presigned for another region is refused, and Meta would only say "could not
        be fetched". With media.s3.region unset, sign for the reported region; on AWS, a
        configured region that is not the bucket's is a ConfigError. (Other S3 APIs name
        their regions their own way: a configured one is kept.)"""
        try:
            answer = client.head_bucket(Bucket=self._target.bucket)
            headers = answer["ResponseMetadata"]["HTTPHeaders"]
        except ClientError as exc:  # the header comes with a 301 or 403 too
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        region = headers.get("x-amz-bucket-region")
        wrong = bool(region) and region != client.meta.region_name
        if wrong and self._target.region is not None and self._target.endpoint_url is None:
            raise s3errors.config_problem(  # asked again at the next request
                self._target,
                "region",
                f"bucket {self._target.bucket!r} is in {region}, not {self._target.region}; "
                f"set media.s3.region to {region} (or leave it unset)",
            )
        with self._lock:
            self._region_known = True
            if wrong and self._target.region is None and self._session is not None:
                self._s3 = self._session.client(
                    "s3",
                    region_name=region,
                    endpoint_url=self._target.endpoint_url,
                    config=self._boto_config,
                )
            return self._s3 or client

    def _stored(self, client: S3Client, key: str) -> bool:
        """True if the object is there. A 403 counts as absent: without s3:ListBucket,
        S3 answers 403 rather than 404 for a missing key; the upload then says more."""
        try:
            client.head_object(Bucket=self._target.bucket, Key=key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (403, 404):
                return False
            raise
        return True

    def _presign(self, client: S3Client, key: str) -> str:
        url: str = client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._target.bucket, "Key": key},
            ExpiresIn=self._expires_in,
        )
        return url

    def _keys(self, client: S3Client, prefix: str) -> Iterator[str]:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._target.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if "Key" in item:
                    yield item["Key"]

    def _delete(self, client: S3Client, keys: list[str]) -> None:
        # One DELETE per key: DeleteObjects needs a Content-MD5 or checksum header that
        # S3-compatible servers disagree on, and a job has a handful of objects.
        for key in keys:
            client.delete_object(Bucket=self._target.bucket, Key=key)


def _fetch(url: str, expected: bytes) -> str | None:
    """Fetch a presigned link as Meta does and say what is wrong with the answer."""
    try:
        with httpx.Client(follow_redirects=False, timeout=15.0) as http:
            response = http.get(url, headers={"Accept": "*/*"})
    except httpx.HTTPError as exc:
        return (
            f"the presigned link could not be fetched ({type(exc).__name__}): "
            "media.s3.endpoint_url must be reachable from the internet, where Meta fetches"
        )
    return fetch_problem(response, expected)


def _remember(credentials: Credentials | None) -> None:
    """Register the credentials as secrets for the logs; raise ConfigError if there are
    none (boto3 would only say so at the first request)."""
    if credentials is None:
        raise s3errors.credentials_problem(
            f"none found for media.host: s3; {s3errors.WHERE_CREDENTIALS_COME_FROM}"
        )
    frozen = credentials.get_frozen_credentials()
    for value in (frozen.access_key, frozen.secret_key, frozen.token):
        if value:
            logs.register_secret(value)


def _guard_sdk_logs() -> None:
    """Give every SDK logger the redacting filter (a logger's filter does not see its
    children's records, so each is given one)."""
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in SDK_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, logs.RedactingFilter) for f in logger.filters):
                logger.addFilter(logs.RedactingFilter())


def make(config: Config) -> S3Host:
    """Given the config (`media.host: s3`), return the S3Host it describes (not started).
    Raise ConfigError if `media.s3.bucket` is not set or `media.link_ttl` is over 7 days."""
    settings = config.media.s3
    if not settings.bucket:
        raise ConfigError(
            [
                Problem(
                    str(config.config_path),
                    "at 'media.s3.bucket'",
                    "media.host is s3 but no bucket is set; set media.s3.bucket to the "
                    "bucket that holds the media",
                )
            ]
        )
    target = Target(
        bucket=settings.bucket,
        prefix=settings.prefix,
        endpoint_url=settings.endpoint_url,
        region=settings.region,
        config_path=str(config.config_path),
    )
    return S3Host(
        target=target,
        link_ttl=config.media.link_ttl,
        media_dirs=(config.content_dir, config.state_dir / CACHE),
    )
