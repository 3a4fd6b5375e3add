"""Embedded journal: round trip, KPIs, replay, retention, bad input.

Telemetry is produced with the plain OpenTelemetry SDK following the
contract the botwatch SDK emits, with explicit timestamps, and read back
through the journal's query layer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from botwatch import semconv as sc
from botwatch.env import ConfigError
from botwatch.journal import (
    EntryKind,
    Journal,
    JournalError,
    JournalLogExporter,
    JournalMetricExporter,
    JournalSettings,
    JournalSpanExporter,
    format_kpi_table,
    format_replay,
    journal_path,
    kpi_to_json,
    prune,
)
from botwatch.journal import store as journal_store

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
S = 1_000_000_000
# Fixture data lies around NOW, which real time leaves behind: exporters in these tests
# keep everything, so only the explicit prune() calls apply retention.
KEEP = JournalSettings(retention=timedelta(days=36_500), metrics_retention=timedelta(days=36_500))


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * S + moment.microsecond * 1000


@dataclass
class Emitter:
    """Emits spans and log records exactly as the botwatch SDK contract describes."""

    path: Path
    tracer_provider: TracerProvider = field(init=False)
    logger_provider: LoggerProvider = field(init=False)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(JournalSpanExporter(self.path, settings=KEEP)))
        self.logger_provider = LoggerProvider()
        log_exporter = JournalLogExporter(self.path, settings=KEEP)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
        self.tracer = self.tracer_provider.get_tracer("botwatch")
        self.logger = self.logger_provider.get_logger("botwatch")

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()

    def log(self, span: trace.Span, event: str, t: int, body: str | None = None, **attrs: Any) -> None:
        self.logger.emit(
            timestamp=t,
            context=trace.set_span_in_context(span),
            body=body,
            event_name=event,
            attributes=attrs,
        )

    def conversation(self, cid: str, start: int, channel: str, phone: str = "+7 *** ***-45-21") -> Conversation:
        base = {sc.GEN_AI_CONVERSATION_ID: cid, sc.CHANNEL: channel}
        root = self.tracer.start_span(
            sc.SPAN_CONVERSATION,
            start_time=start,
            kind=SpanKind.INTERNAL,
            attributes={
                **base,
                sc.SESSION_ID: cid,
                sc.CLIENT_ID: "h1",
                sc.CLIENT_PHONE_MASKED: phone,
                sc.SCENARIO_VARIANT: "A",
            },
        )
        root.add_event(sc.CONVERSATION_STARTED, {sc.FUNNEL_STAGE: sc.CONVERSATION_STARTED}, timestamp=start)
        self.log(
            root,
            sc.funnel_event_name(sc.CONVERSATION_STARTED),
            start,
            **base,
            **{sc.FUNNEL_STAGE: sc.CONVERSATION_STARTED},
        )
        root.end(end_time=start + 1_000_000)
        return Conversation(self, cid, channel, root)


@dataclass
class Conversation:
    emitter: Emitter
    cid: str
    channel: str
    root: trace.Span

    @property
    def base(self) -> dict[str, Any]:
        return {sc.GEN_AI_CONVERSATION_ID: self.cid, sc.CHANNEL: self.channel}

    def turn(
        self,
        index: int,
        start: int,
        seconds: float,
        *,
        text: str = "",
        reply: str = "",
        intent: tuple[str, float] | None = None,
        chat: tuple[str, int, int, float] | None = None,  # model, in, out, seconds
        crm: tuple[str, str, str | None, str | None] | None = None,  # action, outcome, entity, error type
        stages: tuple[str, ...] = (),
        sla_breached: bool | None = None,
        error: str | None = None,
        cost: float | None = None,
    ) -> None:
        em = self.emitter
        end = start + int(seconds * S)
        attrs: dict[str, Any] = {**self.base, sc.TURN_INDEX: index, sc.SCENARIO_VARIANT: "A"}
        attrs[sc.SLA_BREACHED] = seconds > sc.SLA_SECONDS if sla_breached is None else sla_breached
        if intent:
            attrs |= {sc.INTENT: intent[0], sc.INTENT_CONFIDENCE: intent[1]}
        if chat:
            attrs[sc.GEN_AI_REQUEST_MODEL] = chat[0]
        parent = trace.set_span_in_context(self.root)
        turn = em.tracer.start_span(
            sc.SPAN_TURN, context=parent, kind=SpanKind.SERVER, start_time=start, attributes=attrs
        )
        logged = {**self.base, sc.TURN_INDEX: index}
        em.log(turn, sc.EVENT_MESSAGE_RECEIVED, start, text, **logged)
        t = start + 100_000_000  # the SDK keeps the intent on the turn span, not in a log record
        inner = trace.set_span_in_context(turn)
        if chat:
            model, tokens_in, tokens_out, chat_seconds = chat
            chat_attrs: dict[str, Any] = {
                **self.base,
                sc.GEN_AI_OPERATION_NAME: sc.GEN_AI_OPERATION_CHAT,
                sc.GEN_AI_PROVIDER_NAME: "openai",
                sc.GEN_AI_REQUEST_MODEL: model,
                sc.GEN_AI_RESPONSE_MODEL: model,
                sc.GEN_AI_USAGE_INPUT_TOKENS: tokens_in,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: tokens_out,
            }
            if cost is not None:
                chat_attrs[sc.LLM_COST] = cost
            span = em.tracer.start_span(
                sc.chat_span_name(model), context=inner, kind=SpanKind.CLIENT, start_time=t, attributes=chat_attrs
            )
            t += int(chat_seconds * S)
            span.end(end_time=t)
            em.log(
                span,
                sc.EVENT_LLM_CALL,
                t,
                **logged,
                **{
                    sc.GEN_AI_REQUEST_MODEL: model,
                    sc.GEN_AI_USAGE_INPUT_TOKENS: tokens_in,
                    sc.GEN_AI_USAGE_OUTPUT_TOKENS: tokens_out,
                },
            )
        if crm:
            action, outcome, entity, error_type = crm
            crm_attrs: dict[str, Any] = {
                **self.base,
                sc.CRM_SYSTEM: sc.CRM_SYSTEM_BITRIX24,
                sc.CRM_ACTION: action,
                sc.CRM_OUTCOME: outcome,
            }
            if entity:
                crm_attrs[sc.CRM_ENTITY_ID] = entity
            if error_type:
                crm_attrs[sc.ERROR_TYPE] = error_type
            span = em.tracer.start_span(
                sc.crm_span_name(action), context=inner, kind=SpanKind.CLIENT, start_time=t, attributes=crm_attrs
            )
            if error_type:
                span.set_status(Status(StatusCode.ERROR, error_type))
            t += 200_000_000
            span.end(end_time=t)
            em.log(span, sc.EVENT_CRM_ACTION, t, **logged, **{k: v for k, v in crm_attrs.items() if k not in self.base})
        for stage in stages:
            t += 10_000_000
            turn.add_event(stage, {sc.FUNNEL_STAGE: stage}, timestamp=t)
            em.log(turn, sc.funnel_event_name(stage), t, **logged, **{sc.FUNNEL_STAGE: stage})
        if error:
            turn.set_attribute(sc.ERROR_TYPE, error)
            turn.set_status(Status(StatusCode.ERROR, error))
            em.log(turn, sc.EVENT_ERROR, end, **logged, **{sc.ERROR_TYPE: error})
        else:
            em.log(turn, sc.EVENT_BOT_REPLIED, end, reply, **logged)
        turn.end(end_time=end)

    def funnel(self, stage: str, t: int) -> None:
        em = self.emitter
        span = em.tracer.start_span(
            sc.SPAN_FUNNEL, context=trace.set_span_in_context(self.root), start_time=t, attributes=self.base
        )
        span.add_event(stage, {sc.FUNNEL_STAGE: stage}, timestamp=t)
        em.log(span, sc.funnel_event_name(stage), t, **self.base, **{sc.FUNNEL_STAGE: stage})
        span.end(end_time=t + 1_000_000)

    def send(self, kind: str, text: str, t: int) -> None:
        em = self.emitter
        span = em.tracer.start_span(
            sc.SPAN_MESSAGE_SEND,
            context=trace.set_span_in_context(self.root),
            kind=SpanKind.PRODUCER,
            start_time=t,
            attributes={**self.base, sc.MESSAGE_KIND: kind},
        )
        em.log(span, sc.EVENT_MESSAGE_SENT, t, text, **self.base, **{sc.MESSAGE_KIND: kind})
        span.end(end_time=t + 50_000_000)


def at(days_ago: float, hour: float = 0) -> int:
    return ns(NOW - timedelta(days=days_ago) + timedelta(hours=hour))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.sqlite"


@pytest.fixture
def emitter(path: Path) -> Iterator[Emitter]:
    em = Emitter(path)
    yield em
    em.close()


def emit_fixture(em: Emitter) -> None:
    """Five conversations; c4 lies outside the 7-day window."""
    c1 = em.conversation("c1", at(2), "whatsapp")
    c1.turn(
        1,
        at(2) + S,
        1.0,
        text="Хочу записаться на стрижку",
        reply="Записал на 15:00",
        intent=("booking", 0.9),
        chat=("gpt-4o-mini", 100, 20, 0.6),
        crm=("lead.create", "success", "4521", None),
        stages=(sc.LEAD_CREATED, sc.BOOKING_CREATED),
        cost=0.0012,
    )
    c1.turn(
        2,
        at(2) + 60 * S,
        2.9,
        text="Сколько стоит?",
        reply="1500 ₽",
        intent=("price", 0.5),
        chat=("gpt-4o-mini", 50, 10, 2.5),
        sla_breached=True,
    )
    c1.send("reminder", "Напоминаем: завтра в 15:00", at(1.5))
    c1.funnel(sc.VISIT_COMPLETED, at(1))

    c2 = em.conversation("c2", at(3), "telegram")
    c2.turn(
        1,
        at(3) + S,
        2.0,
        text="Запишите меня",
        intent=("booking", 0.55),
        crm=("lead.create", "error", None, "TimeoutError"),
        reply="Попробую ещё раз",
    )
    c2.turn(
        2,
        at(3) + 60 * S,
        3.5,
        text="Позовите человека",
        reply="Передаю администратору",
        stages=(sc.ESCALATED,),
        sla_breached=False,
    )

    c3 = em.conversation("c3", at(1), "web")
    c3.turn(
        1,
        at(1) + S,
        0.5,
        text="Запись к врачу",
        reply="Записал",
        intent=("booking", 0.95),
        chat=("gpt-4o", 200, 40, 0.3),
        crm=("lead.create", "success", "77", None),
        stages=(sc.BOOKING_CREATED,),
    )
    c3.funnel(sc.NO_SHOW, at(0.5))

    c4 = em.conversation("c4", at(10), "whatsapp")
    c4.turn(
        1,
        at(10) + S,
        10.0,
        text="old",
        reply="old",
        intent=("booking", 0.1),
        chat=("gpt-4o", 999, 999, 9.0),
        crm=("lead.create", "error", None, "HTTPError"),
        stages=(sc.BOOKING_CREATED,),
    )
    c4.funnel(sc.NO_SHOW, at(9))

    c5 = em.conversation("c5", at(6), "instagram")
    c5.turn(
        1,
        at(6) + S,
        1.5,
        text="Привет",
        reply="Здравствуйте!",
        intent=("greeting", 0.7),
        chat=("gpt-4o-mini", 10, 5, 1.0),
    )
    c5.funnel(sc.ESCALATED, at(6) + 120 * S)


def test_default_path_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BOTWATCH_JOURNAL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert journal_path() == tmp_path / "botwatch" / "journal.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert journal_path() == Path.home() / ".local" / "share" / "botwatch" / "journal.sqlite"
    monkeypatch.setenv("BOTWATCH_JOURNAL", str(tmp_path / "x.sqlite"))
    assert journal_path() == tmp_path / "x.sqlite"
    assert journal_path(tmp_path / "y") == tmp_path / "y"
    monkeypatch.setenv("BOTWATCH_RETENTION_DAYS", "30")
    monkeypatch.setenv("BOTWATCH_JOURNAL_MAX_MB", "2")
    settings = JournalSettings.from_env()
    assert settings.retention == timedelta(days=30)
    assert settings.max_bytes == 2 * 1024 * 1024
    monkeypatch.setenv("BOTWATCH_RETENTION_DAYS", "soon")  # one rule for bad values (botwatch.env): a clear error
    with pytest.raises(ConfigError, match=r"BOTWATCH_RETENTION_DAYS='soon': expected a number greater than 0"):
        JournalSettings.from_env()


def test_round_trip_spans_logs_metrics(emitter: Emitter, path: Path) -> None:
    emit_fixture(emitter)
    meter_provider = MeterProvider(metric_readers=[reader := InMemoryMetricReader()])
    counter = meter_provider.get_meter("botwatch").create_counter(sc.CONVERSATIONS.name)
    histogram = meter_provider.get_meter("botwatch").create_histogram(
        sc.TURN_DURATION.name, explicit_bucket_boundaries_advisory=list(sc.TURN_DURATION_BUCKETS)
    )
    counter.add(3, {sc.CHANNEL: "whatsapp"})
    histogram.record(1.25, {sc.CHANNEL: "whatsapp"})
    data = reader.get_metrics_data()
    assert data is not None
    assert JournalMetricExporter(path, settings=KEEP).export(data) is MetricExportResult.SUCCESS

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    turn = db.execute(
        "SELECT trace_id, parent_span_id, kind, duration_ns, conversation_id, channel, turn_index, intent, "
        "confidence, sla_breached, model, status FROM spans WHERE name = 'turn' AND conversation_id = 'c1' "
        "AND turn_index = 1"
    ).fetchone()
    root_ids = db.execute("SELECT trace_id, span_id FROM spans WHERE name = 'conversation' AND conversation_id = 'c1'")
    trace_id, root_span = root_ids.fetchone()
    assert turn == (trace_id, root_span, "SERVER", S, "c1", "whatsapp", 1, "booking", 0.9, 0, "gpt-4o-mini", "UNSET")
    chat = db.execute(
        "SELECT name, family, model, input_tokens, output_tokens, llm_cost FROM spans WHERE family = 'chat' "
        "AND conversation_id = 'c1' ORDER BY start_ns"
    ).fetchall()
    assert chat == [
        ("chat gpt-4o-mini", "chat", "gpt-4o-mini", 100, 20, 0.0012),
        ("chat gpt-4o-mini", "chat", "gpt-4o-mini", 50, 10, None),
    ]
    log = db.execute(
        "SELECT time_ns, event_name, body, conversation_id, channel, turn_index, trace_id, span_id IS NOT NULL "
        "FROM logs WHERE event_name = ? AND conversation_id = 'c1' ORDER BY time_ns",
        (sc.EVENT_MESSAGE_RECEIVED,),
    ).fetchone()
    assert log == (at(2) + S, sc.EVENT_MESSAGE_RECEIVED, "Хочу записаться на стрижку", "c1", "whatsapp", 1, trace_id, 1)
    stages = db.execute("SELECT stage FROM funnel WHERE conversation_id = 'c1' ORDER BY time_ns").fetchall()
    assert [s for (s,) in stages] == [sc.CONVERSATION_STARTED, sc.LEAD_CREATED, sc.BOOKING_CREATED, sc.VISIT_COMPLETED]
    metrics = dict(db.execute("SELECT name, type FROM metrics").fetchall())
    assert metrics == {sc.CONVERSATIONS.name: "sum", sc.TURN_DURATION.name: "histogram"}
    value = db.execute("SELECT value FROM metrics WHERE name = ?", (sc.CONVERSATIONS.name,)).fetchone()[0]
    assert value == 3
    assert db.execute("SELECT COUNT(*) FROM resources").fetchone()[0] >= 1


def test_kpi_equals_hand_computed_fixture(emitter: Emitter, path: Path) -> None:
    emit_fixture(emitter)
    with Journal(path) as journal:
        kpi = journal.kpi(timedelta(days=7), until=NOW)
    assert (kpi.since, kpi.until) == (NOW - timedelta(days=7), NOW)
    assert kpi.conversations == 4  # c1 c2 c3 c5; c4 started 10 days ago
    assert kpi.conversations_booked == 2  # c1 c3
    assert kpi.conversion == 0.5
    assert (kpi.no_shows, kpi.visits_completed, kpi.no_show_rate) == (1, 1, 0.5)
    assert kpi.turns == 6
    assert kpi.turns_over_sla == 2  # c1 turn 2 (flagged at 2.9 s), c2 turn 2 (3.5 s though not flagged)
    assert kpi.sla_breach_share == pytest.approx(2 / 6)
    assert kpi.turn_p50_s == 1.5  # 0.5 1.0 1.5 2.0 2.9 3.5, nearest rank
    assert kpi.turn_p95_s == 3.5
    assert (kpi.turns_with_intent, kpi.low_confidence_turns) == (5, 2)  # 0.5 and 0.55
    assert kpi.low_confidence_share == 0.4
    assert (kpi.lead_creates, kpi.lead_create_failures) == (3, 1)
    assert kpi.lead_failure_rate == pytest.approx(1 / 3)
    assert kpi.escalations == 2  # c2 in a turn, c5 outside any turn; funnel log records not double counted
    assert (kpi.llm_calls, kpi.input_tokens, kpi.output_tokens) == (4, 360, 75)
    assert kpi.llm_cost == pytest.approx(0.0012)
    assert kpi.conversations_escalated == 2 and kpi.closed_without_human == 0.5  # c2 and c5 went to a human
    assert (kpi.no_shows_reminded, kpi.visits_reminded) == (0, 0)  # c1's reminder is a message, not the stage
    assert (kpi.no_show_rate_reminded, kpi.no_show_rate_unreminded) == (None, 0.5)
    assert (kpi.rescheduled, kpi.complaints, kpi.demo_runs) == (0, 0, ())
    # The fixture's SDK sets no service.name: the SDK's default names the interpreter ("python" or "python3").
    unnamed = Resource.create().attributes[sc.SERVICE_NAME]
    assert kpi.services == (unnamed,)

    data = kpi_to_json(kpi)
    assert data["conversion"] == 0.5
    assert data["sla_breach_share"] == 0.3333 and data["lead_failure_rate"] == 0.3333  # rounded, not 0.333…3
    assert data["closed_without_human"] == 0.5 and data["services"] == [unnamed]
    assert data["since"] == "2025-11-13T12:00:00+00:00"
    assert data["sla_seconds"] == sc.SLA_SECONDS
    assert format_kpi_table(kpi) == "\n".join(
        [
            "KPIs 2025-11-13 12:00 → 2025-11-20 12:00 UTC (7 days)",
            f"Covers services: {unnamed}",
            "",
            "  Conversations                               4",
            "  Conversion chat → booking              50.0 %  2 of 4 conversations",
            "  No-show rate                           50.0 %  1 of 2 appointments",
            "  Turns                                       6",
            "  Turns over 3 s                         33.3 %  2 of 6 turns",
            "  Turn time p50 / p95           1.50 s / 3.50 s",
            "  Intents below 0.6 confidence           40.0 %  2 of 5 intents",
            "  Lead creation failures                      1  33.3 % of 3 lead.create calls",
            "  Escalations to a human                      2",
            "  Closed without a human                 50.0 %  2 of 4 conversations",
            "  No-shows after a reminder                   —",
            "  No-shows without a reminder            50.0 %",
            "  Rescheduled / complaints                0 / 0",
            "  LLM calls                                   4",
            "  Tokens in / out                      360 / 75",
            "  LLM cost                                $0.00",
        ]
    )


def test_kpi_on_empty_window(emitter: Emitter, path: Path) -> None:
    emit_fixture(emitter)
    with Journal(path) as journal:
        kpi = journal.kpi(timedelta(days=1), until=NOW - timedelta(days=30))
    assert (kpi.conversations, kpi.turns, kpi.conversion, kpi.turn_p50_s) == (0, 0, None, None)
    assert "—" in format_kpi_table(kpi)


def test_replay_transcript_of_known_conversation(emitter: Emitter, path: Path) -> None:
    emit_fixture(emitter)
    with Journal(path) as journal:
        entries = journal.replay("c1")
        assert journal.replay("nope") == []
    assert [e.time_ns for e in entries] == sorted(e.time_ns for e in entries)
    assert entries[0].kind is EntryKind.START
    assert format_replay(entries) == "\n".join(
        [
            "Conversation c1 · whatsapp",
            "2025-11-18 (UTC)",
            "  12:00:00.000  start   whatsapp · client +7 *** ***-45-21 · variant A",
            "  12:00:00.000  funnel  ▸ conversation_started",
            "  12:00:01.000  client  «Хочу записаться на стрижку»",
            "  12:00:01.000  intent  booking 0.90",
            "  12:00:01.100  llm     gpt-4o-mini · 0.60 s · 100 → 20 tokens",
            "  12:00:01.700  crm     bitrix24 lead.create #4521 · success · 0.20 s",
            "  12:00:01.910  funnel  ▸ lead_created",
            "  12:00:01.920  funnel  ▸ booking_created",
            "  12:00:02.000  bot     «Записал на 15:00» · turn 1 in 1.00 s",
            "  12:01:00.000  client  «Сколько стоит?»",
            "  12:01:00.000  intent  price 0.50 (low)",
            "  12:01:00.100  llm     gpt-4o-mini · 2.50 s · 50 → 10 tokens",
            "  12:01:02.900  bot     «1500 ₽» · turn 2 in 2.90 s, over the 3 s SLA",
            "2025-11-19 (UTC)",
            "  00:00:00.000  bot     [reminder] «Напоминаем: завтра в 15:00»",
            "  12:00:00.000  funnel  ▸ visit_completed",
        ]
    )


def test_replay_shows_errors_and_uncaptured_content(emitter: Emitter, path: Path) -> None:
    conv = emitter.conversation("e1", at(1), "telegram")
    conv.turn(1, at(1) + S, 0.4, text="", crm=("lead.create", "error", None, "TimeoutError"), error="ValueError")
    with Journal(path) as journal:
        text = format_replay(journal.replay("e1"))
    assert "client  (content not captured)" in text
    assert "crm     bitrix24 lead.create · error · 0.20 s · error: TimeoutError" in text
    assert text.count("turn 1 failed · ValueError") == 1  # the log record and the failed span are one error


def test_replay_falls_back_to_log_records_without_spans(path: Path) -> None:
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(JournalLogExporter(path, settings=KEEP)))
    logger = logger_provider.get_logger("botwatch")
    base = {sc.GEN_AI_CONVERSATION_ID: "l1", sc.CHANNEL: "web", sc.TURN_INDEX: 1}
    logger.emit(
        timestamp=at(1),
        event_name=sc.EVENT_LLM_CALL,
        attributes={
            **base,
            sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
            sc.GEN_AI_USAGE_INPUT_TOKENS: 5,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
        },
    )
    logger.emit(
        timestamp=at(1) + 1,
        event_name=sc.funnel_event_name(sc.PAID),
        attributes={**base, sc.FUNNEL_STAGE: sc.PAID},
    )
    logger_provider.shutdown()
    with Journal(path) as journal:
        lines = format_replay(journal.replay("l1")).splitlines()
    assert lines[2:] == ["  12:00:00.000  llm     gpt-4o · 5 → 7 tokens", "  12:00:00.000  funnel  ▸ paid"]


def test_conversations_newest_first_and_by_stage(emitter: Emitter, path: Path) -> None:
    emit_fixture(emitter)
    with Journal(path) as journal:
        assert [c.conversation_id for c in journal.conversations(until=NOW)] == ["c3", "c1", "c2", "c5", "c4"]
        assert [c.conversation_id for c in journal.conversations(timedelta(days=7), until=NOW, limit=2)] == [
            "c3",
            "c1",
        ]
        escalated = journal.conversations(until=NOW, stage=sc.ESCALATED)
        assert [(c.conversation_id, c.channel) for c in escalated] == [("c2", "telegram"), ("c5", "instagram")]
        first = next(journal.conversations(until=NOW))
        assert first.started == NOW - timedelta(days=1)


# --- retention ------------------------------------------------------------------------------------------------


def _span(tracer: trace.Tracer, start: int, cid: str = "r", stage: str | None = None, pad: str = "") -> ReadableSpan:
    span = tracer.start_span(sc.SPAN_TURN, start_time=start, attributes={sc.GEN_AI_CONVERSATION_ID: cid, "pad": pad})
    if stage:
        span.add_event(stage, {sc.FUNNEL_STAGE: stage}, timestamp=start)
    span.end(end_time=start + S)
    assert isinstance(span, ReadableSpan)
    return span


def _log(logger_provider: LoggerProvider, path: Path, times: list[int]) -> None:
    logger = logger_provider.get_logger("t")
    for t in times:
        logger.emit(
            timestamp=t, body="x", event_name=sc.EVENT_MESSAGE_RECEIVED, attributes={sc.GEN_AI_CONVERSATION_ID: "r"}
        )


def test_retention_deletes_exactly_the_old_rows(path: Path) -> None:
    tracer = TracerProvider().get_tracer("t")
    ages = [200, 120, 91, 90.001, 89.999, 30, 1]
    spans = [_span(tracer, at(age), stage=sc.BOOKING_CREATED) for age in ages]
    assert JournalSpanExporter(path, settings=KEEP).export(spans) is SpanExportResult.SUCCESS
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(JournalLogExporter(path, settings=KEEP)))
    _log(logger_provider, path, [at(age) for age in ages])
    logger_provider.shutdown()
    settings = JournalSettings(retention=timedelta(days=90), metrics_retention=timedelta(days=100))
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO metrics (time_ns, name, type, attributes) VALUES (?, 'm', 'sum', '{}')",
        [(at(age),) for age in ages],
    )
    db.commit()

    result = prune(path, settings, now=NOW)
    assert (result.spans, result.logs, result.funnel, result.metrics) == (4, 4, 4, 2)
    cutoff = at(90)
    for table, column in (("spans", "start_ns"), ("logs", "time_ns"), ("funnel", "time_ns")):
        kept = [t for (t,) in db.execute(f"SELECT {column} FROM {table} ORDER BY {column}")]
        assert kept == [at(age) for age in (89.999, 30, 1)]
        assert all(t >= cutoff for t in kept)
    assert [t for (t,) in db.execute("SELECT time_ns FROM metrics ORDER BY time_ns")] == [
        at(age) for age in (91, 90.001, 89.999, 30, 1)
    ]
    assert prune(path, settings, now=NOW).rows == 0  # idempotent


def test_exporter_prunes_occasionally(path: Path) -> None:
    tracer = TracerProvider().get_tracer("t")
    exporter = JournalSpanExporter(path, settings=JournalSettings(retention=timedelta(days=30)), prune_every_s=0)
    now = datetime.now(UTC)
    assert exporter.export([_span(tracer, ns(now - timedelta(days=d))) for d in (45, 31, 29, 0)]).name == "SUCCESS"
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 2


def test_size_bound_drops_the_oldest_first(path: Path) -> None:
    tracer = TracerProvider().get_tracer("t")
    exporter = JournalSpanExporter(path, settings=KEEP)
    starts = [at(1) + i * S for i in range(3000)]
    for chunk in range(0, len(starts), 500):
        spans = [_span(tracer, t, pad="x" * 1000) for t in starts[chunk : chunk + 500]]
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    size_before = os.path.getsize(path)
    assert size_before > 2_500_000
    settings = JournalSettings(max_bytes=1_000_000)
    result = prune(path, settings, now=NOW)
    db = sqlite3.connect(path)
    kept = [t for (t,) in db.execute("SELECT start_ns FROM spans ORDER BY start_ns")]
    assert result.bytes_after <= 1_000_000 < result.bytes_before
    assert result.spans == 3000 - len(kept) > 0
    assert kept == starts[-len(kept) :]  # exactly the newest survive
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert os.path.getsize(path) < size_before / 2  # space went back to the disk


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.fixture
def retry_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_store, "RETRY_AFTER_S", 0.0)
    journal_store._reported.clear()


def _spans(n: int = 3) -> list[ReadableSpan]:
    tracer = TracerProvider().get_tracer("t")
    return [_span(tracer, at(0) + i) for i in range(n)]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name == "botwatch.journal"]


@pytest.mark.parametrize("content", ["garbage", "foreign"])
def test_not_a_journal(tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture, retry_at_once: None) -> None:
    path = tmp_path / "journal.sqlite"
    if content == "garbage":
        path.write_bytes(b"\x00\x13garbage bytes, not SQLite" * 400)
    else:
        foreign = sqlite3.connect(path)
        foreign.execute("CREATE TABLE patients (name TEXT)")
        foreign.commit()
        foreign.close()
    before = path.read_bytes()

    with pytest.raises(JournalError) as raised:
        Journal(path)
    assert str(path) in str(raised.value)
    assert "not a botwatch journal" in str(raised.value)
    assert "BOTWATCH_JOURNAL" in str(raised.value)

    spans = JournalSpanExporter(path)
    logs = JournalLogExporter(path)
    assert spans.export(_spans()) is SpanExportResult.FAILURE
    assert spans.export(_spans()) is SpanExportResult.FAILURE
    assert logs.export([]) is LogRecordExportResult.SUCCESS
    errors = _errors(caplog)
    assert len(errors) == 1, errors
    assert str(path) in errors[0] and "not a botwatch journal" in errors[0]
    assert path.read_bytes() == before  # never touched


def test_missing_journal_for_the_cli(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal there yet"):
        Journal(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


def test_unwritable_path(tmp_path: Path, caplog: pytest.LogCaptureFixture, retry_at_once: None) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    path = blocker / "journal.sqlite"  # its "directory" is a file: cannot be created by anyone, root included
    exporter = JournalSpanExporter(path)
    assert exporter.export(_spans()) is SpanExportResult.FAILURE
    assert exporter.export(_spans()) is SpanExportResult.FAILURE
    errors = _errors(caplog)
    assert len(errors) == 1
    assert str(path) in errors[0] and "writable" in errors[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_read_only_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture, retry_at_once: None) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        exporter = JournalSpanExporter(directory / "journal.sqlite")
        assert exporter.export(_spans()) is SpanExportResult.FAILURE
        assert "writable" in _errors(caplog)[0]
    finally:
        directory.chmod(0o755)


def test_full_disk_fails_cleanly_then_recovers(
    path: Path, caplog: pytest.LogCaptureFixture, retry_at_once: None
) -> None:
    exporter = JournalSpanExporter(path, settings=KEEP)
    assert exporter.export(_spans()) is SpanExportResult.SUCCESS
    conn = exporter._store._conn
    assert conn is not None
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now answers SQLITE_FULL, as on a full disk
    tracer = TracerProvider().get_tracer("t")
    big = [_span(tracer, at(0) + i, pad="y" * 2000) for i in range(200)]
    assert exporter.export(big) is SpanExportResult.FAILURE
    errors = _errors(caplog)
    assert len(errors) == 1 and "disk is full" in errors[0] and str(path) in errors[0]
    with Journal(path) as journal:
        assert journal.counts()["spans"] == 3  # the failed batch left nothing behind
    assert exporter.export(big) is SpanExportResult.SUCCESS  # a fresh connection: the "disk" has room again
    assert any("writable again" in r.getMessage() for r in caplog.records)


def test_bot_keeps_running_through_the_sdk(tmp_path: Path, retry_at_once: None) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"garbage" * 1000)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(JournalSpanExporter(path), schedule_delay_millis=10))
    tracer = provider.get_tracer("bot")
    for _ in range(100):
        with tracer.start_as_current_span(sc.SPAN_TURN):
            pass
    assert provider.force_flush()  # flush completes; nothing raised into the bot
    provider.shutdown()
