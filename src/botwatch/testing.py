"""Test your bot's telemetry without a collector: an in-memory destination for ``botwatch.init()``.

Like OpenTelemetry's ``InMemorySpanExporter``, but for all three signals and
with botwatch's masking applied, so a test sees exactly what would be
exported::

    import botwatch
    from botwatch.testing import InMemoryDestination

    def test_booking_turn_is_traced():
        memory = InMemoryDestination()
        botwatch.init(service_name="salon-bot", destination=memory)
        with botwatch.conversation("sess-1", channel="telegram") as conv:
            with conv.turn("Хочу записаться") as turn:
                turn.intent("booking", confidence=0.9)
                turn.reply("Записала на 15:00")
        assert [s.name for s in memory.finished_spans()] == ["conversation", "turn"]
        assert memory.metric_points("botwatch.conversations")[0].value == 1
        botwatch.shutdown()

The readers flush first (``botwatch.flush()``), so what the bot recorded so
far is there; :meth:`InMemoryDestination.clear` forgets it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as _InMemoryLogs
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["InMemoryDestination", "MetricPoint"]


@dataclass(frozen=True)
class MetricPoint:
    """One exported data point: the metric's name, the point's attributes and its value.

    ``value`` is a counter's or gauge's value, or a histogram's sum (``count``
    holds its number of samples; 0 for other kinds); ``point`` is the SDK's
    data point itself.
    """

    name: str
    attributes: Mapping[str, Any]
    value: float
    count: int
    point: Any


class _MemoryMetrics(MetricExporter):
    """Keeps the latest export: botwatch's metrics are cumulative, so it holds every series' total."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.latest: MetricsData | None = None

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        with self._lock:
            self.latest = metrics_data
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class InMemoryDestination:
    """Finished spans, log records and metric points of ``botwatch.init(destination=...)``, kept in memory.

    For the bot's own tests: no collector, no journal file, no network.  Every
    accessor flushes botwatch first (``flush=False`` to look without flushing).
    """

    description = "memory (botwatch.testing.InMemoryDestination)"

    def __init__(self) -> None:
        self._spans = InMemorySpanExporter()
        self._logs = _InMemoryLogs()  # type: ignore[no-untyped-call]
        self._metrics = _MemoryMetrics()

    # -- the Destination protocol (called by init()) ----------------------------------
    def metrics(self) -> MetricExporter:
        """The metric exporter ``init()`` installs."""
        return self._metrics

    def spans(self, meter_provider: MeterProvider) -> SpanExporter:
        """The span exporter ``init()`` installs."""
        return self._spans

    def logs(self, meter_provider: MeterProvider) -> LogRecordExporter:
        """The log record exporter ``init()`` installs."""
        return self._logs

    # -- what a test reads -----------------------------------------------------------
    def finished_spans(self, *, flush: bool = True) -> list[ReadableSpan]:
        """Ended spans in the order they were exported (masked, as a collector would get them)."""
        _flush(flush)
        return list(self._spans.get_finished_spans())

    def log_records(self, *, flush: bool = True) -> list[Any]:
        """Exported log records (the SDK's records: ``.body``, ``.attributes``, ``.event_name``, ...)."""
        _flush(flush)
        return [getattr(item, "log_record", item) for item in self._logs.get_finished_logs()]

    def event_names(self, *, flush: bool = True) -> list[str]:
        """The ``event_name`` of every exported log record that has one (``botwatch.message.received``, ...)."""
        return [name for record in self.log_records(flush=flush) if (name := getattr(record, "event_name", None))]

    def metric_points(self, name: str | None = None, *, flush: bool = True) -> list[MetricPoint]:
        """Every series' latest point (cumulative totals), of metric ``name`` or of all metrics."""
        _flush(flush)
        data = self._metrics.latest
        points: list[MetricPoint] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if name is not None and metric.name != name:
                        continue
                    points.extend(_points(metric.name, metric.data.data_points))
        return points

    def clear(self, *, flush: bool = True) -> None:
        """Forget everything recorded so far (metrics: until the next export, which holds the totals again)."""
        _flush(flush)
        self._spans.clear()
        self._logs.clear()
        self._metrics.latest = None


def _points(name: str, data_points: Sequence[Any]) -> list[MetricPoint]:
    points = []
    for point in data_points:
        count = int(getattr(point, "count", 0) or 0)
        value = point.sum if hasattr(point, "sum") and hasattr(point, "count") else point.value
        points.append(MetricPoint(name, dict(point.attributes or {}), value, count, point))
    return points


def _flush(flush: bool) -> None:
    if flush:
        from botwatch.telemetry import current

        current().force_flush()
