"""Where telemetry goes: OTLP to a collector, or the embedded journal on one machine."""

from __future__ import annotations

import os
from typing import Protocol

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from botwatch.settings import Settings

_SIGNAL_PATHS = {"traces": "/v1/traces", "logs": "/v1/logs", "metrics": "/v1/metrics"}


class Destination(Protocol):
    """Where ``init()`` sends telemetry: it builds one exporter per signal.

    ``botwatch.init(destination=...)`` takes one; botwatch wraps each exporter so
    it only ever receives masked data, and batches spans and log records before
    them.  :class:`botwatch.testing.InMemoryDestination` keeps everything in
    memory for tests.  Spans and logs are built after the meter provider, which
    counts their export failures.
    """

    description: str  # one line for botwatch's own log: where telemetry goes

    def metrics(self) -> MetricExporter:
        """The metric exporter (called once per ``init()``)."""
        ...

    def spans(self, meter_provider: MeterProvider) -> SpanExporter:
        """The span exporter; ``meter_provider`` may count its failures."""
        ...

    def logs(self, meter_provider: MeterProvider) -> LogRecordExporter:
        """The log record exporter; ``meter_provider`` may count its failures."""
        ...


def _protocol() -> str:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip()
    if protocol not in ("http/protobuf", "grpc"):
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: botwatch supports http/protobuf and grpc")
    return protocol


class OTLPDestination:
    """OTLP exporters configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables.

    An endpoint passed to ``init(endpoint=...)`` is a base URL, like
    ``OTEL_EXPORTER_OTLP_ENDPOINT``: the per-signal paths are appended.
    """

    def __init__(self, settings: Settings) -> None:
        self._grpc = _protocol() == "grpc"
        self._explicit = settings.otlp_endpoint if settings.endpoint_explicit else None
        self.description = f"OTLP/{'gRPC' if self._grpc else 'HTTP'} {settings.otlp_endpoint}"

    def _url(self, signal: str) -> str | None:
        if self._explicit is None or self._grpc:
            return self._explicit
        return self._explicit.rstrip("/") + _SIGNAL_PATHS[signal]

    def metrics(self) -> MetricExporter:
        if self._grpc:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Grpc

            return Grpc(endpoint=self._url("metrics"))
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=self._url("metrics"))

    def spans(self, meter_provider: MeterProvider) -> SpanExporter:
        if self._grpc:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            return Grpc(endpoint=self._url("traces"), meter_provider=meter_provider)
        from botwatch.otlp_http import WireSpanExporter

        return WireSpanExporter(endpoint=self._url("traces"), meter_provider=meter_provider)

    def logs(self, meter_provider: MeterProvider) -> LogRecordExporter:
        if self._grpc:
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as Grpc

            return Grpc(endpoint=self._url("logs"))
        from botwatch.otlp_http import WireLogExporter

        return WireLogExporter(endpoint=self._url("logs"))


class JournalDestination:
    """The embedded SQLite journal (``BOTWATCH_JOURNAL``)."""

    def __init__(self, settings: Settings) -> None:
        self._path = settings.journal_path
        self.description = f"journal {self._path}"

    def metrics(self) -> MetricExporter:
        from botwatch.journal import JournalMetricExporter

        return JournalMetricExporter(self._path)

    def spans(self, meter_provider: MeterProvider) -> SpanExporter:
        from botwatch.journal import JournalSpanExporter

        return JournalSpanExporter(self._path)

    def logs(self, meter_provider: MeterProvider) -> LogRecordExporter:
        from botwatch.journal import JournalLogExporter

        return JournalLogExporter(self._path)


def default_destination(settings: Settings) -> Destination:
    """OTLP when an endpoint is configured, else the embedded journal."""
    return OTLPDestination(settings) if settings.otlp_endpoint else JournalDestination(settings)
