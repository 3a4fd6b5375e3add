"""Exporter wrappers that mask personal data and secrets in everything they pass on.

They run on the exporter's background thread, so the bot's hot path does
not pay for them, and they cover spans, log records and metrics the SDK did
not create itself (auto-instrumentation, the bot's own log lines).  What
they mask is :data:`botwatch.masking.table.PLACES`, resource and scope
included.  An exporter that can mask while it encodes (OTLP/HTTP,
:mod:`botwatch.otlp_http`) is armed to do so instead of being wrapped: see
:func:`masking_spans`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from botwatch.pii import Redactor
from botwatch.sdk_compat import metric_preferences


def redact_span(redactor: Redactor, span: ReadableSpan) -> ReadableSpan:
    return redactor.records.span(span)


def redact_log(redactor: Redactor, record: ReadableLogRecord) -> ReadableLogRecord:
    return redactor.records.log(record)


class RedactingSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, redactor: Redactor) -> None:
        self.inner = inner
        self._records = redactor.records

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([self._records.span(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RedactingLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, redactor: Redactor) -> None:
        self.inner = inner
        self._records = redactor.records

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return self.inner.export([self._records.log(r) for r in batch])

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RedactingMetricExporter(MetricExporter):
    """Metric data point and exemplar attributes (keys and values), resource and scope masked.

    Labels are bounded before they are recorded (:class:`botwatch.label_guard.LabelGuard`);
    this covers what the SDK did not record itself (auto-instrumentation, a bot's own meters).
    """

    def __init__(self, inner: MetricExporter, redactor: Redactor) -> None:
        temporality, aggregation = metric_preferences(inner)
        super().__init__(preferred_temporality=temporality, preferred_aggregation=aggregation)
        self.inner = inner
        self._records = redactor.records

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return self.inner.export(self._records.metrics(metrics_data), timeout_millis=timeout_millis, **kwargs)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _masks_itself(exporter: object, redactor: Redactor) -> bool:
    mask_with = getattr(exporter, "mask_with", None)
    return bool(mask_with(redactor.text)) if callable(mask_with) else False


def masking_spans(exporter: SpanExporter, redactor: Redactor) -> SpanExporter:
    """``exporter``, masking personal data: itself while it encodes when it can, else wrapped."""
    return exporter if _masks_itself(exporter, redactor) else RedactingSpanExporter(exporter, redactor)


def masking_logs(exporter: LogRecordExporter, redactor: Redactor) -> LogRecordExporter:
    """Same as :func:`masking_spans`, for log records."""
    return exporter if _masks_itself(exporter, redactor) else RedactingLogExporter(exporter, redactor)


def masking_metrics(exporter: MetricExporter, redactor: Redactor) -> MetricExporter:
    """``exporter`` wrapped to mask metric attributes, resource and scope."""
    return RedactingMetricExporter(exporter, redactor)
