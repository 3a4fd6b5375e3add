"""Tempo's OTLP/JSON traces and Loki's lines → OpenTelemetry SDK records, for the journal's own code.

The stack source stages what it fetched in a scratch journal through the
journal exporters, so replay, summaries and filters are the journal's code,
not a second implementation.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, set_span_in_context

from botwatch import semconv
from botwatch.audit.loki import event_name_of

# Loki stores attribute names with dots as underscores; these are the ones botwatch reads back.
_DOTTED = {
    value.replace(".", "_"): value
    for name, value in vars(semconv).items()
    if name.isupper() and isinstance(value, str) and "." in value and not value.endswith(".")
}
_INTS = {semconv.TURN_INDEX, semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS}
_FLOATS = {semconv.INTENT_CONFIDENCE, semconv.LLM_COST}
_BOOLS = {semconv.SLA_BREACHED, semconv.REPLY_UNTIMED}
# Loki's own stream labels and the metadata it adds from the OTLP record itself.
LOKI_RECORD_FIELDS = ("trace_id", "span_id", "severity_text", "severity_number", "flags", "observed_timestamp")
_KINDS = {k.name: k for k in SpanKind}


def span_id_of(raw: object, size: int) -> int | None:
    """An id given as hex (Tempo search, Loki metadata) or base64 (OTLP/JSON bytes); None if empty or unreadable."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    if len(text) <= size * 2 and all(c in _HEX for c in text):
        return int(text, 16) or None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return (int.from_bytes(data, "big") or None) if len(data) == size else None


_HEX = frozenset("0123456789abcdefABCDEF")


def any_value(value: Mapping[str, Any]) -> Any:
    for key, raw in value.items():
        if key == "stringValue":
            return raw
        if key == "intValue":
            return int(raw)
        if key == "doubleValue":
            return float(raw)
        if key == "boolValue":
            return bool(raw)
        if key == "arrayValue":
            return [any_value(v) for v in raw.get("values", [])]
        if key == "kvlistValue":
            return attributes(raw.get("values", []))
        if key == "bytesValue":
            return raw
    return None


def attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        if isinstance(item, Mapping) and "key" in item:
            out[str(item["key"])] = any_value(item.get("value") or {})
    return out


def resource_spans(body: Any) -> list[Mapping[str, Any]]:
    """The resourceSpans of a Tempo trace answer (v1 ``batches``, v2 ``trace``, plain OTLP/JSON)."""
    if not isinstance(body, Mapping):
        raise ValueError("not a JSON object")
    if "trace" in body and isinstance(body["trace"], Mapping):
        body = body["trace"]
    found = body.get("batches", body.get("resourceSpans"))
    if not isinstance(found, list):
        raise ValueError("no batches / resourceSpans")
    return found


def readable_spans(body: Any) -> Iterator[ReadableSpan]:
    for batch in resource_spans(body):
        resource = Resource(attributes((batch.get("resource") or {}).get("attributes")))
        for scope_spans in batch.get("scopeSpans", batch.get("instrumentationLibrarySpans", [])) or []:
            scope_name = (scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}).get("name", "")
            scope = InstrumentationScope(scope_name or "tempo")
            for span in scope_spans.get("spans", []) or []:
                yield _readable_span(span, resource, scope)


def _readable_span(span: Mapping[str, Any], resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    trace_id = span_id_of(span.get("traceId"), 16) or 0
    span_id = span_id_of(span.get("spanId"), 8) or 0
    parent_id = span_id_of(span.get("parentSpanId"), 8)
    kind = span.get("kind", "SPAN_KIND_INTERNAL")
    if isinstance(kind, int):
        kind_value = list(SpanKind)[max(kind - 1, 0)] if kind else SpanKind.INTERNAL
    else:
        kind_value = _KINDS.get(str(kind).removeprefix("SPAN_KIND_"), SpanKind.INTERNAL)
    status = span.get("status") or {}
    code = status.get("code", 0)
    status_code = {
        "STATUS_CODE_ERROR": StatusCode.ERROR,
        2: StatusCode.ERROR,
        "STATUS_CODE_OK": StatusCode.OK,
        1: StatusCode.OK,
    }.get(code, StatusCode.UNSET)
    events = [
        Event(str(e.get("name", "")), attributes(e.get("attributes")), int(e.get("timeUnixNano", 0)))
        for e in span.get("events", []) or []
    ]
    return ReadableSpan(
        name=str(span.get("name", "")),
        context=SpanContext(trace_id, span_id, is_remote=False),
        parent=SpanContext(trace_id, parent_id, is_remote=False) if parent_id else None,
        resource=resource,
        attributes=attributes(span.get("attributes")),
        events=events,
        kind=kind_value,
        status=Status(status_code, status.get("message") or None) if status_code is StatusCode.ERROR else Status(),
        start_time=int(span.get("startTimeUnixNano", 0)),
        end_time=int(span.get("endTimeUnixNano", 0)),
        instrumentation_scope=scope,
    )


def loki_attributes(labels: Mapping[str, str]) -> dict[str, Any]:
    """Structured metadata of a Loki line → the record's attributes under their OTel names."""
    out: dict[str, Any] = {}
    for key, raw in labels.items():
        name = _DOTTED.get(key)
        if name is None:
            continue
        out[name] = _typed(name, raw)
    return out


def _typed(name: str, raw: str) -> Any:
    try:
        if name in _INTS:
            return int(float(raw))
        if name in _FLOATS:
            return float(raw)
    except ValueError:
        return raw
    if name in _BOOLS:
        return raw.lower() == "true"
    return raw


def readable_log(time_ns: int, line: str, labels: Mapping[str, str]) -> ReadableLogRecord:
    attrs = loki_attributes(labels)
    trace_id = span_id_of(labels.get("trace_id"), 16)
    span_id = span_id_of(labels.get("span_id"), 8)
    context = None
    if trace_id and span_id:
        context = set_span_in_context(NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=True)))
    record = LogRecord(
        timestamp=time_ns,
        observed_timestamp=time_ns,
        context=context,
        severity_text=labels.get("severity_text") or None,
        body=line,
        attributes=attrs,
        event_name=event_name_of(labels),
    )
    resource = Resource({semconv.SERVICE_NAME: labels.get("service_name", "")})
    return ReadableLogRecord(record, resource, InstrumentationScope("loki"))
