"""Every export path masks the same places: the table (masking.table.PLACES) drives the records.

For each place a span or log record carries a phone and an e-mail there and
nowhere else; it is encoded by the OTLP/HTTP wire encoder (masking while it
encodes) and by the generic wrappers + the SDK's encoder (what the journal,
OTLP/gRPC and the fallback export).  Both decode to the same message, and
neither holds the number or the address.  Metrics (every instrument type,
exemplars, resource, scope) are masked by the generic path on both the OTLP
and the Prometheus pull endpoints.
"""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode
from pii_forms import leaks

import botwatch
from botwatch.masking.table import PLACES
from botwatch.otlp_wire import WireEncoder
from botwatch.pii import Redactor
from botwatch.redacting import RedactingLogExporter, RedactingSpanExporter

REDACTOR = Redactor(b"paths-test-secret")
PHONE, CANONICAL = "8\u00a0(912)\u00a0345\u201167\u201189", "79123456789"
EMAIL, LOCAL = "Ivan.Petrov77@Салон.рф", "ivan.petrov77"
PII = f"{PHONE} {EMAIL}"
KEY = "client.79123456789"  # an attribute key that is personal data
SPAN_PLACES = [p for p in PLACES if p[0] in ("resource", "scope", "span", "span event", "span link")]
LOG_PLACES = [p for p in PLACES if p[0] in ("resource", "scope", "log record")]


def test_the_table_lists_every_kind_of_record():
    kinds = {kind for kind, _ in PLACES}
    assert kinds == {
        "resource",
        "scope",
        "span",
        "span event",
        "span link",
        "log record",
        "metric data point",
        "metric exemplar",
    }
    assert len(SPAN_PLACES) == 10 and len(LOG_PLACES) == 8


def _resource(place: tuple[str, str]) -> Resource:
    extra = {"owner": PII, KEY: "x", "nested": [PII, "ok"]} if place == ("resource", "attributes") else {}
    return Resource.create({"service.name": "paths", **extra})


def _scope(place: tuple[str, str]) -> tuple[str, str | None, dict[str, Any] | None]:
    name = f"lib-{CANONICAL}" if place == ("scope", "name") else "lib"
    version = f"1.0+{EMAIL}" if place == ("scope", "version") else "1.0"
    attributes = {"who": PII, KEY: 1} if place == ("scope", "attributes") else {"ok": 1}
    return name, version, attributes


def spans_for(place: tuple[str, str]) -> list[Any]:
    provider = TracerProvider(resource=_resource(place))
    kept = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    name, version, attributes = _scope(place)
    tracer = provider.get_tracer(name, version, attributes=attributes)
    remote = SpanContext(0xABC, 0xDEF, is_remote=True)
    link_attributes = {"to": PII, KEY: True} if place == ("span link", "attributes") else {"to": "other"}
    span_name = f"turn {PII}" if place == ("span", "name") else "turn"
    with tracer.start_as_current_span(span_name, links=[Link(remote, link_attributes)]) as span:
        if place == ("span", "attributes"):
            span.set_attributes({"text": PII, KEY: 5, "list": ["a", PII]})
        span.set_attribute("plain", "Записал на 15:00, 2 500 ₽")
        event_name = f"reply {PII}" if place == ("span event", "name") else "reply"
        event_attributes = {"text": PII, KEY: 1.5} if place == ("span event", "attributes") else {"n": 1}
        span.add_event(event_name, event_attributes)
        if place == ("span", "status message"):
            span.set_status(Status(StatusCode.ERROR, f"duplicate {PII}"))
    return list(kept.get_finished_spans())


def logs_for(place: tuple[str, str]) -> list[Any]:
    provider = LoggerProvider(resource=_resource(place))
    kept = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(kept))
    name, version, attributes = _scope(place)
    logger = provider.get_logger(name, version, attributes=attributes)
    body: Any = "ordinary line 15:00"
    if place == ("log record", "body"):
        body = {"text": PII, KEY: [PII, {"deep": PII}]}
    log_attributes = {"plain": "ok"}
    if place == ("log record", "attributes"):
        log_attributes = {"text": PII, KEY: "v", "map": {KEY: PII}, "list": [PII]}
    logger.emit(
        body=body,
        attributes=log_attributes,
        severity_text=f"INFO {PII}" if place == ("log record", "severity text") else "INFO",
        event_name=f"bot.replied.{CANONICAL}" if place == ("log record", "event name") else "bot.replied",
    )
    logger.emit(body=f"HTTP Request: POST https://b24.example.ru/rest/1/k9x2m4p7q1w8e5r3/crm.lead.add.json {PII}")
    return list(kept.get_finished_logs())


def _decoded(data: bytes, kind: type[Any]) -> dict[str, Any]:
    return MessageToDict(kind.FromString(data))


@pytest.mark.parametrize("place", SPAN_PLACES, ids=" ".join)
def test_spans_are_masked_in_the_same_places_by_both_paths(place):
    spans = spans_for(place)
    raw = encode_spans(spans).SerializeToString()
    wire = WireEncoder(REDACTOR.text).spans(spans)
    kept = InMemorySpanExporter()
    RedactingSpanExporter(kept, REDACTOR).export(spans)
    generic = encode_spans(kept.get_finished_spans()).SerializeToString()
    assert leaks(raw, CANONICAL, LOCAL), "the unmasked record must hold the phone there"
    assert leaks(wire, CANONICAL, LOCAL) == [] and leaks(generic, CANONICAL, LOCAL) == []
    assert _decoded(wire, ExportTraceServiceRequest) == _decoded(generic, ExportTraceServiceRequest)
    assert b"15:00, 2 500 \xe2\x82\xbd" in wire  # ordinary text untouched


@pytest.mark.parametrize("place", LOG_PLACES, ids=" ".join)
def test_log_records_are_masked_in_the_same_places_by_both_paths(place):
    records = logs_for(place)
    raw = encode_logs(records).SerializeToString()
    wire = WireEncoder(REDACTOR.text).logs(records)  # first: the generic path masks log records in place
    kept = InMemoryLogRecordExporter()
    RedactingLogExporter(kept, REDACTOR).export(records)
    generic = encode_logs(kept.get_finished_logs()).SerializeToString()
    assert leaks(raw, CANONICAL, LOCAL)
    for data in (wire, generic):
        assert leaks(data, CANONICAL, LOCAL) == [] and b"k9x2m4p7q1w8e5r3" not in data
        assert b"/rest/1/***/crm.lead.add.json" in data
    assert _decoded(wire, ExportLogsServiceRequest) == _decoded(generic, ExportLogsServiceRequest)


def test_metric_attributes_of_every_instrument_resource_and_scope_are_masked():
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create({"owner": PII}), metric_readers=[reader])
    meter = provider.get_meter(f"lib-{CANONICAL}", attributes={KEY: PII})
    labels = {"client": PII, KEY: "x"}
    meter.create_counter("c").add(1, labels)
    meter.create_up_down_counter("u").add(-1, labels)
    meter.create_histogram("h").record(0.5, labels)
    meter.create_gauge("g").set(3, labels)
    meter.create_observable_gauge("og", [lambda _options: [_observation(labels)]])
    data = reader.get_metrics_data()
    assert data is not None
    assert leaks(str(data).encode(), CANONICAL, LOCAL)
    masked = REDACTOR.records.metrics(data)
    assert leaks(str(masked).encode(), CANONICAL, LOCAL) == []
    points = [
        p for rm in masked.resource_metrics for sm in rm.scope_metrics for m in sm.metrics for p in m.data.data_points
    ]
    assert len(points) == 5 and all(p.attributes["client"].startswith("+7 *** ***-67-89 (ph_") for p in points)
    clean = REDACTOR.records.metrics(_clean_metrics())
    assert clean is REDACTOR.records.metrics(clean), "nothing to mask: the same object passes"


def _observation(labels: dict[str, str]) -> Any:
    from opentelemetry.metrics import Observation

    return Observation(7, labels)


def _clean_metrics() -> Any:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("m").create_counter("c").add(1, {"channel": "web"})
    return reader.get_metrics_data()


def test_a_bots_own_metric_with_a_phone_label_is_masked_on_otlp_and_pull(receiver, tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    telemetry = botwatch.init(service_name="paths", endpoint=receiver.url, prometheus_port=port, secret="x" * 32)
    try:
        meter = telemetry.meter_provider.get_meter("bot")
        meter.create_counter("bot.leads").add(1, {"client": PII, KEY: "v"})
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        botwatch.flush()
        receiver.wait_for(lambda: any(m.name == "bot.leads" for m, _ in receiver.metrics()))
    finally:
        botwatch.shutdown()
    assert b"bot_leads" in scraped and b"ph_" in scraped
    assert leaks(scraped, CANONICAL, LOCAL) == []
    assert leaks(b"".join(receiver.raw), CANONICAL, LOCAL) == []
