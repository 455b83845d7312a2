"""Logging for the daemon and the CLI: one line per event on stderr, secrets redacted.

`setup(verbose)` is called once by the composition root. `register_secret(token)` is called
for every access token as soon as it is read; from then on `RedactingFilter` removes it (and
anything shaped like a token: `access_token=...`, `Bearer ...`, `OAuth ...`) from every log
record's message, arguments, exception text and stack text. The token is never *meant* to
reach a log line (it travels only in the Authorization header); this is the second defence.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import Any

from publisher.errors import printable

# Shorter values would redact ordinary words; real tokens are 100+ characters.
MIN_SECRET_LENGTH = 8
MASK = "***"
# Loggers of libraries that may print URLs, headers or exceptions (RELIABILITY.md §5.5).
# A logger's own filters do not run for records of its children, so the children that these
# libraries log through are listed too.
LIBRARY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "tenacity",
    "apscheduler",
    "apscheduler.scheduler",
    "apscheduler.executors.default",
    "apscheduler.jobstores.default",
)

_PATTERNS = (
    # query or form parameters that carry credentials
    re.compile(
        r"(?i)\b((?:access_token|input_token|fb_exchange_token|client_secret|appsecret_proof)"
        r"=)[^&\s'\"<>]+"
    ),
    # Authorization header values, also as printed in header dumps. A token always has a
    # capital, a digit or punctuation in it; a lower-case word after "OAuth" is prose, as in
    # Meta's own "Invalid OAuth access token", which must reach the user whole.
    re.compile(r"\b((?:Bearer|OAuth)\s+)(?![a-z]+\b)[A-Za-z0-9._~+/=|-]+"),
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Given a secret (an access token), make every later log record hide it.

    Values shorter than MIN_SECRET_LENGTH are ignored: redacting them would mangle text.
    """
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        _secrets.add(value)


def redact(text: str) -> str:
    """Given any text, return it with registered secrets and token-shaped values masked."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrite each record so that no secret survives in msg, args, exc_text or stack_info.

    The message is formatted here (msg % args) and redacted as a whole, because an argument
    such as an httpx Request or an exception can carry a URL whose repr only appears once
    formatted. The traceback is formatted and redacted into `exc_text`, and `exc_info` is
    dropped so that no later handler formats the raw exception again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the event
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _OneLineFormatter(logging.Formatter):
    """journald stores each stderr line as its own entry: keep one event on one line, and
    show a control character from a draft's name or content as an escape (`printable`)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record)).replace("\n", " | ")


_HANDLER_NAME = "publisher.stderr"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of the record, not at setup time (so a
    replaced or captured stderr never leaves the handler writing to a closed stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def protect_libraries() -> None:
    """Attach the redacting filter to the loggers of the libraries that may print URLs,
    headers or exceptions (httpx logs every request's URL), whoever else handles their
    records (pytest's caplog, an embedding program). Calling it again changes nothing."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
            logger.addFilter(RedactingFilter())


def setup(verbose: bool) -> None:
    """Send log records to stderr as `LEVEL logger: message`, one line each.

    INFO by default, DEBUG when `verbose`. Timestamps are left out under systemd
    ($JOURNAL_STREAM set), since journald adds its own. The redacting filter is attached to
    the stderr handler and to the httpx/httpcore/tenacity/apscheduler loggers (so that other
    handlers, such as pytest's, see redacted records too). httpx and httpcore log every
    request URL at INFO/DEBUG, so they are held at WARNING unless `verbose`. Calling it again
    replaces the handler it installed before.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    if os.environ.get("JOURNAL_STREAM"):
        layout = "%(levelname)s %(name)s: %(message)s"
    else:
        layout = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(_OneLineFormatter(layout))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    protect_libraries()
    quiet = logging.NOTSET if verbose else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)
