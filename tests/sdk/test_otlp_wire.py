"""botwatch's own OTLP encoder: the SDK's bytes exactly, personal data masked, our composed exporter around it."""

from __future__ import annotations

import collections
import logging
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.propagation import set_span_in_context
from otlp_receiver import OTLPReceiver

from botwatch.otlp_http import WireLogExporter, WireSpanExporter
from botwatch.otlp_wire import WireEncoder, varint
from botwatch.pii import Redactor
from botwatch.redacting import RedactingSpanExporter, masking_logs, masking_spans, redact_log, redact_span

PHONE = "+7 912 345-67-89"
REDACTOR = Redactor(b"wire-test-secret")


def span_provider(resource: Resource | None = None, **limits: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    kept = InMemorySpanExporter()
    provider = TracerProvider(
        resource=resource or Resource.create({"service.name": "wire"}), span_limits=SpanLimits(**limits)
    )
    provider.add_span_processor(SimpleSpanProcessor(kept))
    return provider, kept


def log_provider(resource: Resource | None = None) -> tuple[Any, InMemoryLogRecordExporter]:
    kept = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=resource or Resource.create({"service.name": "wire"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(kept))
    return provider, kept


def every_kind_of_span() -> list[Any]:
    """Spans using every field the encoder writes, over two resources and three scopes."""
    provider, kept = span_provider(max_attributes=6, max_events=2, max_links=1)
    other, other_kept = span_provider(Resource.create({"service.name": "other", "n": 3}, schema_url="https://s/1"))
    tracer = provider.get_tracer("botwatch")
    versioned = provider.get_tracer("lib", "1.2.3", schema_url="https://schema/1", attributes={"scope.attr": True})
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes={"s": "x", "i": -5, "f": -0.0}) as root:
        root.set_attributes({"b": False, "big": 2**62, "strs": ["a", ""], "ints": [1, 2], "floats": [0.5, math.inf]})
        root.set_attribute("empty", [])
        root.add_event("event", {"e": 1.5, "flag": True}, timestamp=123)
        root.add_event("bare")
        with tracer.start_as_current_span("child", kind=SpanKind.CLIENT, links=[Link(remote, {"l": "1"})]) as child:
            child.set_status(Status(StatusCode.ERROR, "it broke"))
        with versioned.start_as_current_span("lib-span", kind=SpanKind.PRODUCER) as lib:
            lib.set_status(Status(StatusCode.ERROR))
            lib.add_event("a")
            lib.add_event("b")
            lib.add_event("c")  # over max_events: counted as dropped
        with tracer.start_as_current_span(
            "too-many", kind=SpanKind.CONSUMER, links=[Link(remote), Link(remote)]
        ) as many:
            many.set_attributes({f"a{i}": i for i in range(9)})
            many.set_status(Status(StatusCode.OK))
    with tracer.start_as_current_span("remote-child", context=set_span_in_context(NonRecordingSpan(remote))):
        pass
    with other.get_tracer("x").start_as_current_span("", attributes={"unicode": "Иван ✓"}):
        pass
    return [*kept.get_finished_spans(), *other_kept.get_finished_spans()]


def every_kind_of_log() -> list[Any]:
    provider, kept = log_provider()
    logger = provider.get_logger("botwatch")
    versioned = provider.get_logger("lib", "2.0", schema_url="https://schema/2")
    bodies: list[Any] = ["text", None, 7, -1.25, True, b"\x00\x01", ["a", 1, [2.5]], {"k": {"n": [1, "x"]}}, ""]
    for n, body in enumerate(bodies):
        logger.emit(body=body, attributes={"n": n, "none": None, "map": {"a": 1}, "bytes": b"z", "list": [1, "2"]})
    tracer_provider, _ = span_provider()
    with tracer_provider.get_tracer("t").start_as_current_span("in-span"):
        versioned.emit(body="inside a span", severity_text="WARN", event_name="bot.replied")
    from opentelemetry._logs import SeverityNumber

    logger.emit(body="severe", severity_number=SeverityNumber.ERROR, severity_text="ERROR", timestamp=5)
    return list(kept.get_finished_logs())


def test_spans_are_the_sdk_bytes_exactly() -> None:
    spans = every_kind_of_span()
    assert len(spans) == 6 and any(s.dropped_attributes for s in spans) and any(s.dropped_events for s in spans)
    assert any(s.dropped_links for s in spans) and any(s.parent and s.parent.is_remote for s in spans)
    encoder = WireEncoder()
    expected = encode_spans(spans).SerializeToString()
    assert encoder.spans(spans) == expected
    assert encoder.spans(spans) == expected  # again, from the caches
    assert WireEncoder().spans([]) == encode_spans([]).SerializeToString() == b""


def test_log_records_are_the_sdk_bytes_exactly() -> None:
    logs = every_kind_of_log()
    assert len(logs) == 11
    encoder = WireEncoder()
    expected = encode_logs(logs).SerializeToString()
    assert encoder.logs(logs) == expected
    assert encoder.logs(logs) == expected


def test_equal_resources_from_different_providers_are_one_group() -> None:
    first, first_kept = span_provider(Resource.create({"service.name": "same"}))
    second, second_kept = span_provider(Resource.create({"service.name": "same"}))
    for provider in (first, second, first):
        with provider.get_tracer("botwatch").start_as_current_span("s"):
            pass
    spans = [
        first_kept.get_finished_spans()[0],
        second_kept.get_finished_spans()[0],
        first_kept.get_finished_spans()[1],
    ]
    assert spans[0].resource is not spans[1].resource
    request = ExportTraceServiceRequest.FromString(WireEncoder().spans(spans))
    assert len(request.resource_spans) == 1
    assert WireEncoder().spans(spans) == encode_spans(spans).SerializeToString()


def test_resources_equal_but_hashing_apart_stay_apart_as_in_the_sdk() -> None:
    spans = []
    for value in (1, True, 1.0):  # equal to each other, but the SDK's Resource hash tells them apart
        provider, kept = span_provider(Resource.create({"n": value}))
        with provider.get_tracer("botwatch").start_as_current_span("s"):
            pass
        spans += kept.get_finished_spans()
    assert WireEncoder().spans(spans) == encode_spans(spans).SerializeToString()
    assert len(ExportTraceServiceRequest.FromString(WireEncoder().spans(spans)).resource_spans) == 3


def test_an_empty_key_inside_a_map_is_left_out_as_protobuf_does() -> None:
    provider, kept = log_provider()
    provider.get_logger("keys").emit(body={"": 1, "a": {"": "x"}}, attributes={"m": {"": None}})
    logs = kept.get_finished_logs()
    assert WireEncoder().logs(logs) == encode_logs(logs).SerializeToString()


scalars = st.one_of(
    st.text(max_size=12),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=5), max_size=4),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=4),
    st.lists(st.floats(allow_nan=False), max_size=4),
    st.lists(st.booleans(), max_size=4),
)
attribute_maps = st.dictionaries(st.sampled_from(["a", "b", "ключ", "x.y"]), values, max_size=4)
SHARED = WireEncoder()  # one encoder across examples: its caches must never answer for another value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.text(max_size=8), attribute_maps, attribute_maps), min_size=1, max_size=4))
def test_generated_spans_match_the_sdk(specs: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    provider, kept = span_provider()
    tracer = provider.get_tracer("fuzz")
    for name, attributes, event_attributes in specs:
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            span.add_event(name, event_attributes)
    spans = kept.get_finished_spans()
    assert SHARED.spans(spans) == encode_spans(spans).SerializeToString()


any_values = st.recursive(
    st.one_of(scalars, st.none(), st.binary(max_size=6), st.text(min_size=250, max_size=300)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(any_values, st.dictionaries(st.sampled_from(["a", "b"]), any_values, max_size=3)),
        min_size=1,
        max_size=4,
    )
)
def test_generated_log_records_match_the_sdk(specs: list[tuple[Any, dict[str, Any]]]) -> None:
    provider, kept = log_provider()
    logger = provider.get_logger("fuzz")
    for body, attributes in specs:
        logger.emit(body=body, attributes=attributes)
    logs = kept.get_finished_logs()
    assert SHARED.logs(logs) == encode_logs(logs).SerializeToString()


def test_the_caches_emptied_mid_batch_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import botwatch.otlp_wire as otlp_wire

    monkeypatch.setattr(otlp_wire, "CACHE_LIMIT", 3)
    spans, logs = every_kind_of_span(), every_kind_of_log()
    encoder = WireEncoder(REDACTOR.text)
    for _ in range(2):
        assert encoder.spans(spans) == encode_spans([redact_span(REDACTOR, s) for s in spans]).SerializeToString()
        assert encoder.logs(logs) == encode_logs(logs).SerializeToString()
    assert encoder._remembered <= 3 and len(encoder._strings) <= 3


def test_zero_and_negative_zero_and_bool_and_int_stay_apart_in_the_cache() -> None:
    encoder = WireEncoder()
    provider, kept = span_provider()
    tracer = provider.get_tracer("cache")
    for value in (0.0, -0.0, 1, True, 1.0, False, 0, "1"):
        with tracer.start_as_current_span("s", attributes={"v": value}):
            pass
    for span in kept.get_finished_spans():
        assert encoder.spans([span]) == encode_spans([span]).SerializeToString(), span.attributes


def test_an_attribute_that_cannot_be_encoded_is_left_out_and_the_record_kept(caplog: pytest.LogCaptureFixture) -> None:
    provider, kept = log_provider()
    provider.get_logger("scope").emit(body="kept")
    record = kept.get_finished_logs()[0]
    # The SDK cleans what it is given; a processor may still hand the exporter anything.
    record.log_record.attributes = {"ok": 1, "huge": 2**70, "odd": object()}
    with caplog.at_level(logging.WARNING, logger="botwatch"):
        data = WireEncoder().logs([record])
    assert b"kept" in data and b"ok" in data and b"huge" not in data and b"odd" not in data
    assert "huge" in caplog.text and "odd" in caplog.text


def test_varint_matches_protobuf() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    for n in (0, 1, 127, 128, 300, 2**31, 2**63 - 1, -1, -(2**63)):
        assert AnyValue(int_value=n).SerializeToString() == b"\x18" + varint(n)


def test_masking_while_encoding_equals_masking_then_encoding() -> None:
    provider, kept = span_provider()
    tracer = provider.get_tracer("pii")
    with tracer.start_as_current_span(f"call {PHONE}", attributes={"note": f"write to a@b.ru or {PHONE}"}) as span:
        span.set_attribute("phones", ["x", PHONE])
        span.set_attribute("long", "x" * 300 + PHONE)  # too long to be remembered, masked all the same
        span.add_event(f"sms {PHONE}", {"to": PHONE})
        span.set_status(Status(StatusCode.ERROR, f"no answer at {PHONE}"))
    with tracer.start_as_current_span("clean", attributes={"id": "evt_20250101_001"}):
        pass
    spans = kept.get_finished_spans()
    masked = WireEncoder(REDACTOR.text).spans(spans)
    assert masked == encode_spans([redact_span(REDACTOR, s) for s in spans]).SerializeToString()
    assert b"345-67-89" not in masked and b"a@b.ru" not in masked and b"evt_20250101_001" in masked

    logs_provider, logs_kept = log_provider()
    logger = logs_provider.get_logger("pii")
    logger.emit(body=f"client {PHONE}", attributes={"nested": {"list": [PHONE, 1]}, "plain": "ok"})
    logger.emit(body=["a@b.ru", {"k": PHONE}])
    logs = logs_kept.get_finished_logs()
    masked = WireEncoder(REDACTOR.text).logs(logs)
    assert b"345-67-89" not in masked and b"a@b.ru" not in masked and b"plain" in masked
    # The same records as masking first gives; that path moves a masked attribute to the end, ours keeps its place.
    assert by_key(masked) == by_key(encode_logs([redact_log(REDACTOR, r) for r in logs]).SerializeToString())


def by_key(data: bytes) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest.FromString(data)
    for record in request.resource_logs[0].scope_logs[0].log_records:
        ordered = sorted(record.attributes, key=lambda kv: kv.key)
        del record.attributes[:]
        record.attributes.extend(ordered)
    return request


def test_http_exporters_send_masked_bytes_the_collector_decodes(receiver: OTLPReceiver) -> None:
    receiver.clear()
    spans = WireSpanExporter(endpoint=f"{receiver.url}/v1/traces")
    logs = WireLogExporter(endpoint=f"{receiver.url}/v1/logs")
    # On the SDK botwatch installs, the fast path is armed (not the generic wrappers).
    assert masking_spans(spans, REDACTOR) is spans and masking_logs(logs, REDACTOR) is logs
    provider, kept = span_provider()
    with provider.get_tracer("http").start_as_current_span("turn", attributes={"phone": PHONE}):
        pass
    log_source, log_kept = log_provider()
    log_source.get_logger("http").emit(body=f"reply to {PHONE}")
    assert spans.export(kept.get_finished_spans()) == SpanExportResult.SUCCESS
    assert logs.export(log_kept.get_finished_logs()).name == "SUCCESS"
    receiver.wait_for(lambda: receiver.count("/v1/traces") >= 1 and receiver.count("/v1/logs") >= 1)
    [span] = receiver.spans()
    [log] = receiver.logs()
    assert span["name"] == "turn" and PHONE not in str(span) and "***" in str(span["attributes"])
    assert "***" in str(log) and "345-67-89" not in str(log)
    spans.shutdown()
    logs.shutdown()
    assert spans.export(kept.get_finished_spans()) == SpanExportResult.FAILURE  # after shutdown, as the SDK's


def test_a_batch_over_max_request_size_fails_alone(receiver: OTLPReceiver) -> None:
    exporter = WireSpanExporter(endpoint=f"{receiver.url}/v1/traces", max_request_size=450)
    assert exporter.mask_with(REDACTOR.text)
    provider, kept = span_provider()
    with provider.get_tracer("big").start_as_current_span("big", attributes={"blob": "x" * 500}):
        pass
    with provider.get_tracer("big").start_as_current_span("small"):
        pass
    big, small = kept.get_finished_spans()
    assert exporter.export([big]) == SpanExportResult.FAILURE
    assert exporter.export([small]) == SpanExportResult.SUCCESS
    exporter.shutdown()


def test_an_exporter_that_cannot_mask_itself_is_wrapped_and_still_masks(receiver: OTLPReceiver) -> None:
    """The SDK's own OTLP exporter (or gRPC, the journal) has no ``mask_with``: the generic wrapper masks for it."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    receiver.clear()
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces")
    wrapped = masking_spans(exporter, REDACTOR)
    assert isinstance(wrapped, RedactingSpanExporter) and wrapped.inner is exporter
    provider, kept = span_provider()
    with provider.get_tracer("fallback").start_as_current_span(f"call {PHONE}"):
        pass
    assert wrapped.export(kept.get_finished_spans()) == SpanExportResult.SUCCESS
    receiver.wait_for(lambda: receiver.count("/v1/traces") >= 1)
    [span] = receiver.spans()
    assert "***" in span["name"] and "345-67-89" not in str(span)
    wrapped.shutdown()

    class Plain(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    assert isinstance(masking_spans(Plain(), REDACTOR), RedactingSpanExporter)


def test_both_masking_paths_reach_links_map_keys_and_log_names() -> None:
    """The encoder and the generic wrappers (journal, gRPC, a future SDK) mask the same places."""
    provider, kept = span_provider()
    remote = SpanContext(0xABC, 0xDEF, is_remote=True)
    with provider.get_tracer("pii").start_as_current_span("s", links=[Link(remote, {"to": PHONE})]):
        pass
    spans = kept.get_finished_spans()
    logs_provider, logs_kept = log_provider()
    logger = logs_provider.get_logger("pii")
    logger.emit(body={PHONE: "keyed by phone"}, attributes={"m": {"a@b.ru": 1}})
    logger.emit(body=collections.deque([PHONE]), severity_text=f"to {PHONE}", event_name=f"sms {PHONE}")
    logs = logs_kept.get_finished_logs()
    wire = WireEncoder(REDACTOR.text).spans(spans) + WireEncoder(REDACTOR.text).logs(logs)
    generic = (
        encode_spans([redact_span(REDACTOR, s) for s in spans]).SerializeToString()
        + encode_logs([redact_log(REDACTOR, r) for r in logs]).SerializeToString()
    )
    for data in (wire, generic):
        assert b"345-67-89" not in data and b"a@b.ru" not in data
        assert data.count(b"***") >= 6


def test_a_batch_over_max_request_size_counts_as_the_sdk_counts_it(
    receiver: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    reader = InMemoryMetricReader()
    exporter = WireSpanExporter(
        endpoint=f"{receiver.url}/v1/traces",
        max_request_size=450,
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    assert exporter.mask_with(REDACTOR.text)
    provider, kept = span_provider()
    with provider.get_tracer("big").start_as_current_span("big", attributes={"blob": "x" * 500}):
        pass
    assert exporter.export(kept.get_finished_spans()) == SpanExportResult.FAILURE
    errors = [
        dict(point.attributes or {}).get("error.type")
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name.endswith("exported")
        for point in metric.data.data_points
    ]
    assert "RequestPayloadTooLargeError" in errors
    exporter.shutdown()
