"""What an S3 failure means, in a sentence the user can act on (`media.host: s3`).

`translate(exc, target, step)` turns any botocore exception into one of ours, so that nothing
above `publisher.hosting` sees botocore:

- a setup problem, which only the user can fix (no bucket, credentials missing or refused,
  the wrong region, a certificate the system does not trust) → `ConfigError`, whose Problem
  names the key to change (`media.s3.bucket`, `media.s3.region`, `media.s3.endpoint_url`) or
  the credentials (`CREDENTIALS`) and says how;
- a blip (the endpoint does not answer, a 5xx, throttling) → `Transient`, which the publish
  flow retries with backoff.

Sentences are built from the error code and our own words, never from the server's message
or `str(exc)`: a refused request's answer may echo the access key id.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from publisher.errors import ConfigError, Problem, Transient

CREDENTIALS = "AWS credentials (AWS_ACCESS_KEY_ID / ~/.aws/credentials)"
WHERE_CREDENTIALS_COME_FROM = (
    "publisher reads them where every AWS tool does, never from config.yaml: the environment "
    "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), the shared credentials "
    "file (~/.aws/credentials, or the file AWS_SHARED_CREDENTIALS_FILE names), or the "
    "instance's role"
)
PERMISSIONS = "s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket"

_NO_BUCKET = frozenset({"NoSuchBucket"})
_BAD_BUCKET_NAME = frozenset({"InvalidBucketName"})
_UNKNOWN_KEY = frozenset({"InvalidAccessKeyId", "InvalidClientTokenId"})
_WRONG_SECRET = frozenset({"SignatureDoesNotMatch"})
_EXPIRED = frozenset({"ExpiredToken", "InvalidToken", "TokenRefreshRequired"})
_DENIED = frozenset({"AccessDenied", "AllAccessDisabled", "403", "Forbidden"})
_REGION = frozenset(
    {"AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException"}
)
_SKEW = frozenset({"RequestTimeTooSkewed"})
_BUSY = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "RequestLimitExceeded",
    }
)


@dataclass(frozen=True)
class Target:
    """Where the media goes, from `media.s3`, and the config file that says so."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    config_path: str

    @property
    def where(self) -> str:
        """The endpoint in words: the configured URL, or AWS S3 and its region."""
        if self.endpoint_url:
            return self.endpoint_url
        return f"AWS S3 ({self.region or 'the default region'})"


def translate(exc: Exception, target: Target, step: str) -> ConfigError | Transient:
    """Given an exception raised by boto3 during `step` ("media upload", "media check",
    "media cleanup"), return the error of ours that says what it means and what to do."""
    if isinstance(exc, NoCredentialsError):
        return credentials_problem(f"none found for media.host: s3; {WHERE_CREDENTIALS_COME_FROM}")
    if isinstance(exc, PartialCredentialsError | ProfileNotFound):
        # Their texts name a variable or a profile, never a value.
        return credentials_problem(f"{exc}; {WHERE_CREDENTIALS_COME_FROM}")
    if isinstance(exc, CredentialRetrievalError):
        return credentials_problem(
            f"could not be obtained ({type(exc).__name__}); {WHERE_CREDENTIALS_COME_FROM}"
        )
    if isinstance(exc, SSLError):
        return config_problem(
            target,
            "endpoint_url",
            f"{target.where} has a TLS certificate this system does not trust; give it one "
            "that is (Meta's servers check it too), or point media.s3.endpoint_url at the "
            "right host",
        )
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return unreachable(target, step, type(exc).__name__)
    if isinstance(exc, ClientError):
        return _client_error(exc, target, step)
    if isinstance(exc, BotoCoreError):
        return Transient(f"S3 failed ({type(exc).__name__})", step=step, hint=_RETRY)
    raise TypeError(f"not a botocore exception: {type(exc).__name__}") from exc


_RETRY = "publisher tries again"


def unreachable(target: Target, step: str, reason: str) -> Transient:
    """The endpoint did not answer (refused, timed out, cut off)."""
    if target.endpoint_url:
        hint = f"check media.s3.endpoint_url and that the server there is running; {_RETRY}"
    else:
        hint = (
            "check this machine's network (media.s3.endpoint_url is not set, so this is AWS); "
            + _RETRY
        )
    return Transient(f"{target.where} does not answer ({reason})", step=step, hint=hint)


def credentials_problem(message: str) -> ConfigError:
    return ConfigError([Problem(CREDENTIALS, "", message)])


def config_problem(target: Target, key: str, message: str) -> ConfigError:
    """A problem with `media.s3.<key>` in config.yaml."""
    return ConfigError([Problem(target.config_path, f"at 'media.s3.{key}'", message)])


def _client_error(exc: ClientError, target: Target, step: str) -> ConfigError | Transient:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "") or "")
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    bucket = target.bucket
    if code in _NO_BUCKET:
        return config_problem(
            target,
            "bucket",
            f"bucket {bucket!r} does not exist at {target.where}; create it, or set "
            "media.s3.bucket to a bucket that exists there",
        )
    if code in _BAD_BUCKET_NAME:
        return config_problem(
            target,
            "bucket",
            f"{bucket!r} is not a valid bucket name; set media.s3.bucket to the name of your "
            "bucket (3-63 lower-case letters, digits, dots and hyphens)",
        )
    if code in _UNKNOWN_KEY:
        return credentials_problem(
            f"{target.where} does not know the access key id ({code}); set AWS_ACCESS_KEY_ID "
            "(or the profile in ~/.aws/credentials) to a key of the account that owns bucket "
            f"{bucket!r}, or check media.s3.endpoint_url"
        )
    if code in _WRONG_SECRET:
        return credentials_problem(
            f"{target.where} refused the signature ({code}): the secret key is not the access "
            "key's; set AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials) to the secret that came "
            "with AWS_ACCESS_KEY_ID"
        )
    if code in _EXPIRED:
        return credentials_problem(
            f"the session token has expired or is not valid ({code}); renew the temporary "
            "credentials (AWS_SESSION_TOKEN), or use long-term keys or an instance role"
        )
    if code in _DENIED:
        return credentials_problem(
            f"{target.where} denies them the {step} in bucket {bucket!r} "
            f"({'AccessDenied' if code.isdigit() else code}); allow {PERMISSIONS} on "
            f"arn:aws:s3:::{bucket} and arn:aws:s3:::{bucket}/{target.prefix}*"
        )
    if code in _REGION or status == 301:
        return config_problem(
            target,
            "region",
            f"bucket {bucket!r} is not in {target.region or 'the default region'} ({code}); "
            "set media.s3.region to the bucket's region",
        )
    if code in _SKEW:
        return ConfigError(
            [
                Problem(
                    "this machine's clock",
                    "",
                    f"it is too far from {target.where}'s ({code}); keep it in sync "
                    "(timedatectl set-ntp true)",
                )
            ]
        )
    if code in _BUSY or status >= 500:
        return Transient(
            f"{target.where} answered HTTP {status} ({code or 'no code'})", step=step, hint=_RETRY
        )
    return config_problem(
        target,
        "bucket",
        f"{target.where} refused the {step} in bucket {bucket!r} ({code or 'no code'}, HTTP "
        f"{status}); check media.s3 and what the bucket allows",
    )
