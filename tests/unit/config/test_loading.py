"""config.load: good and bad config.yaml files, what each problem says, and environment
overrides."""

from __future__ import annotations

import os
from datetime import time, timedelta
from pathlib import Path

import pytest

from publisher import config
from publisher.config import tokens
from publisher.errors import ConfigError
from tests.support.configs import MINIMAL, TOKEN, write

FULL = """\
content_dir: posts
state_dir: /var/lib/publisher
timezone: Europe/Paris
schedule:
  slots:
    - days: mon-fri
      times: ["09:00", "18:30"]
    - cron: "0 11 * * sat"
  misfire_grace: 30m
publishing:
  concurrency: 3
  attempts: 4
  backoff: 10s
  poll_interval: 2s
  poll_timeout: 5m
  prepare_ahead: 15m
accounts:
  main:
    api: instagram
    ig_user_id: "17841400000000000"
    api_version: v24.0
    base_url: https://proxy.example.com/
  shop:
    api: facebook
    ig_user_id: 17841400000000001
    slots:
      - days: [sat, sun]
        times: ["10:00"]
media:
  host: base_url
  listen: 0.0.0.0:9000
  public_url: https://media.example.com/
  link_ttl: 1h
archive_after: 7d
"""


def test_full_config(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, FULL), environ={})
    assert cfg.content_dir == (tmp_path / "posts").resolve()
    assert cfg.state_dir == Path("/var/lib/publisher")
    assert cfg.config_path == (tmp_path / "config.yaml").resolve()
    assert str(cfg.tz) == "Europe/Paris"
    assert cfg.schedule.misfire_grace == timedelta(minutes=30)
    assert cfg.schedule.slots[0].weekdays == frozenset(range(5))
    assert cfg.schedule.slots[0].times_of_day == [time(9), time(18, 30)]
    assert cfg.publishing.concurrency == 3
    assert cfg.publishing.prepare_ahead == timedelta(minutes=15)
    assert cfg.accounts["main"].base_url == "https://proxy.example.com"
    assert cfg.accounts["shop"].ig_user_id == "17841400000000001"
    assert cfg.account_slots("shop")[0].weekdays == frozenset({5, 6})
    assert cfg.account_slots("main") == list(cfg.schedule.slots)
    assert cfg.media.public_url == "https://media.example.com"
    assert cfg.media.listen_address == ("0.0.0.0", 9000)
    assert cfg.archive_after == timedelta(days=7)
    assert tokens.configured(cfg, "main") is None


def test_minimal_config_defaults(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, MINIMAL), environ={})
    assert cfg.content_dir == (tmp_path / "content").resolve()
    assert cfg.state_dir == (tmp_path / "state").resolve()
    assert cfg.timezone == "UTC"
    assert cfg.accounts["main"].api == "sandbox"
    assert cfg.publishing.attempts == 3
    assert cfg.media.host == "serve"


BAD = [
    # (id, config.yaml, field, part of the message)
    ("no-accounts", "timezone: UTC\n", "at 'accounts'", "required"),
    ("empty-accounts", "accounts: {}\n", "at 'accounts'", "at least one account"),
    ("unknown-top", MINIMAL + "colour: red\n", "at 'colour'", "allowed here: content_dir"),
    (
        "unknown-account-key",
        MINIMAL + "    token: abc\n",
        "at 'accounts.main.token'",
        "allowed here: api, ig_user_id",
    ),
    (
        "unknown-nested",
        MINIMAL + "publishing:\n  retries: 3\n",
        "at 'publishing.retries'",
        "allowed here: concurrency, attempts",
    ),
    ("config-path-key", MINIMAL + "config_path: x\n", "at 'config_path'", "unknown key"),
    ("timezone", MINIMAL + "timezone: Mars/Olympus\n", "at 'timezone'", "IANA time zone"),
    (
        "api",
        'accounts:\n  main: {ig_user_id: "1", api: tiktok}\n',
        "at 'accounts.main.api'",
        "'sandbox', 'instagram' or 'facebook'",
    ),
    (
        "ig-user-id",
        'accounts:\n  main: {ig_user_id: "@me"}\n',
        "at 'accounts.main.ig_user_id'",
        "all digits",
    ),
    (
        "ig-user-id-missing",
        "accounts:\n  main: {api: sandbox}\n",
        "at 'accounts.main.ig_user_id'",
        "required",
    ),
    (
        "api-version",
        'accounts:\n  main: {ig_user_id: "1", api_version: "25"}\n',
        "at 'accounts.main.api_version'",
        "like v25.0",
    ),
    (
        "base-url",
        'accounts:\n  main: {ig_user_id: "1", base_url: "ftp://x"}\n',
        "at 'accounts.main.base_url'",
        "http(s) URL",
    ),
    (
        "account-name",
        'accounts:\n  Main: {ig_user_id: "1"}\n',
        "at 'accounts'",
        "lowercase letters",
    ),
    (
        "duplicate-id",
        'accounts:\n  a: {ig_user_id: "5"}\n  b: {ig_user_id: 5}\n',
        "at 'accounts'",
        "same ig_user_id 5",
    ),
    (
        "duration-no-unit",
        MINIMAL + "publishing:\n  backoff: 5\n",
        "at 'publishing.backoff'",
        "no unit",
    ),
    (
        "duration-bad",
        MINIMAL + "schedule:\n  misfire_grace: soon\n",
        "at 'schedule.misfire_grace'",
        "30s, 5m, 2h, 1d",
    ),
    (
        "concurrency",
        MINIMAL + "publishing:\n  concurrency: 0\n",
        "at 'publishing.concurrency'",
        "greater than or equal to 1",
    ),
    (
        "prepare-ahead",
        MINIMAL + "publishing:\n  prepare_ahead: 13h\n",
        "at 'publishing.prepare_ahead'",
        "at most 12h",
    ),
    (
        "slot-time",
        MINIMAL + 'schedule:\n  slots: [{times: ["9h"]}]\n',
        "at 'schedule.slots[0].times[0]'",
        "HH:MM",
    ),
    (
        "slot-time-YAML-1.1",
        MINIMAL + "schedule:\n  slots: [{times: [25:00]}]\n",
        "at 'schedule.slots[0].times[0]'",
        "HH:MM",
    ),
    (
        "slot-days",
        MINIMAL + 'schedule:\n  slots: [{days: "mon-fri,holiday", times: ["09:00"]}]\n',
        "at 'schedule.slots[0].days'",
        "'holiday' is not a day",
    ),
    (
        "slot-empty-times",
        MINIMAL + "schedule:\n  slots: [{times: []}]\n",
        "at 'schedule.slots[0].times'",
        "at least one time",
    ),
    (
        "slot-nothing",
        MINIMAL + "schedule:\n  slots: [{days: mon}]\n",
        "at 'schedule.slots[0]'",
        "needs times",
    ),
    (
        "slot-both",
        MINIMAL + 'schedule:\n  slots: [{cron: "0 9 * * *", times: ["09:00"]}]\n',
        "at 'schedule.slots[0]'",
        "not both",
    ),
    (
        "cron-fields",
        MINIMAL + 'schedule:\n  slots: [{cron: "0 9 * *"}]\n',
        "at 'schedule.slots[0].cron'",
        "5 fields",
    ),
    (
        "cron-value",
        MINIMAL + 'schedule:\n  slots: [{cron: "0 25 * * *"}]\n',
        "at 'schedule.slots[0].cron'",
        "not a valid cron",
    ),
    ("media-host", MINIMAL + "media:\n  host: ftp\n", "at 'media.host'", "'serve'"),
    ("media-listen", MINIMAL + "media:\n  listen: localhost\n", "at 'media.listen'", "host:port"),
    (
        "media-url",
        MINIMAL + "media:\n  public_url: example.com\n",
        "at 'media.public_url'",
        "http(s) URL",
    ),
    (
        "notify-url",
        MINIMAL + 'notify: {urls: ["json://127.0.0.1:9/hook", "ntfyy://bad/topic"]}\n',
        "at 'notify.urls[1]'",
        "Apprise cannot read this URL",
    ),
    (
        "notify-event",
        MINIMAL + "notify: {on: [failed, posted]}\n",
        "at 'notify.on[1]'",
        "'token_expiring', 'published' or 'invalid'",
    ),
    ("not-a-mapping", "- a\n- b\n", "", "must be a mapping"),
    ("bad-yaml", "accounts: [\n", "line 2", "not valid YAML"),
    ("alias", "a: &x 1\nb: *x\n", "line 2", "aliases"),
    ("python-tag", "accounts: !!python/object/apply:os.system [ls]\n", "line 1", "not allowed"),
]


@pytest.mark.parametrize(("text", "where", "part"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config(tmp_path: Path, text: str, where: str, part: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path, environ={})
    found = [(p.path, p.field, p.message) for p in caught.value.problems]
    assert any(f == where and part in m for _, f, m in found), found
    assert all(shown == str(path) for shown, _, _ in found)


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = MINIMAL + "timezone: Nowhere\npublishing:\n  attempts: 0\n  backoff: x\nfoo: 1\n"
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, text), environ={})
    assert sorted(p.field for p in caught.value.problems) == [
        "at 'foo'",
        "at 'publishing.attempts'",
        "at 'publishing.backoff'",
        "at 'timezone'",
    ]


@pytest.mark.parametrize(
    ("path", "part"), [("missing.yaml", "no such file"), (".", "cannot be read")]
)
def test_unreadable_config(tmp_path: Path, path: str, part: str) -> None:
    with pytest.raises(ConfigError, match=part):
        config.load(tmp_path / path, environ={})


ENV = [
    # (id, environment, attribute path, expected)
    ("token", {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": TOKEN}, "token", TOKEN),
    ("token-lowercase-name", {"publisher_accounts__main__access_token": TOKEN}, "token", TOKEN),
    ("token-stripped", {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": f" {TOKEN}\n"}, "token", TOKEN),
    ("token-empty", {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": ""}, "token", None),
    ("timezone", {"PUBLISHER_TIMEZONE": "Asia/Tokyo"}, "timezone", "Asia/Tokyo"),
    ("nested-int", {"PUBLISHER_PUBLISHING__CONCURRENCY": "4"}, "concurrency", 4),
    (
        "nested-duration",
        {"PUBLISHER_SCHEDULE__MISFIRE_GRACE": "2h"},
        "misfire_grace",
        timedelta(hours=2),
    ),
    ("account-field", {"PUBLISHER_ACCOUNTS__MAIN__API": "facebook"}, "api", "facebook"),
    ("content-dir", {"PUBLISHER_CONTENT_DIR": "/tmp"}, "content_dir", Path("/tmp").resolve()),
    (
        "default-config-variable-ignored",
        {"PUBLISHER_CONFIG": "/x/config.yaml"},
        "timezone",
        "Europe/Paris",
    ),
    ("other-variables-ignored", {"PATH": "/bin", "HOME": "/root"}, "timezone", "Europe/Paris"),
]


def _attribute(cfg: config.Config, name: str) -> object:
    return {
        "token": lambda: tokens.configured(cfg, "main"),
        "timezone": lambda: cfg.timezone,
        "concurrency": lambda: cfg.publishing.concurrency,
        "misfire_grace": lambda: cfg.schedule.misfire_grace,
        "api": lambda: cfg.accounts["main"].api,
        "content_dir": lambda: cfg.content_dir,
    }[name]()


@pytest.mark.parametrize(
    ("environ", "name", "expected"), [c[1:] for c in ENV], ids=[c[0] for c in ENV]
)
def test_environment_overrides(
    tmp_path: Path, environ: dict[str, str], name: str, expected: object
) -> None:
    path = write(tmp_path, "timezone: Europe/Paris\n" + MINIMAL + "    api: sandbox\n")
    before = dict(os.environ)
    assert _attribute(config.load(path, environ=environ), name) == expected
    assert dict(os.environ) == before  # the caller's environment is left as it was


def test_environment_beats_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    access_token: from-file\npublishing:\n  attempts: 5\n")
    environ = {
        "PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": TOKEN,
        "PUBLISHER_PUBLISHING__CONCURRENCY": "4",
    }
    cfg = config.load(path, environ=environ)
    assert tokens.configured(cfg, "main") == TOKEN
    assert (cfg.publishing.concurrency, cfg.publishing.attempts) == (4, 5)  # merged, not replaced
    assert tokens.configured(config.load(path, environ={}), "main") == "from-file"


def test_process_environment_is_used_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN", TOKEN)
    assert tokens.configured(config.load(write(tmp_path, MINIMAL)), "main") == TOKEN


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    environ = {"PUBLISHER_PUBLISHING__CONCURRENCY": "many"}
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, MINIMAL), environ=environ)
    (problem,) = caught.value.problems
    assert problem.field == "at 'publishing.concurrency'"
    assert "set by the environment: PUBLISHER_PUBLISHING__CONCURRENCY" in problem.message


def test_a_bad_value_from_the_file_does_not_blame_a_variable_beside_it(tmp_path: Path) -> None:
    # The token set by the environment has nothing to do with a bad ig_user_id in the file.
    environ = {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": TOKEN}
    text = 'accounts:\n  main:\n    ig_user_id: "not-digits"\n'
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, text), environ=environ)
    (problem,) = caught.value.problems
    assert problem.field == "at 'accounts.main.ig_user_id'"
    assert "set by the environment" not in problem.message


def test_token_for_a_misspelt_account_is_an_error_without_the_token(tmp_path: Path) -> None:
    environ = {"PUBLISHER_ACCOUNTS__MIAN__ACCESS_TOKEN": TOKEN}
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, MINIMAL), environ=environ)
    text = str(caught.value)
    assert "accounts.mian.ig_user_id" in text
    assert "PUBLISHER_ACCOUNTS__MIAN__ACCESS_TOKEN" in text
    assert TOKEN not in text


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon,wed,fri", {0, 2, 4}),
        ("sat-sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("daily", set(range(7))),
        ("weekends", {5, 6}),
        (["Monday", "tue"], {0, 1}),
    ],
)
def test_parse_days(spec: str | list[str], days: set[int]) -> None:
    assert config.parse_days(spec) == frozenset(days)


@pytest.mark.parametrize("spec", ["mo-fr", "someday", "mon-xyz", "tuesdays"])
def test_parse_days_errors(spec: str) -> None:
    with pytest.raises(ValueError, match="not a day"):
        config.parse_days(spec)


def test_default_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLISHER_CONFIG", raising=False)
    assert config.default_path() == Path("config.yaml")
    monkeypatch.setenv("PUBLISHER_CONFIG", "/etc/publisher/config.yaml")
    assert config.default_path() == Path("/etc/publisher/config.yaml")


def test_unknown_key_lists_only_what_a_user_may_write(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, MINIMAL + "colour: red\n"), environ={})
    (problem,) = caught.value.problems
    assert "archive_after" in problem.message
    assert "config_path" not in problem.message
