"""Exporter wrappers that mask personal data in everything they pass on.

They run on the exporter's background thread, so the bot's hot path does
not pay for them, and they cover spans and log records the SDK did not
create itself (auto-instrumentation, the bot's own log lines).  An exporter
that can mask while it encodes (OTLP/HTTP, :mod:`botwatch.otlp_http`) is
armed to do so instead of being wrapped: see :func:`masking_spans`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes

from botwatch.pii import Redactor


def _value(redactor: Redactor, value: Any) -> Any:
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_value(redactor, v) for v in value)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_value(redactor, v) for v in value]
    if isinstance(value, Mapping):
        # Keys inside a value are data too (a body may be keyed by phone).
        return {_value(redactor, k): _value(redactor, v) for k, v in value.items()}
    return value


def redact_attributes(redactor: Redactor, attributes: Attributes) -> dict[str, Any]:
    if not attributes:
        return {}
    return {key: _value(redactor, value) for key, value in attributes.items()}


def _strings_of(span: ReadableSpan) -> Iterator[object]:
    yield span.name
    yield span.status.description
    if span.attributes:
        yield from span.attributes.values()
    for event in span.events:
        yield event.name
        if event.attributes:
            yield from event.attributes.values()
    for link in span.links:
        if link.attributes:
            yield from link.attributes.values()


def _clean(redactor: Redactor, span: ReadableSpan) -> bool:
    """True when no string of the span can hold a phone or e-mail (most spans): it passes as it is."""
    return not redactor.any_suspect(_strings_of(span))


def redact_span(redactor: Redactor, span: ReadableSpan) -> ReadableSpan:
    if _clean(redactor, span):
        return span
    status = span.status
    if status.description:
        status = Status(status.status_code, redactor.text(status.description))
    events = [Event(redactor.text(e.name), redact_attributes(redactor, e.attributes), e.timestamp) for e in span.events]
    # A link without suspect strings stays as it is (with its dropped-attribute count).
    links = [
        Link(link.context, redact_attributes(redactor, link.attributes))
        if link.attributes and redactor.any_suspect(link.attributes.values())
        else link
        for link in span.links
    ]
    return ReadableSpan(
        name=redactor.text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redact_attributes(redactor, span.attributes),
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, redactor: Redactor) -> None:
        self.inner = inner
        self._redactor = redactor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redact_span(self._redactor, s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def redact_log(redactor: Redactor, record: ReadableLogRecord) -> ReadableLogRecord:
    log = record.log_record
    attributes = log.attributes
    event_name = getattr(log, "event_name", None)  # SDK >= 1.35
    if not redactor.any_suspect([log.body, log.severity_text, event_name, *(attributes or {}).values()]):
        return record
    suspect = redactor.suspect
    if suspect(log.body):
        log.body = _value(redactor, log.body)
    if log.severity_text:
        log.severity_text = redactor.text(log.severity_text)
    if event_name:
        log.event_name = redactor.text(event_name)
    if log.attributes:
        for key, value in list(log.attributes.items()):
            if suspect(value):
                log.attributes[key] = _value(redactor, value)  # type: ignore[index]
    return record


class RedactingLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, redactor: Redactor) -> None:
        self.inner = inner
        self._redactor = redactor

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return self.inner.export([redact_log(self._redactor, r) for r in batch])

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
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
