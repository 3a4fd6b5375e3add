"""Shared pytest configuration.

Fixtures that start the real stack (collector, Prometheus, Alertmanager,
OTLP capture servers) live in ``tests/harness``; they are registered here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from otlp_receiver import OTLPReceiver

import botwatch

pytest_plugins = ["harness.fixtures"]


@pytest.fixture(scope="session")
def receiver() -> Iterator[OTLPReceiver]:
    server = OTLPReceiver()
    yield server
    server.close()


@pytest.fixture
def bw(receiver: OTLPReceiver, tmp_path, monkeypatch) -> Iterator[botwatch.Telemetry]:
    """botwatch initialised to export over real OTLP/HTTP to the in-process receiver."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    telemetry = botwatch.init(service_name="test-bot", endpoint=receiver.url, secret="test-secret-0123456789")
    yield telemetry
    botwatch.shutdown()
