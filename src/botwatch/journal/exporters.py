"""Standard OpenTelemetry SDK exporters writing into the journal.

Each export is one write transaction: a batch is in the journal whole or not
at all, whatever happens to the process. Exports never raise; a journal that
cannot be written makes them return FAILURE (see ``store``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import Aggregation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from botwatch.journal.journal_settings import JournalSettings, journal_path
from botwatch.journal.rows import (
    FUNNEL_COLUMNS,
    LOG_COLUMNS,
    METRIC_COLUMNS,
    SPAN_COLUMNS,
    insert_sql,
    log_row,
    metric_rows,
    span_row,
)
from botwatch.journal.store import JournalStore, ResourceIds

_INSERT_SPAN = insert_sql("spans", SPAN_COLUMNS)
_INSERT_FUNNEL = insert_sql("funnel", FUNNEL_COLUMNS)
_INSERT_LOG = insert_sql("logs", LOG_COLUMNS)
_INSERT_METRIC = insert_sql("metrics", METRIC_COLUMNS)

PathLike = str | os.PathLike[str] | None


def _store(path: PathLike, settings: JournalSettings | None, prune_every_s: float | None) -> JournalStore:
    chosen = settings if settings is not None else JournalSettings.from_env()
    if prune_every_s is None:
        return JournalStore(journal_path(path), chosen)
    return JournalStore(journal_path(path), chosen, prune_every_s=prune_every_s)


class _OnJournal:
    """What every journal exporter shares: its store, path and shutdown."""

    def __init__(
        self,
        path: PathLike = None,
        *,
        settings: JournalSettings | None = None,
        prune_every_s: float | None = None,
    ) -> None:
        self._store = _store(path, settings, prune_every_s)

    @property
    def path(self) -> os.PathLike[str]:
        return self._store.path

    def shutdown(self) -> None:
        self._store.close()


class JournalSpanExporter(_OnJournal, SpanExporter):
    """Spans (with their funnel-stage events) into the journal at ``path``."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS

        def write(conn: sqlite3.Connection, resources: ResourceIds) -> None:
            for span in spans:
                row, marks = span_row(span, resources.id_for(span.resource))
                row_id = conn.execute(_INSERT_SPAN, row).lastrowid
                if marks:
                    conversation, channel = (
                        row[SPAN_COLUMNS.index("conversation_id")],
                        row[SPAN_COLUMNS.index("channel")],
                    )
                    conn.executemany(
                        _INSERT_FUNNEL,
                        [(mark.time_ns, mark.stage, conversation, channel, row_id) for mark in marks],
                    )

        return SpanExportResult.SUCCESS if self._store.write(write) else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is committed before it returns


class JournalLogExporter(_OnJournal, LogRecordExporter):
    """Log records (messages, intents, CRM actions, funnel stages…) into the journal."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if not batch:
            return LogRecordExportResult.SUCCESS

        def write(conn: sqlite3.Connection, resources: ResourceIds) -> None:
            conn.executemany(_INSERT_LOG, [log_row(record, resources.id_for(record.resource)) for record in batch])

        return LogRecordExportResult.SUCCESS if self._store.write(write) else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class JournalMetricExporter(MetricExporter):
    """Metric snapshots: every data point of every collection, with its time."""

    def __init__(
        self,
        path: PathLike = None,
        *,
        settings: JournalSettings | None = None,
        prune_every_s: float | None = None,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
    ) -> None:
        super().__init__(preferred_temporality=preferred_temporality, preferred_aggregation=preferred_aggregation)
        self._store = _store(path, settings, prune_every_s)

    @property
    def path(self) -> os.PathLike[str]:
        return self._store.path

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        def write(conn: sqlite3.Connection, resources: ResourceIds) -> None:
            conn.executemany(
                _INSERT_METRIC,
                [(*row, resources.id_for(resource), scope) for resource, row, scope in metric_rows(metrics_data)],
            )

        return MetricExportResult.SUCCESS if self._store.write(write) else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._store.close()
