"""Log redaction and the journald-friendly stderr format."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from publisher import logs

SECRET = "EAAB-logs-canary-9f8e7d6c5b4a"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved = {name: logging.getLogger(name).level for name in logs.LIBRARY_LOGGERS}
    saved_filters = {name: list(logging.getLogger(name).filters) for name in logs.LIBRARY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in saved.items():
        logging.getLogger(name).setLevel(value)
        logging.getLogger(name).filters[:] = saved_filters[name]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token {SECRET} here", "token *** here"),
        ("GET /me?fields=id&access_token=EAABxyz123&x=1", "GET /me?fields=id&access_token=***&x=1"),
        ("Authorization: Bearer IGQVJabc.def-ghi", "Authorization: Bearer ***"),
        ("Authorization: OAuth EAABqwerty", "Authorization: OAuth ***"),
        ("input_token=abc&client_secret=s3cr3t", "input_token=***&client_secret=***"),
        ("type OAuthException code 190", "type OAuthException code 190"),
        # Meta's own words stay (they once read "Invalid OAuth *** token" in status.error)
        ("Invalid OAuth access token.", "Invalid OAuth access token."),
        ("Invalid OAuth access token - Cannot parse", "Invalid OAuth access token - Cannot parse"),
        ("Authorization: OAuth EAAB1", "Authorization: OAuth ***"),
        ("nothing to hide", "nothing to hide"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    logs.register_secret(SECRET)
    assert logs.redact(text) == expected


def test_short_values_are_not_registered() -> None:
    logs.register_secret("abc")
    assert logs.redact("abc abcdef") == "abc abcdef"


def record(
    msg: str, args: tuple[object, ...] | None = None, exc: bool = False
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"failed for url https://x/?access_token={SECRET}")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)


class Leaky:
    def __repr__(self) -> str:
        return f"<Request https://graph/?access_token={SECRET}>"


@pytest.mark.parametrize(
    "item",
    [
        record(f"plain {SECRET}"),
        record("arg %s", (SECRET,)),
        record("repr %r", (Leaky(),)),
        record("dict %(token)s", ({"token": SECRET},)),  # type: ignore[arg-type]
        record("with traceback", exc=True),
        record("bad format %d", (SECRET,)),
    ],
)
def test_filter_removes_the_secret_everywhere(item: logging.LogRecord) -> None:
    logs.register_secret(SECRET)
    assert logs.RedactingFilter().filter(item) is True
    formatted = logging.Formatter("%(message)s").format(item)
    assert SECRET not in formatted
    assert SECRET not in item.getMessage()


def test_setup_format_and_levels(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    logs.register_secret(SECRET)
    logs.setup(verbose=False)
    logs.setup(verbose=False)  # idempotent: one handler
    logging.getLogger("publisher.test").info("posted with %s\nsecond line", SECRET)
    logging.getLogger("publisher.test").debug("not shown")
    logging.getLogger("httpx").info("HTTP Request: GET https://graph/?access_token=x")
    err = capsys.readouterr().err
    assert err == "INFO publisher.test: posted with *** | second line\n"
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("httpx").level == logging.WARNING


def test_setup_verbose_shows_debug_and_httpx_redacted(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    logs.setup(verbose=True)
    logging.getLogger("publisher.test").debug("detail")
    logging.getLogger("httpx").info("HTTP Request: GET https://graph/?access_token=EAABsecret1")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("DEBUG publisher.test: detail")
    assert lines[0][:4].isdigit()  # a timestamp outside journald
    assert lines[1].endswith("INFO httpx: HTTP Request: GET https://graph/?access_token=***")


def test_library_loggers_redact_for_every_handler(
    restore_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    logs.register_secret(SECRET)
    logs.setup(verbose=True)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpcore.http11").debug("send_request_headers %s", SECRET)
        logging.getLogger("tenacity").warning("retrying %s", SECRET)
    assert caplog.records
    assert all(SECRET not in item.getMessage() for item in caplog.records)
