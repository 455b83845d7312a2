"""The `notify:` section: URLs Apprise can read pass, others are errors naming the entry."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel, ValidationError

from publisher.notify.change import DEFAULT_EVENTS, Event
from publisher.notify.settings import Notify

WIKI = "see https://github.com/caronc/apprise/wiki"


class _Config(BaseModel):
    """The section as config.yaml will hold it, so errors carry the `notify.` prefix."""

    notify: Notify = Notify()


def _error(data: dict[str, object]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        _Config.model_validate({"notify": data})
    [error] = caught.value.errors(include_url=False)
    where = ".".join(str(part) for part in error["loc"])
    return where, str(error["msg"]).removeprefix("Value error, ")


def test_defaults_send_nothing_and_name_the_events_that_need_a_human() -> None:
    notify = Notify()
    assert notify.urls == []
    assert notify.on == list(DEFAULT_EVENTS)


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:8080/hooks/publisher",
        "jsons://hooks.example.com/publisher",
        "ntfy://ntfy.sh/my-topic",
        "ntfys://user:password@ntfy.example.com/alerts",
        "mailto://user:app-password@gmail.com",
        "mailtos://user:pass@mail.example.com?to=me@example.com",
        "  ntfy://ntfy.sh/padded  ",
    ],
)
def test_urls_apprise_reads_are_kept(url: str) -> None:
    assert Notify(urls=[url]).urls == [url.strip()]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("not a url", "it is not a URL; write it like ntfy://ntfy.sh/my-topic"),
        ("", "it is not a URL"),
        ("ntfyy://ntfy.sh/my-topic", "ntfyy://ntfy.sh/...: Apprise knows no service called"),
        ("json://", "json://... lacks something the JSON service needs"),
        ("mailto://", "lacks something the E-Mail service needs"),
        ("tgram://bad", "tgram://... lacks something the Telegram service needs"),
        ("https://example.com/hook", "https://example.com/... is not a web hook address"),
    ],
)
def test_a_url_apprise_cannot_read_is_an_error_naming_the_entry(url: str, said: str) -> None:
    where, message = _error({"urls": ["ntfy://ntfy.sh/fine", url]})
    assert where == "notify.urls.1"
    assert message.startswith("Apprise cannot read this URL: ")
    assert said in message
    assert message.endswith(WIKI)


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("tgramm://123456789:AAHsecretBotToken/987654", ["123456789", "AAHsecretBotToken"]),
        ("ntfyy://alice:hunter2secret@ntfy.example.com/t0p1c", ["alice", "hunter2secret", "t0p1c"]),
        ("slackk://TOKENA/TOKENB/TOKENC", ["TOKENA", "TOKENB"]),
        ("discord://", []),
    ],
)
def test_the_error_shows_no_more_than_scheme_and_host(url: str, secrets: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        _Config.model_validate({"notify": {"urls": [url]}})
    [error] = caught.value.errors(include_url=False)
    assert "Apprise cannot read this URL: " in str(error["msg"])
    for secret in secrets:
        assert secret not in str(error["msg"])
    with pytest.raises(ValidationError) as direct:  # nor the model's own error text
        Notify(urls=[url])
    for secret in secrets:
        assert secret not in str(direct.value)


def test_apprise_says_nothing_on_its_own_while_a_url_is_checked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ValidationError):
        Notify(urls=["ntfyy://ntfy.sh/typo"])
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_the_urls_are_left_out_of_the_repr() -> None:
    notify = Notify(urls=["ntfys://user:hunter2secret@ntfy.example.com/alerts"])
    assert "hunter2secret" not in repr(notify)
    assert "hunter2secret" not in repr(_Config(notify=notify))


@pytest.mark.parametrize("on", [["published"], ["failed", "invalid", "token_expiring"], []])
def test_on_takes_any_events(on: list[str]) -> None:
    assert Notify(on=on).on == [Event(name) for name in on]


def test_an_unknown_event_is_an_error_listing_the_events() -> None:
    where, message = _error({"on": ["failed", "exploded"]})
    assert where == "notify.on.1"
    assert "'failed'" in message and "'token_expiring'" in message and "'invalid'" in message


def test_an_unknown_key_is_an_error() -> None:
    where, message = _error({"url": "ntfy://ntfy.sh/x"})
    assert where == "notify.url"
