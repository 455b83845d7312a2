"""Shared test fixtures: keep global logging state from leaking between tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

_LOGGERS = ("", "httpx", "httpcore", "tenacity", "apscheduler", "watchdog", "publisher")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`cli.main` calls `logs.setup`, which installs a root handler, levels and filters;
    put every logger back as it was so one test's setup cannot change what another sees."""
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), list(logger.filters), logger.level))
    yield
    for logger, handlers, filters, level in saved:
        logger.handlers[:] = handlers
        logger.filters[:] = filters
        logger.setLevel(level)
