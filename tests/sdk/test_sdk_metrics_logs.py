"""Metrics (names, buckets, exemplars, bounded labels) and logs (trace ids, events) over real OTLP."""

from __future__ import annotations

import logging
import socket
import time
import urllib.request

import pytest
from loguru import logger

import botwatch
from botwatch import semconv


def _metric(receiver, name):
    found = [m for m, _ in receiver.metrics() if m.name == name]
    assert found, f"metric {name} not exported; got {sorted({m.name for m, _ in receiver.metrics()})}"
    return found[-1]


def _turn(conv, text="Хочу записаться", intent="booking", confidence=0.87, model="gpt-4o-mini"):
    with conv.turn(text) as turn:
        turn.intent(intent, confidence=confidence)
        with turn.llm(model=model) as call:
            call.usage(input_tokens=100, output_tokens=20, cost=0.0003)
        with turn.crm("lead.create") as action:
            action.entity_id = 1
        turn.reply("Готово")
    return turn


def test_every_semconv_metric_is_exported_with_its_buckets(bw, receiver):
    with botwatch.conversation("sess_metrics", channel="whatsapp", scenario_variant="B") as conv:
        _turn(conv)
        conv.funnel("booking_created")
    bw.instruments.reviews.add(1, {semconv.INTENT: "booking", semconv.REVIEW_VERDICT: "correct"})
    botwatch.flush()
    for spec in semconv.METRICS:
        metric = _metric(receiver, spec.name)
        assert metric.unit == spec.unit, spec.name
        if spec.instrument == "histogram":
            point = metric.histogram.data_points[0]
            assert tuple(point.explicit_bounds) == spec.buckets, spec.name
        else:
            assert metric.sum.is_monotonic, spec.name
    assert 3.0 in _metric(receiver, "botwatch.turn.duration").histogram.data_points[0].explicit_bounds
    assert 0.6 in _metric(receiver, "botwatch.intent.confidence").histogram.data_points[0].explicit_bounds
    turn_point = _metric(receiver, "botwatch.turn.duration").histogram.data_points[0]
    labels = {kv.key: kv.value.string_value for kv in turn_point.attributes}
    assert labels == {
        semconv.CHANNEL: "whatsapp",
        semconv.INTENT: "booking",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.SCENARIO_VARIANT: "B",
    }


def test_turn_latency_carries_an_exemplar_with_the_trace_id(bw, receiver):
    with botwatch.conversation("sess_exemplar", channel="telegram") as conv:
        turn = _turn(conv)
    botwatch.flush()
    point = _metric(receiver, "botwatch.turn.duration").histogram.data_points[0]
    assert point.exemplars, "no exemplar on the turn duration histogram"
    assert point.exemplars[0].trace_id.hex() == conv.trace_id
    assert point.exemplars[0].span_id.hex() == format(turn.span.get_span_context().span_id, "016x")


def test_junk_label_values_stay_bounded(bw, receiver):
    with botwatch.conversation("sess_flood", channel="carrier-pigeon") as conv:
        for n in range(300):
            with conv.turn(None) as turn:
                turn.intent(f"junk-intent-{n}", confidence=0.5)
                with turn.llm(model=f"model-{n}"):
                    pass
        with conv.turn(None) as turn:
            turn.intent("+7 912 345-67-89", confidence=0.5)
    botwatch.flush()
    points = _metric(receiver, "botwatch.turn.duration").histogram.data_points
    series = {tuple(sorted((kv.key, kv.value.string_value) for kv in p.attributes)) for p in points}
    intents = {dict(s)[semconv.INTENT] for s in series}
    models = {dict(s)[semconv.GEN_AI_REQUEST_MODEL] for s in series}
    channels = {dict(s)[semconv.CHANNEL] for s in series}
    assert len(intents) <= 51 and semconv.OTHER in intents
    assert len(models - {"unknown"}) <= 21 and semconv.OTHER in models
    assert channels == {semconv.OTHER}
    assert not any("912" in i for i in intents)
    spans = [s for s in receiver.spans() if s["name"] == "turn"]
    assert spans[0]["attributes"][semconv.INTENT] == "junk-intent-0"  # spans keep the raw value


def test_configured_allow_list_is_strict(receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    botwatch.init(service_name="t", endpoint=receiver.url, intents=["booking", "price"])
    try:
        with botwatch.conversation("sess_allow", channel="web") as conv:
            for intent in ("booking", "Price", "smalltalk"):
                with conv.turn(None) as turn:
                    turn.intent(intent, 0.9)
        botwatch.flush()
    finally:
        botwatch.shutdown()
    points = _metric(receiver, "botwatch.intent.confidence").histogram.data_points
    intents = {kv.value.string_value for p in points for kv in p.attributes if kv.key == semconv.INTENT}
    assert intents == {"booking", "price", semconv.OTHER}


def test_sdk_events_are_logs_linked_to_their_spans(bw, receiver):
    with botwatch.conversation("sess_logs", channel="whatsapp") as conv:
        _turn(conv)
        conv.funnel("booking_created")
    botwatch.flush()
    spans = {s["span_id"]: s for s in receiver.spans()}
    logs = receiver.logs()
    events = [log["event_name"] for log in logs]
    for expected in (
        "botwatch.funnel.conversation_started",
        "botwatch.message.received",
        "botwatch.crm.action",
        "botwatch.bot.replied",
        "botwatch.funnel.booking_created",
    ):
        assert expected in events, expected
    for log in logs:
        span = spans[log["span_id"]]
        assert log["trace_id"] == span["trace_id"] == conv.trace_id
        assert log["attributes"][semconv.GEN_AI_CONVERSATION_ID] == "sess_logs"
        assert semconv.LEGACY_EVENT_ATTRIBUTE not in log["attributes"]  # the name is the record's EventName only
    received = next(log for log in logs if log["event_name"] == semconv.EVENT_MESSAGE_RECEIVED)
    assert received["body"] == "Хочу записаться" and spans[received["span_id"]]["name"] == "turn"
    crm = next(log for log in logs if log["event_name"] == semconv.EVENT_CRM_ACTION)
    assert spans[crm["span_id"]]["name"] == "turn"
    assert crm["attributes"][semconv.CRM_OUTCOME] == "success"


def test_loguru_and_stdlib_lines_carry_trace_and_conversation(receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    receiver.clear()
    botwatch.init(service_name="t", endpoint=receiver.url, capture_logging=True)
    try:
        with botwatch.conversation("sess_loguru", channel="telegram") as conv, conv.turn("привет") as turn:
            logger.bind(event="bot.custom").info("клиент {} спросил цену", "+7 912 345-67-89")
            logging.getLogger("salon.bot").warning("stdlib line for %s", "ivan@mail.ru")
        botwatch.flush()
    finally:
        botwatch.shutdown()
    logs = receiver.logs()
    line = next(log for log in logs if log["event_name"] == "bot.custom")
    assert line["trace_id"] == conv.trace_id
    assert line["span_id"] == format(turn.span.get_span_context().span_id, "016x")
    assert line["attributes"][semconv.GEN_AI_CONVERSATION_ID] == "sess_loguru"
    assert line["attributes"][semconv.TURN_INDEX] == 1
    assert "912 345-67-89" not in line["body"] and "+7 *** ***-67-89" in line["body"]
    std = next(log for log in logs if "stdlib line" in (log["body"] or ""))
    assert std["trace_id"] == conv.trace_id and std["severity"] == "WARN"
    assert "ivan@mail.ru" not in std["body"]


def test_capture_content_off_drops_message_text(receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("BOTWATCH_CAPTURE_CONTENT", "false")
    receiver.clear()
    botwatch.init(service_name="t", endpoint=receiver.url)
    try:
        with botwatch.conversation("sess_private", channel="web") as conv, conv.turn("Секретный диагноз") as turn:
            turn.reply("Ответ врача")
        logger.info("тоже секрет")
        botwatch.flush()
    finally:
        botwatch.shutdown()
    raw = b"".join(receiver.raw)
    for secret in ("Секретный диагноз", "Ответ врача", "тоже секрет"):
        assert secret.encode() not in raw
    assert {log["event_name"] for log in receiver.logs()} >= {semconv.EVENT_MESSAGE_RECEIVED, semconv.EVENT_BOT_REPLIED}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_prometheus_pull_endpoint_uses_semconv_names_and_exemplars(receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    port = _free_port()
    botwatch.init(service_name="pull-bot", endpoint=receiver.url, prometheus_port=port)
    try:
        with botwatch.conversation("sess_pull", channel="whatsapp") as conv:
            _turn(conv)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        text = urllib.request.urlopen(request, timeout=5).read().decode()
    finally:
        botwatch.shutdown()
    for spec in semconv.METRICS:
        if spec in (semconv.REVIEWS,):
            continue
        series = spec.prometheus_series[0]
        assert series in text, series
    bucket = next(
        line for line in text.splitlines() if line.startswith("botwatch_turn_duration_seconds_bucket") and "# {" in line
    )
    assert conv.trace_id in bucket and 'service_name="pull-bot"' in bucket and 'le="3.0"' in text


def test_uninitialised_sdk_is_a_noop_not_a_crash():
    botwatch.shutdown()
    with botwatch.conversation("sess_noinit", channel="web") as conv, conv.turn("hi") as turn:
        turn.intent("greeting", 0.9)
    assert len(conv.trace_id) == 32


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_env_value_is_a_clear_error(value, monkeypatch):
    monkeypatch.setenv("BOTWATCH_CAPTURE_CONTENT", value)
    with pytest.raises(ValueError, match="BOTWATCH_CAPTURE_CONTENT"):
        botwatch.init(service_name="t", endpoint="http://127.0.0.1:9")


def test_counter_increments_are_summed_per_series_before_the_sdk(bw, receiver):
    """Deferred.count sums increments per series; every one is counted, series stay apart."""
    with botwatch.conversation("sess_sum", channel="whatsapp") as conv:
        for n in range(150):
            with conv.turn(None) as turn, turn.crm("lead.create") as action:
                if n % 3 == 0:
                    action.fail("QUERY_LIMIT_EXCEEDED")
    calls = []
    counter = bw.instruments.reviews
    real_add = counter.add

    def spy(amount, attributes=None):
        calls.append((amount, dict(attributes or {})))
        real_add(amount, attributes)

    counter.add = spy  # type: ignore[method-assign]
    try:
        labels = {semconv.INTENT: "booking", semconv.REVIEW_VERDICT: "correct"}
        for _ in range(40):
            bw.deferred.count(counter, 1, labels)
        bw.deferred.count(counter, 2, {**labels, semconv.REVIEW_VERDICT: "wrong"})
        botwatch.flush()
    finally:
        del counter.add
    # 41 increments reached the SDK as two adds, one per series.
    assert sorted(calls, key=lambda c: c[0]) == [
        (2, {**labels, semconv.REVIEW_VERDICT: "wrong"}),
        (40, labels),
    ]
    points = _metric(receiver, "botwatch.crm.actions").sum.data_points
    by_outcome = {{kv.key: kv.value.string_value for kv in p.attributes}[semconv.CRM_OUTCOME]: p.as_int for p in points}
    assert by_outcome == {semconv.CRM_OUTCOME_SUCCESS: 100, semconv.CRM_OUTCOME_ERROR: 50}


def test_a_bad_deferred_item_does_not_stop_the_drain(bw, receiver):
    """Odd labels and a failing call are contained; the background thread keeps recording."""
    bw.deferred.count(bw.instruments.reviews, 1, None)  # no labels at all
    bw.deferred.submit(lambda: 1 / 0)
    bw.deferred.drain()
    with botwatch.conversation("sess_after_bad", channel="telegram") as conv:
        _turn(conv)
    time.sleep(0.2)  # the background thread drains on its own
    assert bw.deferred.pending == 0 and bw.deferred._thread.is_alive()
    botwatch.flush()
    assert _metric(receiver, "botwatch.turn.duration").histogram.data_points
    assert [p.as_int for p in _metric(receiver, "botwatch.reviews").sum.data_points] == [1]
