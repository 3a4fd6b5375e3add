"""Our collector, for real: OTLP in, the exact Tempo / Loki / Prometheus paths out.

Telemetry is produced with the plain OpenTelemetry SDK (not botwatch), so it
arrives the way any OTLP client sends it: unmasked.  Backends: the OTLP
capture server (Tempo's /v1/traces, Loki's /otlp/v1/logs) and Debian's
Prometheus via remote write.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from harness import TEMPO_TRACES_PATH, Collector, OtlpCapture, PrometheusClient
from harness.collector import TEST_REDACTION_KEY, validate
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from botwatch import semconv

pytestmark = pytest.mark.stack

PHONE_SPELLINGS = ("+7 (912) 345-67-89", "8 912 345 67 89", "89123456789", "+79123456789", "8-912-345-67-89")
EMAIL = "ivan.petrov@example.ru"
# What must never reach a backend, in any spelling.
FORBIDDEN = (b"9123456789", b"912) 345-67-89", b"912 345 67 89", b"912-345-67-89", EMAIL.encode())


@dataclass
class Sdk:
    """A plain OpenTelemetry SDK exporting OTLP/HTTP to the collector."""

    service_name: str
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider

    def flush(self) -> None:
        assert self.tracer_provider.force_flush(10_000)
        assert self.logger_provider.force_flush(10_000)
        assert self.meter_provider.force_flush(10_000)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


def make_sdk(collector: Collector, service_name: str) -> Sdk:
    resource = Resource.create({"service.name": service_name, "service.namespace": "botwatch-tests"})
    base = collector.otlp_http_url
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs")))
    views = [
        View(instrument_name=m.name, aggregation=ExplicitBucketHistogramAggregation(m.buckets))
        for m in semconv.METRICS
        if m.instrument == "histogram"
    ]
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics"), 60_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader], views=views)
    return Sdk(service_name, tracer_provider, logger_provider, meter_provider)


@pytest.fixture
def sdk(collector: Collector, request: pytest.FixtureRequest) -> Iterator[Sdk]:
    name = f"pipeline-{request.node.name[:30]}-{uuid.uuid4().hex[:6]}".replace("[", "-").replace("]", "")
    instance = make_sdk(collector, name)
    yield instance
    instance.shutdown()


def spans_of(capture: OtlpCapture, service_name: str) -> list[dict]:
    return [s for s in capture.spans() if s["resource"].get("service.name") == service_name]


def logs_of(capture: OtlpCapture, service_name: str) -> list[dict]:
    return [r for r in capture.log_records() if r["resource"].get("service.name") == service_name]


# --- configuration ------------------------------------------------------------------


def test_config_validates_with_defaults_only(collector_binary) -> None:
    """What CI runs: `otelcol-botwatch validate --config collector/config.yaml`, no env set."""
    result = validate(collector_binary, env={})
    assert result.returncode == 0, result.stdout + result.stderr


# --- traces, logs, metrics reach the backends -----------------------------------------


def test_conversation_trace_reaches_tempo_path_with_one_trace_id(sdk: Sdk, otlp_capture: OtlpCapture) -> None:
    tracer = sdk.tracer_provider.get_tracer("pipeline-test")
    with tracer.start_as_current_span(semconv.SPAN_CONVERSATION) as root:
        for index in range(2):
            with tracer.start_as_current_span(semconv.SPAN_TURN, attributes={semconv.TURN_INDEX: index}):
                with tracer.start_as_current_span(semconv.chat_span_name("gpt-4o-mini")):
                    pass
    sdk.flush()
    name = sdk.service_name

    otlp_capture.wait_for(lambda: len(spans_of(otlp_capture, name)) == 5, what="5 spans at /v1/traces")
    spans = spans_of(otlp_capture, name)
    assert {s["trace_id"] for s in spans} == {format(root.get_span_context().trace_id, "032x")}
    assert sorted(s["name"] for s in spans) == ["chat gpt-4o-mini"] * 2 + ["conversation"] + ["turn"] * 2
    assert otlp_capture.refused(TEMPO_TRACES_PATH) == 0


def test_log_records_reach_loki_otlp_path_with_trace_ids(sdk: Sdk, otlp_capture: OtlpCapture) -> None:
    tracer = sdk.tracer_provider.get_tracer("pipeline-test")
    logger = sdk.logger_provider.get_logger("pipeline-test")
    with tracer.start_as_current_span(semconv.SPAN_CONVERSATION) as root:
        for stage in (semconv.CONVERSATION_STARTED, semconv.BOOKING_CREATED):
            logger.emit(
                body=f"funnel {stage}",
                event_name=semconv.funnel_event_name(stage),
                attributes={semconv.FUNNEL_STAGE: stage, semconv.CHANNEL: "telegram"},
            )
    sdk.flush()
    name = sdk.service_name

    otlp_capture.wait_for(lambda: len(logs_of(otlp_capture, name)) == 2, what="2 log records at /otlp/v1/logs")
    records = logs_of(otlp_capture, name)
    assert {r["trace_id"] for r in records} == {format(root.get_span_context().trace_id, "032x")}
    assert all(r["span_id"] == format(root.get_span_context().span_id, "016x") for r in records)
    assert {r["attributes"][semconv.FUNNEL_STAGE] for r in records} == {"conversation_started", "booking_created"}


def _record_every_semconv_metric(sdk: Sdk) -> None:
    meter = sdk.meter_provider.get_meter("pipeline-test")
    tracer = sdk.tracer_provider.get_tracer("pipeline-test")
    with tracer.start_as_current_span(semconv.SPAN_TURN):  # sampled span: histograms get exemplars
        for metric in semconv.METRICS:
            labels = {attribute: "x" for attribute in metric.attributes}
            if metric.instrument == "histogram":
                meter.create_histogram(metric.name, unit=metric.unit, description=metric.description).record(
                    2.5, labels
                )
            else:
                meter.create_counter(metric.name, unit=metric.unit, description=metric.description).add(1, labels)
    # The SDK's own processor metrics, as opentelemetry-sdk names them.
    queue_full = {semconv.ERROR_TYPE: "queue_full"}
    meter.create_counter(semconv.SDK_SPANS_PROCESSED, unit="{span}").add(1, queue_full)
    meter.create_counter(semconv.SDK_LOGS_PROCESSED, unit="{log_record}").add(1, queue_full)
    sdk.flush()


def test_every_semconv_metric_is_queryable_in_prometheus_by_its_recorded_name(
    sdk: Sdk, promql: PrometheusClient
) -> None:
    _record_every_semconv_metric(sdk)
    service = sdk.service_name

    promql.wait_for(f'{{service_name="{service}"}}', lambda r: len(r) > 0, timeout=20)
    names = {s["__name__"] for s in promql.series(f'{{service_name="{service}"}}')}
    expected = {series for metric in semconv.METRICS for series in metric.prometheus_series}
    expected |= {semconv.SDK_SPANS_PROCESSED_PROMETHEUS, semconv.SDK_LOGS_PROCESSED_PROMETHEUS}
    assert expected <= names, f"missing in Prometheus: {sorted(expected - names)}; present: {sorted(names)}"

    for metric in semconv.METRICS:
        (labels,) = promql.series(f'{metric.prometheus_series[0]}{{service_name="{service}"}}')[:1] or [{}]
        assert set(metric.prometheus_labels) <= set(labels), (metric.name, labels)
        assert labels["job"] == f"botwatch-tests/{service}"
        assert labels[semconv.PROMETHEUS_SERVICE_LABEL] == service


def test_histogram_buckets_and_exemplars_survive_remote_write(sdk: Sdk, promql: PrometheusClient) -> None:
    start = time.time() - 60
    _record_every_semconv_metric(sdk)
    service = sdk.service_name
    bucket = f'{semconv.TURN_DURATION.prometheus}_bucket{{service_name="{service}"}}'

    result = promql.wait_for(bucket, lambda r: len(r) > 0, timeout=20)
    edges = {float(r["metric"]["le"]) for r in result}
    assert {semconv.SLA_SECONDS, 1.0, 5.0, 10.0} <= edges
    # Alert rules select these edges literally: le="3" and le="0.6".
    assert promql.value(f'{semconv.TURN_DURATION.prometheus}_bucket{{service_name="{service}", le="3"}}') == 1
    confidence = f'{semconv.INTENT_CONFIDENCE_METRIC.prometheus}_bucket{{service_name="{service}", le="0.6"}}'
    assert promql.value(confidence) == 0  # 2.5 recorded: above every confidence edge but +Inf

    deadline = time.monotonic() + 15
    while not (exemplars := promql.exemplars(bucket, start, time.time() + 60)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert exemplars, "no exemplar reached Prometheus"
    assert any("trace_id" in e["labels"] for series in exemplars for e in series["exemplars"]), exemplars


# --- personal data: the collector is the second line ----------------------------------


def test_raw_phones_and_emails_are_hashed_before_any_backend(sdk: Sdk, otlp_capture: OtlpCapture) -> None:
    tracer = sdk.tracer_provider.get_tracer("pipeline-test")
    logger = sdk.logger_provider.get_logger("pipeline-test")
    phone_attributes = {f"note.{i}": f"клиент {p}, перезвонить" for i, p in enumerate(PHONE_SPELLINGS)}
    with tracer.start_as_current_span(f"message from {PHONE_SPELLINGS[0]}") as span:
        span.set_attributes(phone_attributes)
        span.set_attribute("contact", EMAIL)
        span.set_attribute("phone.digits", 89123456789)  # numeric attribute
        span.set_attribute("client.phone", "+79123456789")  # a raw-PII key: dropped outright
        span.add_event("reply", {"text": f"Напишите на {EMAIL} или позвоните 8 (912) 345-67-89"})
        logger.emit(
            body=f"Клиент {PHONE_SPELLINGS[0]} ({EMAIL}) хочет записаться",
            attributes={"message.text": f"мой номер {PHONE_SPELLINGS[1]}", "from": EMAIL},
        )
        logger.emit(body={"text": f"позвоните {PHONE_SPELLINGS[2]}", "nested": {"mail": EMAIL}})
    sdk.flush()
    name = sdk.service_name

    otlp_capture.wait_for(lambda: spans_of(otlp_capture, name) and len(logs_of(otlp_capture, name)) == 2)
    raw = otlp_capture.raw_bytes()
    for forbidden in FORBIDDEN:
        assert forbidden not in raw, f"{forbidden!r} reached a backend"

    (span_out,) = spans_of(otlp_capture, name)
    digest = hmac.new(TEST_REDACTION_KEY.encode(), PHONE_SPELLINGS[0].encode(), hashlib.sha256).hexdigest()
    assert span_out["attributes"]["note.0"] == f"клиент {digest}, перезвонить"  # keyed hash, text kept
    assert re.fullmatch(r"[0-9a-f]{64}", span_out["attributes"]["contact"])
    assert re.fullmatch(r"[0-9a-f]{64}", str(span_out["attributes"]["phone.digits"]))
    assert "client.phone" not in span_out["attributes"]
    assert span_out["name"] == "message from [phone]"
    assert span_out["attributes"].get("redaction.masked.count", 0) >= 7

    bodies = [r["body"] for r in logs_of(otlp_capture, name)]
    assert f"Клиент {digest} (" in next(b for b in bodies if isinstance(b, str))


# --- bad input ----------------------------------------------------------------------


def test_malformed_otlp_is_refused_with_400(collector: Collector) -> None:
    url = f"{collector.otlp_http_url}/v1/traces"
    protobuf = requests.post(
        url, data=b"\x0a\xff\xff\xff\xffnot protobuf", headers={"Content-Type": "application/x-protobuf"}, timeout=10
    )
    assert protobuf.status_code == 400, protobuf.text
    json = requests.post(url, data=b'{"resourceSpans": [', headers={"Content-Type": "application/json"}, timeout=10)
    assert json.status_code == 400, json.text
    unsupported = requests.post(url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert unsupported.status_code == 415, unsupported.text


def test_oversized_payload_is_refused_and_the_collector_survives(
    collector: Collector, otlp_capture: OtlpCapture
) -> None:
    url = f"{collector.otlp_http_url}/v1/traces"
    limit = int(collector.env.get("OTLP_HTTP_MAX_BODY_BYTES", 8 * 1024 * 1024))
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(name="huge", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    )
    span.attributes.add(key="blob").value.string_value = "a" * (limit + 1024)
    body = request.SerializeToString()

    plain = requests.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert plain.status_code in (400, 413), plain.status_code
    # Compressed it is small on the wire; the limit must apply after decompression (zip bomb).
    bomb = requests.post(
        url,
        data=gzip.compress(body),
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        timeout=30,
    )
    assert bomb.status_code in (400, 413), bomb.status_code

    assert collector.running, collector.log_tail()
    small = ExportTraceServiceRequest()
    small.resource_spans.add().scope_spans.add().spans.add(
        name="after-huge", trace_id=b"\x03" * 16, span_id=b"\x04" * 8
    )
    ok = requests.post(
        url, data=small.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}, timeout=10
    )
    assert ok.status_code == 200
    otlp_capture.wait_for(lambda: any(s["name"] == "after-huge" for s in otlp_capture.spans()), what="span after huge")
    assert not any(s["name"] == "huge" for s in otlp_capture.spans())


def test_collector_exposes_its_own_telemetry_for_prometheus(collector: Collector, promql: PrometheusClient) -> None:
    result = promql.wait_for('up{job="otelcol"}', lambda r: r and r[0]["value"][1] == "1", timeout=20)
    assert result
    promql.wait_for('otelcol_receiver_accepted_spans_total{job="otelcol"}', timeout=20)
    logging.getLogger(__name__).info("collector self-metrics: %s", sorted(collector.self_metrics())[:20])
