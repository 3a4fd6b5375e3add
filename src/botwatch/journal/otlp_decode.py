"""OTLP protobuf requests → OpenTelemetry SDK records, so the journal exporters can write them.

The journal receiver (``botwatch.journal.receiver``) gets what the collector
sends to Tempo's and Loki's OTLP paths; decoding into the SDK's own record
types keeps one row builder (``journal.rows``) for every way into the journal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

_KINDS = {
    SpanProto.SPAN_KIND_INTERNAL: SpanKind.INTERNAL,
    SpanProto.SPAN_KIND_SERVER: SpanKind.SERVER,
    SpanProto.SPAN_KIND_CLIENT: SpanKind.CLIENT,
    SpanProto.SPAN_KIND_PRODUCER: SpanKind.PRODUCER,
    SpanProto.SPAN_KIND_CONSUMER: SpanKind.CONSUMER,
}
_STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}


class DecodeError(ValueError):
    """The body is not the OTLP protobuf message its path names."""


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, which)


def attributes(items: Iterable[KeyValue]) -> dict[str, Any]:
    return {item.key: any_value(item.value) for item in items if item.key}


def _resource(resource: ResourceProto) -> Resource:
    return Resource(attributes(resource.attributes))


def _scope(scope: InstrumentationScope) -> SdkScope:
    return SdkScope(scope.name or "otlp", scope.version or None, None, attributes(scope.attributes) or None)


def _int_id(raw: bytes) -> int:
    return int.from_bytes(raw, "big") if raw else 0


def _span(span: SpanProto, resource: Resource, scope: SdkScope) -> ReadableSpan:
    trace_id = _int_id(span.trace_id)
    flags = TraceFlags(span.flags & 0xFF)
    parent_id = _int_id(span.parent_span_id)
    status = _STATUS.get(span.status.code, StatusCode.UNSET)
    return ReadableSpan(
        name=span.name,
        context=SpanContext(trace_id, _int_id(span.span_id), is_remote=False, trace_flags=flags),
        parent=SpanContext(trace_id, parent_id, is_remote=False, trace_flags=flags) if parent_id else None,
        resource=resource,
        attributes=attributes(span.attributes),
        events=[Event(e.name, attributes(e.attributes), e.time_unix_nano) for e in span.events],
        links=[
            Link(
                SpanContext(_int_id(link.trace_id), _int_id(link.span_id), is_remote=True), attributes(link.attributes)
            )
            for link in span.links
        ],
        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=Status(status, span.status.message or None) if status is StatusCode.ERROR else Status(status),
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        instrumentation_scope=scope,
    )


Request = TypeVar("Request", ExportTraceServiceRequest, ExportLogsServiceRequest)


def _parse(request: Request, body: bytes) -> Request:
    try:
        request.ParseFromString(body)
    except Exception as error:  # protobuf raises its own DecodeError and others
        raise DecodeError(f"not an OTLP {type(request).__name__}: {error}") from error
    return request


def decode_spans(body: bytes) -> Iterator[ReadableSpan]:
    for batch in _parse(ExportTraceServiceRequest(), body).resource_spans:
        resource = _resource(batch.resource)
        for scope_spans in batch.scope_spans:
            scope = _scope(scope_spans.scope)
            for span in scope_spans.spans:
                yield _span(span, resource, scope)


def _context(trace_id: bytes, span_id: bytes, flags: int) -> Context | None:
    if not (_int_id(trace_id) and _int_id(span_id)):
        return None
    span_context = SpanContext(_int_id(trace_id), _int_id(span_id), True, TraceFlags(flags & 0xFF))
    return set_span_in_context(NonRecordingSpan(span_context))


def decode_logs(body: bytes) -> Iterator[ReadableLogRecord]:
    for batch in _parse(ExportLogsServiceRequest(), body).resource_logs:
        resource = _resource(batch.resource)
        for scope_logs in batch.scope_logs:
            scope = _scope(scope_logs.scope)
            for log in scope_logs.log_records:
                record = LogRecord(
                    timestamp=log.time_unix_nano or None,
                    observed_timestamp=log.observed_time_unix_nano or None,
                    context=_context(log.trace_id, log.span_id, log.flags),
                    severity_text=log.severity_text or None,
                    severity_number=SeverityNumber(log.severity_number) if log.severity_number else None,
                    body=any_value(log.body) if log.HasField("body") else None,
                    attributes=attributes(log.attributes),
                    event_name=log.event_name or None,
                )
                yield ReadableLogRecord(record, resource, scope)
