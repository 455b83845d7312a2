"""Every log line as a user with --verbose would get it, taken before our redaction: for
tests that prove a secret never reaches a log line."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from publisher import logs


class Capture(logging.Handler):
    """Keeps every record as fully formatted text (message, exception, stack)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def verbose_capture() -> Iterator[Capture]:
    """`logs.setup(verbose=True)` (every logger at DEBUG), with a Capture first in line: it
    sees each record before the stderr handler's redacting filter rewrites it, so a secret
    our code logs would be caught, not masked. Logging is put back as it was at the end."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in logs.LIBRARY_LOGGERS}
    logs.setup(verbose=True)
    capture = Capture()
    root.handlers.insert(0, capture)
    try:
        yield capture
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def exception_texts(exc: BaseException) -> list[str]:
    """Every way an exception is shown: str, repr, and its traceback with its causes."""
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
