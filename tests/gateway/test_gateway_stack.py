"""End to end: the gateway -> the real collector -> real Prometheus and the Tempo/Loki endpoints.

The issue's example event shows up as a trace, as log lines carrying its trace
id and in ``botwatch_*`` metrics (the gateway's own included, under the
Prometheus names ``semconv.GATEWAY_METRICS`` records); the phone never
appears in the clear.
"""

from __future__ import annotations

import asyncio

import pytest
from gateway_support import PHONE_FORMS, client_of, config, example_event, post_signed
from harness.capture import LOKI_LOGS_PATH, TEMPO_TRACES_PATH

import botwatch
from botwatch import semconv
from botwatch.gateway import create_app

pytestmark = pytest.mark.stack
SERVICE = "e2e-gateway"


@pytest.fixture(scope="module")
def event_sent(collector, otlp_capture, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1000")
    mp.setenv("BOTWATCH_SECRET_FILE", str(tmp_path_factory.mktemp("secret") / "s"))
    botwatch.init(service_name=SERVICE, endpoint=collector.otlp_http_url)

    async def send():
        async with client_of(create_app(config())) as client:
            return await post_signed(client, example_event(latency_ms=1500, model="gpt-4o-mini"))

    try:
        response = asyncio.run(send())
        botwatch.flush()
    finally:
        botwatch.shutdown()
        mp.undo()
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["trace_id"]


def test_example_event_is_a_trace_with_logs_carrying_its_id(event_sent, otlp_capture):
    trace_id = event_sent

    def spans():
        return [s for s in otlp_capture.spans() if s["trace_id"] == trace_id]

    otlp_capture.wait_for(lambda: len(spans()) >= 3, what="the event's spans")
    assert sorted(s["name"] for s in spans()) == ["conversation", "crm.lead.create", "turn"]
    assert [s["name"] for s in spans() if not s["parent_id"]] == ["conversation"]
    otlp_capture.wait_for(
        lambda: (
            {semconv.EVENT_BOT_REPLIED, semconv.EVENT_CRM_ACTION}
            <= {
                r["attributes"].get(semconv.LOKI_EVENT_NAME)
                for r in otlp_capture.log_records()
                if r["trace_id"] == trace_id
            }
        ),
        what="log records with the event's trace id",
    )
    # Only what belongs to this event: the capture is shared with other tests, whose
    # simulated clients have names too.
    tid = bytes.fromhex(trace_id)
    raw = b"".join(
        message.SerializeToString()
        for path in (TEMPO_TRACES_PATH, LOKI_LOGS_PATH)
        for message in otlp_capture.requests(path)
        if tid in message.SerializeToString()
    )
    assert raw
    for form in PHONE_FORMS:
        assert form not in raw


def test_event_shows_in_botwatch_metrics_and_gateway_metrics(event_sent, promql):
    job = f'job="{SERVICE}"'
    turn = promql.wait_for(f"{semconv.TURN_DURATION.prometheus}_count{{{job}}}", timeout=60)
    assert turn[0]["metric"]["botwatch_intent"] == "запись_на_приём"
    crm = promql.wait_for(f'{semconv.CRM_ACTIONS.prometheus}{{{job},botwatch_crm_action="lead.create"}}', timeout=60)
    assert crm[0]["metric"]["botwatch_crm_outcome"] == "success"
    funnel = promql.wait_for(f'{semconv.FUNNEL_EVENTS.prometheus}{{{job},botwatch_funnel_stage="lead_created"}}')
    assert float(funnel[0]["value"][1]) == 1
    for spec in semconv.GATEWAY_METRICS:
        series = promql.wait_for(f"{spec.prometheus_series[0]}{{{job}}}", timeout=60)
        # error.type only on 5xx, http.route only when a route matched (HTTP semantic conventions)
        optional = {"botwatch_gateway_reason", semconv.prometheus_label(semconv.ERROR_TYPE), "http_route"}
        assert set(spec.prometheus_labels) - optional <= set(series[0]["metric"]), spec.name
    accepted = promql.query(f'{semconv.GATEWAY_EVENTS.prometheus}{{{job},botwatch_gateway_outcome="accepted"}}')
    assert float(accepted[0]["value"][1]) == 1
