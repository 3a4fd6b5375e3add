"""Where telemetry goes: OTLP to a collector, or the embedded journal on one machine."""

from __future__ import annotations

import os
from dataclasses import dataclass

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from botwatch.config import Settings

_SIGNAL_PATHS = {"traces": "/v1/traces", "logs": "/v1/logs", "metrics": "/v1/metrics"}


@dataclass
class Exporters:
    spans: SpanExporter
    logs: LogRecordExporter
    metrics: MetricExporter
    description: str


def _protocol() -> str:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip()
    if protocol not in ("http/protobuf", "grpc"):
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: botwatch supports http/protobuf and grpc")
    return protocol


def otlp_exporters(settings: Settings) -> Exporters:
    """OTLP exporters configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables.

    An endpoint passed to ``init(endpoint=...)`` is a base URL, like
    ``OTEL_EXPORTER_OTLP_ENDPOINT``: the per-signal paths are appended.
    The exporters count their own failures through the global meter
    provider, which ``init()`` makes ours.
    """
    explicit = settings.otlp_endpoint if settings.endpoint_explicit else None
    if _protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        return Exporters(
            spans=GrpcSpans(endpoint=explicit),
            logs=GrpcLogs(endpoint=explicit),
            metrics=GrpcMetrics(endpoint=explicit),
            description=f"OTLP/gRPC {settings.otlp_endpoint}",
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    def url(signal: str) -> str | None:
        return explicit.rstrip("/") + _SIGNAL_PATHS[signal] if explicit else None

    return Exporters(
        spans=OTLPSpanExporter(endpoint=url("traces")),
        logs=OTLPLogExporter(endpoint=url("logs")),
        metrics=OTLPMetricExporter(endpoint=url("metrics")),
        description=f"OTLP/HTTP {settings.otlp_endpoint}",
    )


def journal_exporters(settings: Settings) -> Exporters:
    from botwatch.journal import JournalLogExporter, JournalMetricExporter, JournalSpanExporter

    path = settings.journal_path
    return Exporters(
        spans=JournalSpanExporter(path),
        logs=JournalLogExporter(path),
        metrics=JournalMetricExporter(path),
        description=f"journal {path}",
    )
