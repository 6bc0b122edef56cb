"""Fixtures of the handler tests: what the handlers' Powertools Logger writes."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from handlers.observability import logger


@contextmanager
def handler_logs() -> Iterator[io.StringIO]:
    """What the handlers' Powertools Logger writes while inside (its stream is bound when the module is imported)."""
    stream_handler = logger.registered_handler
    assert isinstance(stream_handler, logging.StreamHandler)
    buffer = io.StringIO()
    # Not setStream(): it flushes the old stream, which may be an earlier test's closed capture.
    previous, stream_handler.stream = stream_handler.stream, buffer
    try:
        yield buffer
    finally:
        stream_handler.stream = previous


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the handlers' Powertools Logger writes during the test."""
    with handler_logs() as buffer:
        yield buffer
