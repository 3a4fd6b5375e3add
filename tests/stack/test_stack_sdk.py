"""The SDK through the real collector into real Prometheus and the Tempo/Loki endpoints.

Proves the Prometheus names ``semconv.py`` records are the ones the pipeline
produces (labels included), exemplars reach Prometheus, and one conversation
arrives as one trace with its log records linked by trace id.
"""

from __future__ import annotations

import time

import pytest

import botwatch
from botwatch import semconv

pytestmark = pytest.mark.stack
SERVICE = "e2e-salon-bot"


@pytest.fixture(scope="module")
def conversation_sent(collector, otlp_capture, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1000")
    mp.setenv("BOTWATCH_SECRET_FILE", str(tmp_path_factory.mktemp("secret") / "s"))
    telemetry = botwatch.init(service_name=SERVICE, endpoint=collector.otlp_http_url)
    started = time.time()
    try:
        with botwatch.conversation(
            "sess_e2e_1", channel="whatsapp", client_phone="+79123456789", scenario_variant="A"
        ) as conv:
            with conv.turn("Хочу записаться на стрижку, мой номер 8 912 345-67-89") as turn:
                turn.intent("booking", confidence=0.87)
                with turn.llm(model="gpt-4o-mini", provider="openai") as call:
                    call.usage(input_tokens=120, output_tokens=30, cost=0.0004)
                    call.response_model = "gpt-4o-mini-2024-07-18"
                with turn.crm("lead.create", system="bitrix24") as action:
                    action.fail("QUERY_LIMIT_EXCEEDED")
                with turn.crm("lead.create", system="bitrix24") as action:
                    action.entity_id = "4521"
                turn.reply("Записал на 15:00, отправил напоминание")
            with conv.send("Напоминаем о записи завтра в 15:00", kind="reminder"):
                pass
            conv.funnel("booking_confirmed")
        telemetry.instruments.reviews.add(
            1, {semconv.INTENT: "booking", semconv.REVIEW_VERDICT: "wrong", semconv.REVIEW_TRUE_INTENT: "price"}
        )
        botwatch.flush()
    finally:
        botwatch.shutdown()
        mp.undo()
    return conv, started


def test_every_semconv_metric_is_queryable_under_its_prometheus_name(conversation_sent, promql):
    for spec in semconv.METRICS:
        series_name = spec.prometheus_series[0]
        result = promql.wait_for(f'{series_name}{{job="{SERVICE}"}}', timeout=60)
        labels = result[0]["metric"]
        assert labels["service_name"] == SERVICE
        expected = {label for label in spec.prometheus_labels if label != "error_type"}
        assert expected <= set(labels), (spec.name, sorted(labels))
    failed = promql.query(
        f'botwatch_crm_actions_total{{job="{SERVICE}",botwatch_crm_outcome="error",error_type="QUERY_LIMIT_EXCEEDED"}}'
    )
    assert failed and float(failed[0]["value"][1]) == 1
    le3 = promql.query(f'botwatch_turn_duration_seconds_bucket{{job="{SERVICE}",le=~"3(\\\\.0)?"}}')
    assert le3, "the 3 s SLA edge is not a bucket boundary in Prometheus"
    le06 = promql.query(f'botwatch_intent_confidence_bucket{{job="{SERVICE}",le="0.6"}}')
    assert le06 and float(le06[0]["value"][1]) == 0  # 0.87 is above the low-confidence edge


def test_turn_latency_exemplar_links_to_the_trace(conversation_sent, promql):
    conv, started = conversation_sent
    deadline = time.monotonic() + 30
    trace_ids: set[str] = set()
    while time.monotonic() < deadline and conv.trace_id not in trace_ids:
        found = promql.exemplars(
            f'botwatch_turn_duration_seconds_bucket{{job="{SERVICE}"}}', started - 60, time.time() + 60
        )
        trace_ids = {e["labels"].get("trace_id", "") for series in found for e in series["exemplars"]}
        time.sleep(0.5)
    assert conv.trace_id in trace_ids


def test_conversation_is_one_trace_and_logs_carry_its_id(conversation_sent, otlp_capture):
    conv, _ = conversation_sent

    def mine() -> list[dict]:
        return [s for s in otlp_capture.spans() if s["trace_id"] == conv.trace_id]

    otlp_capture.wait_for(lambda: len(mine()) >= 7, what="all spans of the conversation")
    names = sorted(s["name"] for s in mine())
    assert names == sorted(
        ["conversation", "turn", "chat gpt-4o-mini", "crm.lead.create", "crm.lead.create", "message.send", "funnel"]
    )
    roots = [s for s in mine() if not s["parent_id"]]
    assert [r["name"] for r in roots] == ["conversation"]
    otlp_capture.wait_for(
        lambda: (
            {
                semconv.EVENT_MESSAGE_RECEIVED,
                semconv.EVENT_BOT_REPLIED,
                semconv.EVENT_CRM_ACTION,
                semconv.EVENT_MESSAGE_SENT,
            }
            <= {
                r["attributes"].get(semconv.LOKI_EVENT_NAME)  # copied from EventName by the collector, for Loki
                for r in otlp_capture.log_records()
                if r["trace_id"] == conv.trace_id
            }
        ),
        what="log records with the conversation's trace id",
    )
    raw = otlp_capture.raw_bytes()
    for form in (b"79123456789", b"9123456789", b"912 345-67-89"):
        assert form not in raw
