"""What config.yaml may hold (SPEC §3), as pydantic models: `Config` and its sections.

Every value is checked here, with a message that says what is allowed; `loading` reads the
file and the environment into these models and words their errors. Tokens are `SecretStr`:
only `tokens` reads their value.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from publisher.config.values import (
    Duration,
    HttpUrl,
    TimeOfDay,
    address,
    host_port,
    parse_days,
    parse_time,
)
from publisher.notify.settings import Notify

ENV_PREFIX = "PUBLISHER_"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slot(_Model):
    """A queue slot: days + times, or a cron expression (minute hour day month weekday)."""

    days: str | list[str] | None = Field(
        None,
        description="mon..sun, ranges and lists (mon-fri, mon,wed,fri, sat-sun), daily, "
        "weekdays, weekends; omitted = every day",
        examples=["mon-fri", "daily", ["mon", "wed", "fri"]],
    )
    times: list[TimeOfDay] | None = Field(
        None,
        description="times of day, HH:MM in 24 h, in the config's timezone",
        examples=[["09:00", "18:30"]],
        json_schema_extra={"items": {"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"}},
    )
    cron: str | None = Field(
        None,
        description="instead of days and times: a cron expression, minute hour day-of-month "
        "month day-of-week",
        examples=["0 11 * * sat"],
    )

    @field_validator("days")
    @classmethod
    def _check_days(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None:
            parse_days(value)
        return value

    @field_validator("times")
    @classmethod
    def _some_times(cls, value: list[TimeOfDay] | None) -> list[TimeOfDay] | None:
        if value is not None and not value:
            raise ValueError('give at least one time, like ["09:00"]')
        return value

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None:
            fields = value.split()
            if len(fields) != 5:
                raise ValueError(
                    f"{value!r} is not a cron expression; write 5 fields: "
                    'minute hour day-of-month month day-of-week, like "0 11 * * sat"'
                )
            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a valid cron expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Slot:
        if self.cron is not None and (self.days is not None or self.times is not None):
            raise ValueError("a slot has either cron, or days and times, not both")
        if self.cron is None and self.times is None:
            raise ValueError(
                'a slot needs times (with optional days), or cron; e.g. times: ["09:00"]'
            )
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        return parse_days(self.days) if self.days is not None else frozenset(range(7))

    @property
    def times_of_day(self) -> list[time]:
        return sorted(parse_time(t) for t in self.times or [])


class Schedule(_Model):
    """The queue: drafts without publish_at take the next free slot."""

    slots: list[Slot] = Field(
        default_factory=list,
        description="the queue's slots: days + times, or cron",
        examples=[[{"days": "mon-fri", "times": ["09:00", "18:30"]}, {"cron": "0 11 * * sat"}]],
    )
    misfire_grace: Duration = Field(
        timedelta(hours=1),
        description="the daemon was down at a draft's time: publish late within this, "
        "else the draft is missed",
    )


# Drafts published at once: a busy site (hundreds of accounts due at the same minute) needs
# as many as accounts due together; each is a thread and an HTTP connection (README).
MAX_CONCURRENCY = 256


class Publishing(_Model):
    """How drafts are published: concurrency, attempts, waits."""

    concurrency: int = Field(
        2,
        ge=1,
        le=MAX_CONCURRENCY,
        description="drafts published at once (never two at once for one account); up to "
        "256 for a site with many accounts due at the same minute",
        examples=[2],
    )
    attempts: int = Field(
        3, ge=1, le=20, description="attempts of a whole publish before failed", examples=[3]
    )
    backoff: Duration = Field(
        timedelta(seconds=5), description="first wait between attempts; doubles each time"
    )
    poll_interval: Duration = Field(
        timedelta(seconds=3), description="container status polling: first interval (may grow)"
    )
    poll_timeout: Duration = Field(
        timedelta(minutes=10), description="give up waiting for a container after this"
    )
    prepare_ahead: Duration = Field(
        timedelta(minutes=10),
        description="create containers this long before the slot, so the post goes out on "
        "time (at most 12h)",
    )

    @field_validator("prepare_ahead")
    @classmethod
    def _under_container_life(cls, value: timedelta) -> timedelta:
        if value > timedelta(hours=12):
            raise ValueError("must be at most 12h: containers expire 24 h after creation")
        return value


API_HOSTS = {
    "instagram": "https://graph.instagram.com",
    "facebook": "https://graph.facebook.com",
}


class Account(_Model):
    """One Instagram account."""

    api: Literal["sandbox", "instagram", "facebook"] = Field(
        "sandbox",
        description="sandbox (the built-in fake Graph API), instagram (Instagram Login, "
        "graph.instagram.com) or facebook (Facebook Login, graph.facebook.com)",
        examples=["instagram"],
    )
    ig_user_id: str = Field(
        description="the Instagram user id (digits; quote it)",
        examples=["17841400000000000"],
        json_schema_extra={"type": ["string", "integer"], "pattern": r"^\d+$"},
    )
    api_version: str = Field(
        "v25.0",
        description="the Graph API version",
        examples=["v25.0"],
        json_schema_extra={"pattern": r"^v\d+\.\d+$"},
    )
    base_url: HttpUrl | None = Field(
        None, description="override the API host (a proxy, a test server)"
    )
    access_token: SecretStr | None = Field(
        None,
        description="better not here: PUBLISHER_ACCOUNTS__<NAME>__ACCESS_TOKEN, "
        "access_token_file, or systemd LoadCredential=<name>-token",
    )
    access_token_file: Path | None = Field(
        None,
        description="a file holding the access token (mode 0600)",
        examples=["/etc/publisher/credentials/main-token"],
    )
    # Instagram Login: refresh the 60-day token before it expires, keep the new one in
    # state_dir/tokens/<account> (SPEC §8; config.refreshed, daemon.tokens).
    token_refresh: bool = Field(
        True,
        description="Instagram Login: refresh the 60-day token before it expires; the new "
        "one is kept in state_dir/tokens/<account>",
    )
    slots: list[Slot] | None = Field(
        None, description="this account's own queue slots (same form as schedule.slots)"
    )
    # (SPEC §9; publishing.insights)
    insights: bool = Field(
        False,
        description="read each post's metrics about 24 h and 7 days after it went live into "
        "its status.insights (needs the insights permission)",
    )
    upload_url: HttpUrl | None = Field(
        None,
        description="media.video_upload: resumable sends videos to this host instead of "
        "Meta's (a proxy, a test server); default rupload.facebook.com",
    )

    @field_validator("ig_user_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("ig_user_id")
    @classmethod
    def _id_digits(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError(f"{value!r} is not an Instagram user id; it is all digits")
        return value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"v\d+\.\d+", value):
            raise ValueError(f"{value!r} is not a Graph API version; write it like v25.0")
        return value


class S3(_Model):
    """media.host: s3: a bucket of AWS S3, R2, MinIO, ... (credentials from the usual AWS
    sources, never from config.yaml)."""

    bucket: str | None = Field(None, description="the bucket", examples=["my-instagram-media"])
    prefix: str = Field(
        "publisher/", description="where in the bucket; one per publisher", examples=["publisher/"]
    )
    endpoint_url: str | None = Field(
        None,
        description="another S3 API than AWS's (R2, MinIO)",
        examples=["https://<account id>.r2.cloudflarestorage.com"],
    )
    region: str | None = Field(
        None, description="the bucket's region; unset = asked from the bucket", examples=["auto"]
    )


class Media(_Model):
    """How Instagram's servers fetch the media (they need a URL)."""

    host: Literal["serve", "base_url", "s3"] = Field(
        "serve",
        description="serve (publisher's own server, signed links), base_url (content_dir "
        "mirrored at public_url) or s3 (a bucket)",
        examples=["serve"],
    )
    listen: str = Field(
        "127.0.0.1:8765",
        description="serve: the media server's address, host:port",
        examples=["127.0.0.1:8765"],
    )
    public_url: HttpUrl = Field(
        "http://127.0.0.1:8765",
        description="serve: the https URL that reaches listen from outside; base_url: where "
        "content_dir is mirrored",
        examples=["https://media.example.org"],
    )
    link_ttl: Duration = Field(
        timedelta(hours=2), description="serve / s3: signed links expire after this"
    )
    s3: S3 = Field(default_factory=S3, description="media.host: s3: the bucket")
    video_upload: Literal["url", "resumable"] = Field(
        "url",
        description="url: Instagram fetches videos from media.host like images; resumable: "
        "publisher sends their bytes to Meta's upload host (Facebook Login only)",
        examples=["resumable"],
    )
    # SPEC §7
    transcode: Literal["auto", "never"] = Field(
        "auto",
        description="auto: a video out of Meta's spec is transcoded into state_dir/cache; "
        "never: it is an error naming the rule it breaks",
        examples=["auto"],
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return host_port(value, "127.0.0.1:8765")

    @property
    def listen_address(self) -> tuple[str, int]:
        return address(self.listen)


class Metrics(_Model):
    listen: str | None = Field(
        None,
        description="host:port to serve Prometheus metrics on (off when null); keep it on "
        "loopback unless a firewall guards it",
        examples=["127.0.0.1:9464"],
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return None if value is None else host_port(value, "127.0.0.1:9464")

    @property
    def listen_address(self) -> tuple[str, int] | None:
        return None if self.listen is None else address(self.listen)


_ACCOUNT_NAME = re.compile(r"^[a-z0-9_]+$")


class Config(BaseSettings):
    """The whole of config.yaml. Paths are absolute after `load`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    content_dir: Path = Field(
        Path("content"),
        description="the drafts and their media; relative to this file's folder",
        examples=["content"],
    )
    state_dir: Path = Field(
        Path("state"),
        description="the job store (jobs.json) and other state; relative to this file's folder",
        examples=["state"],
    )
    timezone: str = Field(
        "UTC",
        description="an IANA time zone; naive times in drafts and slots are in it",
        examples=["Europe/Paris"],
    )
    schedule: Schedule = Field(default_factory=Schedule, description="the queue's slots")
    publishing: Publishing = Field(
        default_factory=Publishing, description="how drafts are published"
    )
    accounts: dict[str, Account] = Field(
        description="one or more accounts, by name (lowercase letters, digits, _); a draft "
        "names one with account:",
        examples=[{"main": {"api": "instagram", "ig_user_id": "17841400000000000"}}],
        json_schema_extra={"propertyNames": {"pattern": "^[a-z0-9_]+$"}, "minProperties": 1},
    )
    media: Media = Field(default_factory=Media, description="how Instagram fetches the media")
    archive_after: Duration = Field(
        timedelta(days=30),
        description="finished jobs older than this move to state_dir/archive/",
    )
    notify: Notify = Field(
        default_factory=Notify, description="notifications (Apprise URLs) and for what"
    )
    plan_file: Path | None = Field(
        None,
        description="an .ics file the daemon rewrites on every change of the plan, for a "
        "calendar app to subscribe to (relative paths are from config.yaml's folder)",
        examples=["/var/www/calendar/plan.ics"],
    )
    metrics: Metrics = Field(
        default_factory=Metrics, description="Prometheus metrics (off by default)"
    )
    config_path: Path = Field(Path("config.yaml"), exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: it overrides what the YAML file (passed as init kwargs) says.
        return env_settings, init_settings

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{value!r} is not an IANA time zone; write it like Europe/Paris or UTC"
            ) from exc
        return value

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: dict[str, Account]) -> dict[str, Account]:
        if not value:
            raise ValueError("configure at least one account")
        bad = [name for name in value if not _ACCOUNT_NAME.match(name)]
        if bad:
            raise ValueError(
                f"account name(s) {', '.join(map(repr, bad))}: use lowercase letters, digits and _"
            )
        seen: dict[str, str] = {}
        for name, account in value.items():
            if account.ig_user_id in seen:
                raise ValueError(
                    f"accounts {seen[account.ig_user_id]!r} and {name!r} have the same "
                    f"ig_user_id {account.ig_user_id}; one account per Instagram user"
                )
            seen[account.ig_user_id] = name
        return value

    @field_validator("media")
    @classmethod
    def _resumable_needs_facebook_login(cls, value: Media, info: ValidationInfo) -> Media:
        """Meta documents resumable upload for apps with Facebook Login for Business only
        (Upload Video to Meta Servers, https://developers.facebook.com/docs/instagram-platform/
        content-publishing/resumable-uploads/): refused here rather than at a slot."""
        accounts = info.data.get("accounts") or {}
        if value.video_upload != "resumable":
            return value
        login = sorted(name for name, spec in accounts.items() if spec.api == "instagram")
        if login:
            raise ValueError(
                "video_upload: resumable is documented by Meta for Facebook Login only, and "
                f"account(s) {', '.join(map(repr, login))} use api: instagram (Instagram "
                "Login), whose videos Meta only takes from a URL; set media.video_upload: url "
                "(videos then go through media.host like images), or api: facebook for "
                "those accounts"
            )
        return value

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def account_slots(self, account: str) -> list[Slot]:
        """The queue slots of `account`: its own, or the global schedule's."""
        own = self.accounts[account].slots
        return list(own) if own is not None else list(self.schedule.slots)
