"""botwatch.init() writing to a journal file of a test's own, for tests that need real recorded conversations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import botwatch


@contextlib.contextmanager
def sdk_journal(path: Path, service_name: str, secret: str) -> Iterator[None]:
    """Inside the block, botwatch records into ``path`` (no collector); everything is flushed after it."""
    patch = pytest.MonkeyPatch()
    patch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    patch.setenv("BOTWATCH_SECRET_FILE", str(path.parent / "secret"))
    try:
        botwatch.init(service_name=service_name, journal=str(path), secret=secret)
        try:
            yield
        finally:
            botwatch.shutdown()
    finally:
        patch.undo()
