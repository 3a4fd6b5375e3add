"""Our collector delivers log records to the real Loki, and LogQL finds them with their trace.

Loki is the pinned release built by scripts/build-loki.sh, run with
deploy/loki.yaml (``harness.fixtures.loki``); the test skips when it is not
built, also in CI, which does not build it yet.  A log record sent over OTLP to
the collector (``collector/config.yaml``, exporter ``otlp_http/loki``) must come
back from ``{service_name="..."}`` with its body, and with the trace and span
ids as structured metadata (what Grafana's "logs to trace" link reads).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from harness import Collector, OtlpCapture
from harness.load import log_request
from harness.loki import Loki

pytestmark = [pytest.mark.stack]


def query_range(loki: Loki, logql: str, since_s: float = 600) -> list[dict[str, Any]]:
    now = time.time_ns()
    response = requests.get(
        f"{loki.url}/loki/api/v1/query_range",
        params={"query": logql, "start": now - int(since_s * 1e9), "end": now + int(60e9), "limit": 100},
        timeout=10,
    )
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_collector_delivers_a_log_record_with_its_trace_id_to_loki(
    loki: Loki, otlp_capture: OtlpCapture, collector_factory: Callable[..., Collector]
) -> None:
    collector = collector_factory(
        traces_url=otlp_capture.url,
        logs_url=loki.url,
        remote_write_url=f"{otlp_capture.url}/api/v1/write",  # no metrics are sent here
    )
    service = f"loki-test-{uuid.uuid4().hex[:8]}"
    trace_id = uuid.uuid4().bytes
    request = log_request(service, [7], trace_id)
    response = requests.post(
        f"{collector.otlp_http_url}/v1/logs",
        data=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    deadline = time.monotonic() + 30
    streams: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not streams:
        streams = query_range(loki, f'{{service_name="{service}"}}')
        if not streams:
            time.sleep(0.5)
    assert streams, f"nothing in Loki for service_name={service} after 30s; collector log:\n{collector.log_tail(20)}"
    [stream] = streams
    [(_, line)] = stream["values"]
    assert line == "load record 7"
    # structured metadata is returned merged into the stream labels
    assert stream["stream"]["trace_id"] == trace_id.hex()
    assert stream["stream"]["span_id"] == (7).to_bytes(8, "big").hex()
    assert stream["stream"]["service_name"] == service

    # and LogQL can filter on the metadata: the trace's logs, from Grafana's trace view
    by_trace = query_range(loki, f'{{service_name="{service}"}} | trace_id="{trace_id.hex()}"')
    assert [v[1] for s in by_trace for v in s["values"]] == ["load record 7"]


def test_audit_reads_an_sdk_conversation_back_from_real_loki(
    loki: Loki, otlp_capture: OtlpCapture, collector_factory: Callable[..., Collector], tmp_path, monkeypatch
) -> None:
    """The audit's LogQL (stream selector + conversation-id filter) and its parsing, on the real Loki."""
    import botwatch
    from botwatch import semconv
    from botwatch.audit.loki import Loki as LokiClient
    from botwatch.audit.loki import logql_filter, stream_selector

    collector = collector_factory(
        traces_url=otlp_capture.url, logs_url=loki.url, remote_write_url=f"{otlp_capture.url}/api/v1/write"
    )
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    service = f"audit-loki-{uuid.uuid4().hex[:8]}"
    botwatch.init(service_name=service, endpoint=collector.otlp_http_url)
    try:
        with botwatch.conversation("sess_loki_audit", channel="whatsapp") as conv:
            with conv.turn("Хочу записаться, мой номер 8 912 345-67-89") as turn:
                turn.intent("booking", 0.9)
                turn.reply("Записал на 15:00")
        botwatch.flush()
    finally:
        botwatch.shutdown()

    client = LokiClient(loki.url)
    query = f"{stream_selector(service)} {logql_filter(semconv.GEN_AI_CONVERSATION_ID, 'sess_loki_audit')}"
    end = time.time_ns() + 60 * 10**9
    deadline = time.monotonic() + 30
    lines: list[Any] = []
    while time.monotonic() < deadline and len(lines) < 3:
        lines = list(client.lines(query, end - 3600 * 10**9, end))
        time.sleep(0.5)
    client.close()
    events = {line.labels.get(semconv.prometheus_label(semconv.EVENT_NAME)): line for line in lines}
    assert {"funnel.conversation_started", "message.received", "bot.replied"} <= set(events), lines
    received = events["message.received"]
    assert received.line.startswith("Хочу записаться, мой номер +7 *** ***-67-89")
    assert "912 345-67-89" not in received.line
    assert received.labels["trace_id"] == conv.trace_id
    assert events["bot.replied"].labels[semconv.prometheus_label(semconv.INTENT)] == "booking"


def test_every_dashboard_logql_query_runs_on_real_loki(
    loki: Loki, otlp_capture: OtlpCapture, collector_factory: Callable[..., Collector], tmp_path, monkeypatch
) -> None:
    """The simulator (CRM errors on) through our collector into Loki; every LogQL panel query answers with lines."""
    from test_dashboards_stack import ALL, RANGE_VARS, substitute, targets

    import botwatch
    from botwatch.demo.faults import parse_faults
    from botwatch.demo.runner import run_demo

    collector = collector_factory(
        traces_url=otlp_capture.url, logs_url=loki.url, remote_write_url=f"{otlp_capture.url}/api/v1/write"
    )
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    service = f"dash-loki-{uuid.uuid4().hex[:8]}"
    botwatch.init(service_name=service, endpoint=collector.otlp_http_url)
    try:
        result = run_demo(30, 60.0, parse_faults("crm_errors=1"), 5)  # live: every record within Loki's 168h
        botwatch.flush()
    finally:
        botwatch.shutdown()
    assert result.tally.lead_failures > 0
    deadline = time.monotonic() + 30
    failed: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not failed:
        time.sleep(0.5)
        failed = query_range(loki, f'{{service_name="{service}"}} | botwatch_crm_outcome="error"', since_s=7 * 86400)
    everything = query_range(loki, f'{{service_name="{service}"}}', since_s=7 * 86400)
    assert failed, f"no failed CRM action reached Loki; {len(everything)} streams; {collector.log_tail(15)}"
    conversation = failed[0]["stream"]["gen_ai_conversation_id"]
    values = {"$job": service, "$channel": ALL, "$variant": ALL, "$model": ALL, "$conversation": conversation}
    checked = targets("loki")
    assert len(checked) >= 2
    for uid, title, target in checked:
        query = substitute(target["expr"], {**RANGE_VARS, **values})
        assert query_range(loki, query, since_s=7 * 86400), f"{uid} / {title}: no lines for {query}"
