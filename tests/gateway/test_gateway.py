"""The webhook gateway in process: events to spans/logs/metrics, security, limits, idempotency, partial batches.

The helpers shared with other tests are in tests/gateway_support.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from gateway_support import (
    PHONE,
    PHONE_FORMS,
    PLAIN_TOKEN,
    SIGNED_TOKEN,
    client_of,
    config,
    example_event,
    post_plain,
    post_signed,
    signed_headers,
    tenants,
)
from harness.paths import REPO
from otlp_receiver import OTLPReceiver

import botwatch
from botwatch import semconv
from botwatch.gateway import create_app
from botwatch.gateway.app import openapi_bytes


def metric_points(receiver: Any, name: str) -> list[Any]:
    points = []
    for metric, _ in receiver.metrics():
        if metric.name == name:
            data = metric.histogram if metric.HasField("histogram") else metric.sum
            points.extend(data.data_points)
    return points


def labels(point: Any) -> dict[str, Any]:
    out = {}
    for kv in point.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


# -- events to telemetry ----------------------------------------------------------
async def test_example_event_becomes_one_trace_with_turn_crm_span_and_logs(bw, receiver):
    async with client_of(create_app(config())) as client:
        response = await post_signed(client, example_event())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1 and body["results"][0]["status"] == "accepted"
    trace_id = body["results"][0]["trace_id"]
    botwatch.flush()
    spans = [s for s in receiver.spans() if s["trace_id"] == trace_id]
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"conversation", "turn", "crm.lead.create"}
    root, turn, crm = by_name["conversation"], by_name["turn"], by_name["crm.lead.create"]
    assert root["parent_id"] == "" and turn["parent_id"] == root["span_id"] and crm["parent_id"] == turn["span_id"]
    assert root["attributes"][semconv.GEN_AI_CONVERSATION_ID] == "salon:sess_abc123"
    assert root["attributes"][semconv.SESSION_ID] == "sess_abc123"
    assert root["attributes"][semconv.CLIENT_PHONE_MASKED] == "+7 *** ***-67-89"
    assert turn["attributes"][semconv.INTENT] == "запись_на_приём"
    assert turn["attributes"][semconv.INTENT_CONFIDENCE] == pytest.approx(0.87)
    assert turn["attributes"][semconv.TENANT] == "salon"
    assert turn["attributes"][semconv.GATEWAY_EVENT_ID] == "evt_20250101_001"
    assert crm["attributes"][semconv.CRM_ENTITY_ID] == "BX_LEAD_4521"
    assert crm["attributes"][semconv.CRM_OUTCOME] == "success"
    assert turn["start"] == root["start"]  # the turn starts at the event's timestamp
    assert ("botwatch.funnel.lead_created", {semconv.FUNNEL_STAGE: "lead_created"}) in turn["events"]
    logs = [r for r in receiver.logs() if r["trace_id"] == trace_id]
    events = {r["event_name"] for r in logs}
    assert {
        "botwatch.bot.replied",
        "botwatch.crm.action",
        "botwatch.funnel.lead_created",
        "botwatch.funnel.conversation_started",
    } <= events
    replied = next(r for r in logs if r["event_name"] == semconv.EVENT_BOT_REPLIED)
    assert replied["body"] == "Записал на 15:00, отправил напоминание"
    raw = b"".join(receiver.raw)
    for form in PHONE_FORMS:
        assert form not in raw


async def test_turn_lasts_latency_ms_and_metrics_carry_bounded_labels(bw, receiver):
    event = example_event(latency_ms=4200, model="gpt-4o-mini", scenario_variant="B")
    async with client_of(create_app(config())) as client:
        assert (await post_plain(client, event)).status_code == 200
    botwatch.flush()
    turn = next(s for s in receiver.spans() if s["name"] == "turn")
    assert turn["end"] - turn["start"] == 4_200_000_000
    assert turn["attributes"][semconv.SLA_BREACHED] is True
    point = metric_points(receiver, semconv.TURN_DURATION.name)[0]
    assert labels(point) == {
        semconv.TENANT: "plain",  # the gateway records for several tenants: each one's series apart
        semconv.CHANNEL: "whatsapp",
        semconv.INTENT: "запись_на_приём",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.SCENARIO_VARIANT: "B",
    }
    assert point.sum == pytest.approx(4.2)


async def test_turn_without_latency_ms_is_not_measured_however_late_it_arrives(bw, receiver):
    """A webhook delivered 10 s late without latency_ms: no duration, no SLA verdict (not a 10 s reply)."""
    late = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
    untimed = example_event(event_id="untimed", session_id="sess_untimed", timestamp=late)
    timed = example_event(event_id="timed", session_id="sess_timed", timestamp=late, latency_ms=1200)
    async with client_of(create_app(config())) as client:
        assert (await post_plain(client, [untimed, timed])).json()["accepted"] == 2
    botwatch.flush()
    turns = {s["attributes"][semconv.GATEWAY_EVENT_ID]: s for s in receiver.spans() if s["name"] == semconv.SPAN_TURN}
    assert semconv.SLA_BREACHED not in turns["untimed"]["attributes"]
    assert turns["untimed"]["end"] == turns["untimed"]["start"]
    assert turns["timed"]["attributes"][semconv.SLA_BREACHED] is False
    assert turns["timed"]["end"] - turns["timed"]["start"] == 1_200_000_000
    points = metric_points(receiver, semconv.TURN_DURATION.name)
    assert sum(p.count for p in points) == 1 and sum(p.sum for p in points) == pytest.approx(1.2)


@pytest.mark.parametrize(
    "field", ["channel", "intent", "crm_id", "crm_error", "scenario_variant", "message_kind", "action"]
)
@pytest.mark.parametrize("value", ["\x1c", "a\x00b", "  \x1f  ", "\x85"])
async def test_control_characters_in_names_are_refused_not_lost(bw, receiver, caplog, field, value):
    async with client_of(create_app(config())) as client:
        response = await post_plain(client, [example_event(event_id="bad", **{field: value}), example_event()])
    assert response.status_code == 200
    bad, good = response.json()["results"]
    assert (bad["status"], bad["reason"]) == ("rejected", "invalid_event")
    assert bad["message"].startswith(field) and ("control characters" in bad["message"] or "empty" in bad["message"])
    assert good["status"] == "accepted"
    assert "recording an event" not in caplog.text


async def test_lone_surrogates_are_refused_with_an_escaped_id_and_the_batch_is_answered(bw, receiver):
    at = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().encode()
    body = (
        b'[{"event_id": "a\\ud800b", "timestamp": "%s", "channel": "whatsapp", "session_id": "s1"},'
        b' {"event_id": "ok", "timestamp": "%s", "channel": "whatsapp", "session_id": "s1", "text": "x\\udfff"},'
        b' {"event_id": "fine", "timestamp": "%s", "channel": "whatsapp", "session_id": "s1"}]'
    ) % (at, at, at)
    auth = {"Authorization": f"Bearer {PLAIN_TOKEN}", "Content-Type": "application/json"}
    async with client_of(create_app(config())) as client:
        response = await client.post("/v1/events", content=body, headers=auth)
        again = await client.post("/v1/events", content=body, headers=auth)
    assert response.status_code == 200, response.text
    first, second, third = response.json()["results"]
    assert first == {
        "index": 0,
        "event_id": "a\\ud800b",
        "status": "rejected",
        "reason": "invalid_event",
        "message": "event_id: contains an unpaired UTF-16 surrogate (such as \\ud800); send valid Unicode",
    }
    assert (second["status"], second["message"].split(":")[0]) == ("rejected", "text")
    assert third["status"] == "accepted"
    assert [r["status"] for r in again.json()["results"]] == ["rejected", "rejected", "duplicate"]


async def test_later_events_join_the_trace_without_a_second_root(bw, receiver):
    first = example_event(event_id="e1", action=None, crm_id=None)
    second = example_event(event_id="e2", text="А можно на 16:00?", action=None, crm_id=None)
    outbound = example_event(event_id="e3", direction="outbound", text="Напоминаем о записи", intent=None)
    funnel = example_event(event_id="e4", funnel_stage="visit_completed", intent=None, bot_response=None)
    for item in (outbound, funnel):
        item.pop("action"), item.pop("crm_id")
    async with client_of(create_app(config())) as client:
        assert (await post_signed(client, first)).status_code == 200
        response = await post_signed(client, {"events": [second, outbound, funnel]})
    assert response.json()["accepted"] == 3
    botwatch.flush()
    spans = receiver.spans()
    assert len({s["trace_id"] for s in spans}) == 1
    assert [s["name"] for s in spans if not s["parent_id"]] == ["conversation"]
    turns = sorted(s["attributes"][semconv.TURN_INDEX] for s in spans if s["name"] == "turn")
    assert turns == [1, 2]
    assert {"message.send", "funnel"} <= {s["name"] for s in spans}
    sent = next(s for s in spans if s["name"] == "message.send")
    assert sent["attributes"][semconv.MESSAGE_KIND] == "reminder"


async def test_tenants_with_the_same_session_id_get_different_traces(bw, receiver):
    async with client_of(create_app(config())) as client:
        a = (await post_signed(client, example_event())).json()["results"][0]["trace_id"]
        b = (await post_plain(client, example_event())).json()["results"][0]["trace_id"]
    assert a != b


async def test_reported_crm_error_is_an_error_span_and_metric(bw, receiver):
    event = example_event(crm_id=None, crm_error="QUERY_LIMIT_EXCEEDED")
    async with client_of(create_app(config())) as client:
        assert (await post_plain(client, event)).status_code == 200
    botwatch.flush()
    crm = next(s for s in receiver.spans() if s["name"] == "crm.lead.create")
    assert crm["attributes"][semconv.CRM_OUTCOME] == "error"
    assert crm["attributes"][semconv.ERROR_TYPE] == "QUERY_LIMIT_EXCEEDED"
    point = metric_points(receiver, semconv.CRM_ACTIONS.name)[0]
    assert labels(point)[semconv.CRM_OUTCOME] == "error" and point.as_int == 1


# -- idempotency and partial acceptance ----------------------------------------------
async def test_redelivered_event_is_acknowledged_and_not_counted_twice(bw, receiver):
    async with client_of(create_app(config())) as client:
        first = await post_signed(client, example_event())
        again = await post_signed(client, example_event())
        in_batch = await post_signed(client, [example_event(event_id="x1"), example_event(event_id="x1")])
    assert first.json()["accepted"] == 1
    assert again.status_code == 200
    assert again.json()["results"][0] == {
        "index": 0,
        "event_id": "evt_20250101_001",
        "status": "duplicate",
        "trace_id": first.json()["results"][0]["trace_id"],
    }
    assert [r["status"] for r in in_batch.json()["results"]] == ["accepted", "duplicate"]
    botwatch.flush()
    assert len([s for s in receiver.spans() if s["name"] == semconv.SPAN_TURN]) == 2
    outcomes = {
        (labels(p)[semconv.GATEWAY_OUTCOME], labels(p).get(semconv.GATEWAY_REASON, "")): p.as_int
        for p in metric_points(receiver, semconv.GATEWAY_EVENTS.name)
    }
    assert outcomes == {("accepted", ""): 2, ("duplicate", ""): 2}


async def test_batch_with_bad_events_keeps_the_good_ones_with_a_reason_each(bw, receiver):
    now = datetime.now(UTC)
    batch = [
        example_event(event_id="good"),
        example_event(event_id="naive", timestamp="2025-01-01T12:34:56"),
        example_event(event_id="future", timestamp=(now + timedelta(hours=2)).isoformat()),
        example_event(event_id="old", timestamp=(now - timedelta(days=30)).isoformat()),
        {k: v for k, v in example_event(event_id="nosession").items() if k != "session_id"},
        {k: v for k, v in example_event().items() if k != "event_id"},
        example_event(event_id="types", confidence="very", channel=["whatsapp"]),
        example_event(event_id="phone", client={"phone": "+7xxxxxxxxxx"}),
        example_event(event_id="pii", session_id="+79123456789"),
        example_event(event_id="conf", confidence=1.5),
        "not an event",
        example_event(event_id="stage", funnel_stage="bought_a_yacht"),
    ]
    async with client_of(create_app(config())) as client:
        response = await post_signed(client, batch)
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 11)
    reasons = {r["index"]: r.get("reason") for r in body["results"]}
    assert reasons == {
        0: None,
        1: "naive_timestamp",
        2: "future_timestamp",
        3: "stale_timestamp",
        4: "missing_field",
        5: "missing_field",
        6: "invalid_event",
        7: "invalid_phone",
        8: "personal_data_in_id",
        9: "invalid_event",
        10: "not_an_object",
        11: "invalid_event",
    }
    assert all(r["message"] for r in body["results"][1:])
    assert "79123456789" not in response.text  # messages never repeat a submitted value


async def test_request_of_only_bad_events_is_422(bw):
    async with client_of(create_app(config())) as client:
        response = await post_signed(client, example_event(timestamp="2025-01-01T12:34:56"))
    assert response.status_code == 422
    assert response.json()["results"][0]["reason"] == "naive_timestamp"


# -- security and limits ------------------------------------------------------------
async def test_tokens_and_signatures(bw):
    body = json.dumps(example_event()).encode()
    async with client_of(create_app(config())) as client:
        no_token = await client.post("/v1/events", content=body)
        wrong = await client.post("/v1/events", content=body, headers={"Authorization": "Bearer nope-nope-nope-nope"})
        unsigned = await client.post("/v1/events", content=body, headers={"Authorization": f"Bearer {SIGNED_TOKEN}"})
        bad_sig = await client.post(
            "/v1/events", content=body + b" ", headers=signed_headers(body)
        )  # signature of another body
        other_key = await client.post("/v1/events", content=body, headers=signed_headers(body, secret=b"guess"))
        replay = await client.post("/v1/events", content=body, headers=signed_headers(body, at=time.time() - 3600))
        future = await client.post("/v1/events", content=body, headers=signed_headers(body, at=time.time() + 3600))
        good = await client.post("/v1/events", content=body, headers=signed_headers(body))
    assert (no_token.status_code, no_token.json()["error"]) == (401, "unauthorized")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "unauthorized")
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "signature_required")
    assert (bad_sig.status_code, bad_sig.json()["error"]) == (401, "bad_signature")
    assert (other_key.status_code, other_key.json()["error"]) == (401, "bad_signature")
    assert (replay.status_code, replay.json()["error"]) == (401, "stale_signature")
    assert (future.status_code, future.json()["error"]) == (401, "stale_signature")
    assert good.status_code == 200


async def test_body_and_batch_limits(bw):
    huge = b'{"events": [' + b'"x",' * (10 * 1024 * 1024 // 4) + b'"x"]}'
    assert len(huge) > 10_000_000

    async def chunks():
        for start in range(0, len(huge), 1 << 20):
            yield huge[start : start + (1 << 20)]

    auth = {"Authorization": f"Bearer {PLAIN_TOKEN}"}
    async with client_of(create_app(config(max_batch=10))) as client:
        declared = await client.post("/v1/events", content=huge, headers=auth)
        streamed = await client.post("/v1/events", content=chunks(), headers=auth)  # chunked, no Content-Length
        too_many = await post_plain(client, [example_event(event_id=str(i)) for i in range(11)])
        empty = await post_plain(client, [])
        malformed = await client.post("/v1/events", content=b'{"event_id": ', headers=auth)
        not_utf8 = await client.post("/v1/events", content=b'{"event_id": "\xff"}', headers=auth)
        deep = await client.post("/v1/events", content=b"[" * 100_000 + b"]" * 100_000, headers=auth)
        scalar = await client.post("/v1/events", content=b"42", headers=auth)
    assert (declared.status_code, declared.json()["error"]) == (413, "body_too_large")
    assert (streamed.status_code, streamed.json()["error"]) == (413, "body_too_large")
    assert (too_many.status_code, too_many.json()["error"]) == (413, "batch_too_large")
    assert (empty.status_code, empty.json()["error"]) == (400, "empty_batch")
    assert (malformed.status_code, malformed.json()["error"]) == (400, "malformed_json")
    assert not_utf8.status_code == 400
    assert deep.status_code in (400, 422)
    assert (scalar.status_code, scalar.json()["error"]) == (400, "not_a_batch")


async def test_rate_limit_per_token_counts_events(bw, receiver):
    limited = config(tenants=tenants(rate=1.0, burst=5))
    async with client_of(create_app(limited)) as client:
        ok = await post_plain(client, [example_event(event_id=f"r{i}") for i in range(5)])
        refused = await post_plain(client, example_event(event_id="r5"))
        other_tenant = await post_signed(client, example_event(event_id="r6"))
    assert ok.status_code == 200
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert other_tenant.status_code == 200


async def test_gateway_logs_carry_no_personal_data(bw, caplog):
    caplog.set_level(logging.DEBUG)
    event = example_event(text=f"Мой номер {PHONE}, почта ivan@mail.ru")
    async with client_of(create_app(config())) as client:
        await post_signed(client, event)
        await post_signed(client, [event, example_event(event_id="bad", timestamp="2025-01-01T00:00:00")])
        await client.post("/v1/events", content=b"{", headers={"Authorization": f"Bearer {SIGNED_TOKEN}"})
        await client.post("/v1/events", content=b"{}", headers={"Authorization": "Bearer " + "x" * 20})
    text = caplog.text
    assert "refused" in text  # the gateway did log
    for secret in ("79123456789", "9123456789", "Иван", "ivan@mail.ru", SIGNED_TOKEN, "sess_abc123"):
        assert secret not in text


# -- health, readiness, OpenAPI, own metrics ---------------------------------------
async def test_health_and_readiness(bw):
    app = create_app(config())
    async with client_of(app) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
        app.gateway.closing = True
        draining = await client.get("/health/ready")
    assert live.status_code == 200 and ready.status_code == 200
    assert ready.json()["pending_events"] == 0 and 0 <= ready.json()["export_backlog"] < 0.5
    assert draining.status_code == 503 and draining.json()["checks"]["accepting"] is False


async def test_openapi_document_is_served_and_committed(bw):
    async with client_of(create_app(config())) as client:
        served = await client.get("/openapi.json")
    assert served.status_code == 200
    committed = (REPO / "docs" / "openapi.json").read_bytes()
    assert served.content == committed == openapi_bytes(), (
        "regenerate: python -m botwatch.cli.gateway_command --openapi"
    )
    document = served.json()
    assert set(document["paths"]) == {"/v1/events", "/health/live", "/health/ready", "/openapi.json"}
    event = document["components"]["schemas"]["Event"]
    assert {"event_id", "timestamp", "session_id", "channel"} <= set(event["required"])


async def test_gateway_exports_its_own_request_metric(bw, receiver):
    async with client_of(create_app(config())) as client:
        await post_signed(client, example_event())
        await client.get("/health/live")
        await client.get("/nowhere")
    botwatch.flush()
    points = metric_points(receiver, semconv.HTTP_SERVER_REQUEST_DURATION.name)
    seen = {(labels(p).get(semconv.HTTP_ROUTE), labels(p)[semconv.HTTP_RESPONSE_STATUS_CODE]) for p in points}
    assert seen == {("/v1/events", 200), ("/health/live", 200), (None, 404)}  # no http.route when nothing matched
    assert {labels(p)[semconv.URL_SCHEME] for p in points} == {"http"}
    assert {labels(p)[semconv.HTTP_REQUEST_METHOD] for p in points} == {"POST", "GET"}


async def test_ten_thousand_junk_intents_keep_metric_series_bounded(bw, receiver):
    async with client_of(create_app(config())) as client:
        for chunk in range(20):
            batch = [
                example_event(
                    event_id=f"junk{chunk}_{i}",
                    session_id=f"sess_junk_{chunk}_{i % 10}",
                    intent=f"junk intent {chunk * 500 + i} {'x' * (i % 7)}",
                    channel=f"chan{i}",
                    model=f"model-{i}",
                    action=f"act_{i}",
                    crm_id=str(i),
                )
                for i in range(500)
            ]
            response = await post_plain(client, batch)
            assert response.json()["accepted"] == 500
    botwatch.flush()
    for spec in (semconv.TURN_DURATION, semconv.INTENT_CONFIDENCE_METRIC, semconv.CRM_ACTIONS):
        series = {tuple(sorted(labels(p).items())) for p in metric_points(receiver, spec.name)}
        assert len(series) <= 200, (spec.name, len(series))
    intents = {labels(p)[semconv.INTENT] for p in metric_points(receiver, semconv.INTENT_CONFIDENCE_METRIC.name)}
    assert semconv.OTHER in intents and len(intents) <= 51
    gateway = {tuple(sorted(labels(p).items())) for p in metric_points(receiver, semconv.GATEWAY_EVENTS.name)}
    assert len(gateway) == 1


# -- back-pressure: a collector that cannot keep up ------------------------------------
@pytest.fixture
def stalled(tmp_path, monkeypatch):
    """botwatch exporting to a collector that holds every request until ``collector.hold`` is set.

    The span queue holds 48 and the exporter takes 8 at a time, so a few events fill it.
    """
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "48")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "30")
    collector = OTLPReceiver()
    collector.hold = threading.Event()
    telemetry = botwatch.init(service_name="gateway", endpoint=collector.url, secret="test-secret-0123456789")
    yield collector, telemetry
    collector.hold.set()
    botwatch.shutdown()
    collector.close()


async def test_export_backlog_slows_senders_and_refuses_before_claiming(stalled):
    """The SDK queue would drop what the gateway acknowledged; the gateway waits, then answers 503."""
    collector, telemetry = stalled
    first = [example_event(event_id=f"bp1_{n}", session_id=f"sess_bp_{n}") for n in range(12)]
    second = [example_event(event_id=f"bp2_{n}", session_id=f"sess_bp_{n}") for n in range(12)]
    app = create_app(config(export_wait=0.5))
    async with client_of(app) as client:
        accepted = await post_plain(client, first)  # 12 roots + 24 spans
        assert accepted.status_code == 200 and accepted.json()["accepted"] == 12
        await asyncio.sleep(0.3)  # the exporter took its first 8 and hangs on the collector
        assert telemetry.backlog() == (36 - 8) / 48  # over half full; 24 more spans would overflow it
        started = time.monotonic()
        refused = await post_plain(client, second)
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "export_backlog"
        assert int(refused.headers["Retry-After"]) >= 1
        assert waited >= 0.5  # it waited for the export before giving up
        collector.hold.set()  # the collector catches up
        retried = await post_plain(client, second)
    # Refused before its ids were claimed: the retry is accepted, not a duplicate.
    assert retried.status_code == 200 and retried.json()["accepted"] == 12
    botwatch.flush()
    # Nothing the gateway acknowledged was dropped: 12 roots, 24 turns, 24 CRM spans.
    assert collector.count("/v1/traces") == 12 + 2 * 24


# -- the recorder: answers do not wait for recording, nothing is lost --------------------
async def test_answer_comes_before_recording_and_shutdown_records_the_rest(bw, receiver):
    app = create_app(config())
    batch = [example_event(event_id=f"rec_{n}", session_id=f"sess_rec_{n % 5}") for n in range(40)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await post_plain(client, batch)
        assert answer.status_code == 200 and answer.json()["accepted"] == 40
        assert app.gateway.recorder.pending > 0  # answered while its events still wait to be recorded
    await app.gateway.close()  # what the lifespan does at shutdown
    assert app.gateway.recorder.pending == 0
    botwatch.flush()
    turns = [s for s in receiver.spans() if s["name"] == semconv.SPAN_TURN]
    assert sorted(s["attributes"][semconv.GATEWAY_EVENT_ID] for s in turns) == sorted(e["event_id"] for e in batch)
    roots = [s for s in receiver.spans() if s["name"] == semconv.SPAN_CONVERSATION]
    assert len(roots) == 5


async def test_too_many_unrecorded_events_hold_the_next_request_back(bw, receiver):
    app = create_app(config(max_pending_events=10))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        first = await post_plain(client, [example_event(event_id=f"hold_{n}") for n in range(30)])
        assert app.gateway.recorder.pending >= 10
        second = await post_plain(client, example_event(event_id="hold_last"))
        # It waited until the recorder was under the limit, then was accepted.
        assert app.gateway.recorder.pending < 10
    await app.gateway.close()
    assert first.status_code == second.status_code == 200


async def test_an_event_that_fails_to_record_is_forgotten_so_its_redelivery_counts(bw, receiver, monkeypatch):
    import botwatch.gateway.app as gateway_app

    real = gateway_app.recorded

    def failing(event, where):
        if event.event_id == "breaks":
            raise RuntimeError("a bug while recording")
        return real(event, where)

    app = create_app(config())
    async with client_of(app) as client:
        monkeypatch.setattr(gateway_app, "recorded", failing)
        await post_plain(client, [example_event(event_id="breaks"), example_event(event_id="fine")])
        monkeypatch.setattr(gateway_app, "recorded", real)
        again = await post_plain(client, example_event(event_id="breaks"))
    assert again.json()["results"][0]["status"] == "accepted"  # not a duplicate: its id was released
    botwatch.flush()
    recorded_ids = [s["attributes"][semconv.GATEWAY_EVENT_ID] for s in receiver.spans() if s["name"] == "turn"]
    assert sorted(recorded_ids) == ["breaks", "fine"]
    failed = [
        p
        for p in metric_points(receiver, "botwatch.gateway.events")
        if {kv.key: kv.value.string_value for kv in p.attributes}.get(semconv.GATEWAY_REASON) == "record_failed"
    ]
    assert failed and failed[-1].as_int == 1


@pytest.fixture
def small_log_queue(monkeypatch):
    """With ``stalled`` (requested after it): the log record queue holds 48 too."""
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "48")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "8")


async def test_recorder_pauses_before_an_export_queue_overflows(small_log_queue, stalled):
    """Accepted events wait for a stalled export rather than be dropped by a full SDK queue."""
    collector, _ = stalled
    app = create_app(config(export_backlog=1.0))  # requests are not held back: only the recorder guards
    batch = [example_event(event_id=f"ceil_{n}", session_id=f"sess_ceil_{n}") for n in range(30)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await post_plain(client, batch)  # 30 roots + 60 spans: almost twice the queue
        assert answer.json()["accepted"] == 30
        await asyncio.sleep(0.5)
        assert app.gateway.recorder.pending > 0  # paused at 90% full, not dropping
        collector.hold.set()
        assert await app.gateway.recorder.join(timeout=30)
    await app.gateway.close()
    botwatch.flush()
    assert collector.count("/v1/traces") == 90
    # Log records wait in the deferred queue before the log queue; they count against it too.
    assert collector.count("/v1/logs") == 30 * 3 + 30
