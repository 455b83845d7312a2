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
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from publisher import durations
from publisher.notify.settings import Notify

ENV_PREFIX = "PUBLISHER_"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool | int | float):
        raise ValueError(f"{value!r} has no unit; write it like 30s, 5m, 2h or 1d")
    return durations.parse(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def parse_days(spec: str | list[str]) -> frozenset[int]:
    """'mon-fri', 'mon,wed,fri', 'sat-sun', 'daily', 'weekdays', 'weekends' or a list of
    those -> weekday numbers (Monday = 0). Raise ValueError naming what is allowed."""
    parts = spec if isinstance(spec, list) else str(spec).split(",")
    days: set[int] = set()
    for raw in parts:
        part = str(raw).strip().lower()
        if part in {"daily", "everyday", "*"}:
            days.update(range(7))
        elif part == "weekdays":
            days.update(range(5))
        elif part == "weekends":
            days.update((5, 6))
        elif "-" in part:
            start, _, end = part.partition("-")
            first, last = _day(start.strip()), _day(end.strip())
            day = first
            while True:  # ranges may wrap: fri-mon
                days.add(day)
                if day == last:
                    break
                day = (day + 1) % 7
        else:
            days.add(_day(part))
    return frozenset(days)


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(name: str) -> int:
    key = name[:3]
    if key not in DAY_NAMES or not _FULL_DAYS[DAY_NAMES.index(key)].startswith(name):
        raise ValueError(
            f"{name!r} is not a day; use mon..sun, ranges (mon-fri), lists (mon,wed,fri) or daily"
        )
    return DAY_NAMES.index(key)


_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_time(text: str) -> time:
    """'09:00' -> time(9, 0). Raise ValueError saying the form otherwise."""
    match = _TIME.match(str(text).strip())
    if not match:
        raise ValueError(f'{text!r} is not a time of day; write HH:MM in 24 h, like "09:00"')
    return time(int(match.group(1)), int(match.group(2)))


def _time_text(value: Any) -> Any:
    parse_time(value)
    return value


TimeOfDay = Annotated[str, AfterValidator(_time_text)]


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]  # without its final slash


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slot(_Model):
    """A queue slot: days + times, or a cron expression (minute hour day month weekday)."""

    days: str | list[str] | None = None
    times: list[TimeOfDay] | None = None
    cron: str | None = None

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
    slots: list[Slot] = Field(default_factory=list)
    misfire_grace: Duration = timedelta(hours=1)


# Drafts published at once: a busy site (hundreds of accounts due at the same minute) needs
# as many as accounts due together; each is a thread and an HTTP connection (README).
MAX_CONCURRENCY = 256


class Publishing(_Model):
    concurrency: int = Field(2, ge=1, le=MAX_CONCURRENCY)
    attempts: int = Field(3, ge=1, le=20)
    backoff: Duration = timedelta(seconds=5)
    poll_interval: Duration = timedelta(seconds=3)
    poll_timeout: Duration = timedelta(minutes=10)
    prepare_ahead: Duration = timedelta(minutes=10)

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
    api: Literal["sandbox", "instagram", "facebook"] = "sandbox"
    ig_user_id: str
    api_version: str = "v25.0"
    base_url: HttpUrl | None = None
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    # Instagram Login: refresh the 60-day token before it expires, keep the new one in
    # state_dir/tokens/<account> (SPEC §8; config.refreshed, daemon.tokens).
    token_refresh: bool = True
    slots: list[Slot] | None = None

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
    bucket: str | None = None
    prefix: str = "publisher/"
    endpoint_url: str | None = None
    region: str | None = None


class Media(_Model):
    host: Literal["serve", "base_url", "s3"] = "serve"
    listen: str = "127.0.0.1:8765"
    public_url: HttpUrl = "http://127.0.0.1:8765"
    link_ttl: Duration = timedelta(hours=2)
    s3: S3 = Field(default_factory=S3)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port, like 127.0.0.1:8765")
        return value

    @property
    def listen_address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


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

    content_dir: Path = Path("content")
    state_dir: Path = Path("state")
    timezone: str = "UTC"
    schedule: Schedule = Field(default_factory=Schedule)
    publishing: Publishing = Field(default_factory=Publishing)
    accounts: dict[str, Account]
    media: Media = Field(default_factory=Media)
    archive_after: Duration = timedelta(days=30)
    notify: Notify = Field(default_factory=Notify)
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

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def account_slots(self, account: str) -> list[Slot]:
        """The queue slots of `account`: its own, or the global schedule's."""
        own = self.accounts[account].slots
        return list(own) if own is not None else list(self.schedule.slots)
