"""OpenTelemetry SDK records → journal rows (plain tuples, one per table row)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    Gauge,
    Histogram,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from botwatch import semconv

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "family",
    "kind",
    "start_ns",
    "end_ns",
    "duration_ns",
    "status",
    "status_message",
    "conversation_id",
    "channel",
    "turn_index",
    "intent",
    "confidence",
    "sla_breached",
    "model",
    "input_tokens",
    "output_tokens",
    "llm_cost",
    "crm_action",
    "crm_entity_id",
    "crm_outcome",
    "error_type",
    "attributes",
    "events",
    "resource_id",
    "scope",
)
LOG_COLUMNS = (
    "time_ns",
    "observed_ns",
    "trace_id",
    "span_id",
    "severity_number",
    "severity_text",
    "event_name",
    "body",
    "conversation_id",
    "channel",
    "turn_index",
    "attributes",
    "resource_id",
    "scope",
)
FUNNEL_COLUMNS = ("time_ns", "stage", "conversation_id", "channel", "span_row")
METRIC_COLUMNS = (
    "time_ns",
    "start_ns",
    "name",
    "unit",
    "type",
    "temporality",
    "monotonic",
    "attributes",
    "value",
    "count",
    "sum",
    "min",
    "max",
    "buckets",
    "resource_id",
    "scope",
)


def insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


SLA_NS = int(semconv.SLA_SECONDS * 1_000_000_000)

# Span families: which question a span answers, so kpi/replay filter by index.
FAMILY_CONVERSATION = "conversation"
FAMILY_TURN = "turn"
FAMILY_CHAT = "chat"
FAMILY_CRM = "crm"
FAMILY_MESSAGE = "message"
FAMILY_FUNNEL = "funnel"
FAMILY_REVIEW = "review"
FAMILY_OTHER = "other"

_FAMILY_BY_NAME = {
    semconv.SPAN_CONVERSATION: FAMILY_CONVERSATION,
    semconv.SPAN_TURN: FAMILY_TURN,
    semconv.SPAN_MESSAGE_SEND: FAMILY_MESSAGE,
    semconv.SPAN_FUNNEL: FAMILY_FUNNEL,
    semconv.SPAN_REVIEW: FAMILY_REVIEW,
}


def span_family(name: str, attributes: Mapping[str, Any]) -> str:
    family = _FAMILY_BY_NAME.get(name)
    if family is not None:
        return family
    if name.startswith(semconv.SPAN_CRM_PREFIX) or semconv.CRM_ACTION in attributes:
        return FAMILY_CRM
    if name.startswith(f"{semconv.SPAN_CHAT_PREFIX} ") or semconv.GEN_AI_OPERATION_NAME in attributes:
        return FAMILY_CHAT
    return FAMILY_OTHER


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence | set | frozenset):
        return list(value)
    return str(value)


def resource_json(resource: Resource | None) -> str:
    return to_json(dict(resource.attributes) if resource is not None else {})


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _hex_trace(trace_id: int | None) -> str | None:
    return None if not trace_id else f"{trace_id:032x}"


def _hex_span(span_id: int | None) -> str | None:
    return None if not span_id else f"{span_id:016x}"


@dataclass(frozen=True)
class FunnelMark:
    time_ns: int
    stage: str


def span_row(span: ReadableSpan, resource_id: int | None) -> tuple[tuple[Any, ...], list[FunnelMark]]:
    """The span's row, and the funnel stages its events record."""
    attrs: Mapping[str, Any] = span.attributes or {}
    start = span.start_time or 0
    end = span.end_time or start
    family = span_family(span.name, attrs)
    duration = max(0, end - start)
    sla_breached: int | None = None
    if family == FAMILY_TURN and (semconv.SLA_BREACHED in attrs or duration > 0):
        # NULL: a turn without a measured reply time (a webhook without latency_ms), outside the SLA figures.
        sla_breached = int(attrs.get(semconv.SLA_BREACHED) is True or duration > SLA_NS)
    events = []
    marks = []
    for event in span.events:
        event_attrs = dict(event.attributes or {})
        events.append({"name": event.name, "time_ns": event.timestamp, "attributes": event_attrs})
        stage = event_attrs.get(semconv.FUNNEL_STAGE)
        if isinstance(stage, str) and stage:
            marks.append(FunnelMark(event.timestamp, stage))
    context = span.context
    status = span.status
    row = (
        _hex_trace(context.trace_id if context else None),
        _hex_span(context.span_id if context else None) or "",
        _hex_span(span.parent.span_id) if span.parent else None,
        span.name,
        family,
        span.kind.name,
        start,
        end,
        duration,
        status.status_code.name,
        status.description,
        _str(attrs.get(semconv.GEN_AI_CONVERSATION_ID)),
        _str(attrs.get(semconv.CHANNEL)),
        _int(attrs.get(semconv.TURN_INDEX)),
        _str(attrs.get(semconv.INTENT)),
        _float(attrs.get(semconv.INTENT_CONFIDENCE)),
        sla_breached,
        _str(attrs.get(semconv.GEN_AI_REQUEST_MODEL) or attrs.get(semconv.GEN_AI_RESPONSE_MODEL)),
        _int(attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)),
        _int(attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)),
        _float(attrs.get(semconv.LLM_COST)),
        _str(attrs.get(semconv.CRM_ACTION)),
        _str(attrs.get(semconv.CRM_ENTITY_ID)),
        _str(attrs.get(semconv.CRM_OUTCOME)),
        _str(attrs.get(semconv.ERROR_TYPE)) or (status.description if status.status_code is StatusCode.ERROR else None),
        to_json(dict(attrs)),
        to_json(events) if events else None,
        resource_id,
        span.instrumentation_scope.name if span.instrumentation_scope else None,
    )
    return row, marks


def log_row(record: ReadableLogRecord, resource_id: int | None) -> tuple[Any, ...]:
    log = record.log_record
    attrs: Mapping[str, Any] = log.attributes or {}
    # Stored as botwatch writes names now, also for records from an older SDK.
    event_name = semconv.current_event_name(log.event_name or _str(attrs.get(semconv.LEGACY_EVENT_ATTRIBUTE)))
    body = log.body
    body_text = body if isinstance(body, str) or body is None else to_json(body)
    severity = log.severity_number.value if log.severity_number is not None else None
    return (
        log.timestamp or log.observed_timestamp,
        log.observed_timestamp,
        _hex_trace(log.trace_id),
        _hex_span(log.span_id),
        severity,
        log.severity_text,
        event_name,
        body_text,
        _str(attrs.get(semconv.GEN_AI_CONVERSATION_ID)),
        _str(attrs.get(semconv.CHANNEL)),
        _int(attrs.get(semconv.TURN_INDEX)),
        to_json(dict(attrs)),
        resource_id,
        record.instrumentation_scope.name if record.instrumentation_scope else None,
    )


def metric_rows(data: MetricsData) -> Iterator[tuple[Resource, tuple[Any, ...], str]]:
    """(resource, point columns up to ``buckets``, scope name) for every data point."""
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for row in _points(metric.name, metric.unit, metric.data):
                    yield resource_metrics.resource, row, scope_metrics.scope.name


def _points(name: str, unit: str | None, data: object) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, Sum | Gauge):
        kind = "sum" if isinstance(data, Sum) else "gauge"
        temporality = data.aggregation_temporality.name if isinstance(data, Sum) else None
        monotonic = int(data.is_monotonic) if isinstance(data, Sum) else None
        for point in data.data_points:
            yield (
                point.time_unix_nano,
                point.start_time_unix_nano or None,
                name,
                unit,
                kind,
                temporality,
                monotonic,
                to_json(dict(point.attributes or {})),
                float(point.value),
                None,
                None,
                None,
                None,
                None,
            )
    elif isinstance(data, Histogram):
        for hp in data.data_points:
            buckets = {"bounds": list(hp.explicit_bounds), "counts": list(hp.bucket_counts)}
            yield (
                hp.time_unix_nano,
                hp.start_time_unix_nano,
                name,
                unit,
                "histogram",
                data.aggregation_temporality.name,
                None,
                to_json(dict(hp.attributes or {})),
                None,
                hp.count,
                float(hp.sum),
                _finite(hp.min),
                _finite(hp.max),
                to_json(buckets),
            )
    elif isinstance(data, ExponentialHistogram):
        for ep in data.data_points:
            buckets_exp = {
                "scale": ep.scale,
                "zero_count": ep.zero_count,
                "positive": {"offset": ep.positive.offset, "counts": list(ep.positive.bucket_counts)},
                "negative": {"offset": ep.negative.offset, "counts": list(ep.negative.bucket_counts)},
            }
            yield (
                ep.time_unix_nano,
                ep.start_time_unix_nano,
                name,
                unit,
                "exponential_histogram",
                data.aggregation_temporality.name,
                None,
                to_json(dict(ep.attributes or {})),
                None,
                ep.count,
                float(ep.sum),
                _finite(ep.min),
                _finite(ep.max),
                to_json(buckets_exp),
            )


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None
