"""The trace model over real OTLP/HTTP: span tree, names, GenAI attributes, ids, errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

import botwatch
from botwatch import ids, semconv

SECRET = "test-secret-0123456789"
SERVER, CLIENT, INTERNAL, PRODUCER = 2, 3, 1, 4  # OTLP SpanKind enum values


def run_design_example() -> str:
    with botwatch.conversation("sess_abc123", channel="whatsapp", client_phone="+79123456789") as conv:
        with conv.turn("Хочу записаться на стрижку") as turn:
            turn.intent("booking", confidence=0.87)
            with turn.llm(model="gpt-4o-mini", provider="openai") as call:
                call.usage(input_tokens=120, output_tokens=30)
            with turn.crm("lead.create", system="bitrix24") as action:
                action.entity_id = "4521"
            turn.reply("Записал на 15:00, отправил напоминание")
        conv.funnel("booking_confirmed")
    return conv.trace_id


def test_design_example_span_tree(bw, receiver):
    trace_id = run_design_example()
    botwatch.flush()
    spans = {s["name"]: s for s in receiver.spans()}
    assert set(spans) == {"conversation", "turn", "chat gpt-4o-mini", "crm.lead.create", "funnel"}
    root, turn = spans["conversation"], spans["turn"]
    chat, crm = spans["chat gpt-4o-mini"], spans["crm.lead.create"]
    assert {s["trace_id"] for s in spans.values()} == {trace_id}
    assert trace_id == format(ids.trace_id_for(SECRET.encode(), "sess_abc123"), "032x")
    assert root["parent_id"] == "" and root["kind"] == INTERNAL
    assert root["span_id"] == format(ids.root_span_id_for(SECRET.encode(), "sess_abc123"), "016x")
    assert turn["parent_id"] == root["span_id"] and turn["kind"] == SERVER
    assert chat["parent_id"] == turn["span_id"] and chat["kind"] == CLIENT
    assert crm["parent_id"] == turn["span_id"] and crm["kind"] == CLIENT
    assert spans["funnel"]["parent_id"] == root["span_id"]
    assert root["attributes"][semconv.GEN_AI_CONVERSATION_ID] == "sess_abc123"
    assert root["attributes"][semconv.SESSION_ID] == "sess_abc123"
    assert root["attributes"][semconv.CHANNEL] == "whatsapp"
    assert root["attributes"][semconv.CLIENT_ID].startswith("ph_")
    assert root["attributes"][semconv.CLIENT_PHONE_MASKED] == "+7 *** ***-67-89"
    assert ("botwatch.funnel.conversation_started", {semconv.FUNNEL_STAGE: "conversation_started"}) in root["events"]
    assert turn["attributes"][semconv.INTENT] == "booking"
    assert turn["attributes"][semconv.INTENT_CONFIDENCE] == pytest.approx(0.87)
    assert turn["attributes"][semconv.TURN_INDEX] == 1
    assert turn["attributes"][semconv.SLA_BREACHED] is False
    for key, value in {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 120,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 30,
    }.items():
        assert chat["attributes"][key] == value, key
    assert crm["attributes"][semconv.CRM_SYSTEM] == "bitrix24"
    assert crm["attributes"][semconv.CRM_ACTION] == "lead.create"
    assert crm["attributes"][semconv.CRM_ENTITY_ID] == "4521"
    assert crm["attributes"][semconv.CRM_OUTCOME] == "success"
    assert spans["funnel"]["events"] == [
        ("botwatch.funnel.booking_confirmed", {semconv.FUNNEL_STAGE: "booking_confirmed"})
    ]
    assert all(s["resource"]["service.name"] == "test-bot" for s in spans.values())


def test_second_entry_in_process_does_not_emit_a_second_root(bw, receiver):
    for _ in range(2):
        with botwatch.conversation("sess_twice", channel="telegram") as conv, conv.turn("привет"):
            pass
    botwatch.flush()
    names = [s["name"] for s in receiver.spans()]
    assert names.count("conversation") == 1 and names.count("turn") == 2


def test_two_processes_share_one_trace_and_one_root(receiver, tmp_path):
    script = textwrap.dedent(
        """
        import sys, botwatch
        botwatch.init(service_name="proc", endpoint=sys.argv[1], secret="shared-secret-of-this-test")
        with botwatch.conversation("sess_multi", channel="whatsapp", resume=sys.argv[2] == "resume") as conv:
            with conv.turn("текст") as turn:
                turn.intent("booking", 0.9)
            print(conv.trace_id)
        """
    )
    path = tmp_path / "bot.py"
    path.write_text(script)
    env = {**os.environ, "BOTWATCH_SECRET_FILE": str(tmp_path / "secret")}
    out = [
        subprocess.run(
            [sys.executable, str(path), receiver.url, mode], check=True, capture_output=True, text=True, env=env
        )
        for mode in ("start", "resume")
    ]
    first, second = (o.stdout.strip() for o in out)
    assert first == second
    receiver.wait_for(lambda: len([s for s in receiver.spans() if s["trace_id"] == first]) == 3)
    spans = [s for s in receiver.spans() if s["trace_id"] == first]
    roots = [s for s in spans if s["parent_id"] == ""]
    assert [r["name"] for r in roots] == ["conversation"]
    assert {s["parent_id"] for s in spans if s["name"] == "turn"} == {roots[0]["span_id"]}


def test_exceptions_mark_spans_and_reraise(bw, receiver):
    with pytest.raises(TimeoutError), botwatch.conversation("sess_err", channel="web") as conv:
        with conv.turn("?") as turn:
            with turn.crm("lead.create") as action:
                action.fail("QUERY_LIMIT_EXCEEDED")
            with turn.llm(model="gpt-4o-mini"):
                raise TimeoutError("LLM did not answer")
    botwatch.flush()
    spans = {s["name"]: s for s in receiver.spans()}
    error = 2  # STATUS_CODE_ERROR
    assert spans["chat gpt-4o-mini"]["status"] == error
    assert spans["chat gpt-4o-mini"]["attributes"][semconv.ERROR_TYPE] == "TimeoutError"
    assert spans["turn"]["status"] == error and spans["turn"]["attributes"][semconv.ERROR_TYPE] == "TimeoutError"
    crm = spans["crm.lead.create"]
    assert crm["status"] == error and crm["attributes"][semconv.ERROR_TYPE] == "QUERY_LIMIT_EXCEEDED"
    assert crm["attributes"][semconv.CRM_OUTCOME] == "error"
    errors = [log for log in receiver.logs() if log["event_name"] == semconv.EVENT_ERROR]
    assert errors and errors[0]["attributes"][semconv.ERROR_TYPE] == "TimeoutError"


def test_outbound_message_is_a_producer_span_in_the_same_trace(bw, receiver):
    with botwatch.conversation("sess_remind", channel="whatsapp") as conv:
        with conv.send("Напоминаем: завтра в 15:00 стрижка", kind="reminder"):
            pass
        conv.funnel("reminder_sent")
    botwatch.flush()
    spans = {s["name"]: s for s in receiver.spans()}
    send = spans["message.send"]
    assert send["kind"] == PRODUCER and send["parent_id"] == spans["conversation"]["span_id"]
    assert send["attributes"][semconv.MESSAGE_KIND] == "reminder"
    sent = [log for log in receiver.logs() if log["event_name"] == semconv.EVENT_MESSAGE_SENT]
    assert sent[0]["body"] == "Напоминаем: завтра в 15:00 стрижка" and sent[0]["span_id"] == send["span_id"]


def test_virtual_clock_sets_span_times_and_sla(bw, receiver):
    now = [1_700_000_000_000_000_000]

    def clock() -> int:
        return now[0]

    with botwatch.conversation("sess_clock", channel="web", clock=clock) as conv, conv.turn("долго?") as turn:
        now[0] += 3_500_000_000
        turn.reply("да")
    botwatch.flush()
    turn_span = next(s for s in receiver.spans() if s["name"] == "turn")
    assert turn_span["end"] - turn_span["start"] == 3_500_000_000
    assert turn_span["attributes"][semconv.SLA_BREACHED] is True


async def test_async_conversations_keep_their_own_traces(bw, receiver):
    async def talk(n: int) -> str:
        async with botwatch.conversation(f"sess_async_{n}", channel="telegram") as conv:
            async with conv.turn(f"сообщение {n}") as turn:
                await asyncio.sleep(0.01)
                async with turn.llm(model="gpt-4o-mini") as call:
                    await asyncio.sleep(0.01)
                    call.usage(input_tokens=10, output_tokens=5)
            return conv.trace_id

    trace_ids = await asyncio.gather(*(talk(n) for n in range(20)))
    botwatch.flush()
    spans = receiver.spans()
    for n, trace_id in enumerate(trace_ids):
        mine = [s for s in spans if s["trace_id"] == trace_id]
        assert {s["name"] for s in mine} == {"conversation", "turn", "chat gpt-4o-mini"}
        assert {s["attributes"][semconv.GEN_AI_CONVERSATION_ID] for s in mine} == {f"sess_async_{n}"}


def test_bad_input_gives_clear_errors(bw):
    with pytest.raises(ValueError, match="conversation id"):
        botwatch.conversation("has spaces", channel="web")
    with pytest.raises(ValueError, match="conversation id"):
        botwatch.conversation(None, channel="web")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="conversation id"):
        botwatch.conversation("x" * 1000, channel="web")
    with pytest.raises(ValueError, match=r"personal data|phone"):
        botwatch.conversation("89123456789", channel="web")
    with pytest.raises(ValueError, match="channel"):
        botwatch.conversation("sess_ok", channel="")
    with botwatch.conversation("sess_bad_input", channel="web") as conv, conv.turn(b"\xff\xfe bad utf-8") as turn:
        with pytest.raises(ValueError, match="confidence"):
            turn.intent("booking", confidence=1.5)
        with pytest.raises(ValueError, match="confidence"):
            turn.intent("booking", confidence=float("nan"))
        with turn.llm(model="m") as call, pytest.raises(ValueError, match="input_tokens"):
            call.usage(input_tokens=-1, output_tokens=3)
        with pytest.raises(ValueError, match="funnel stage"):
            conv.funnel("bought_a_yacht")
        turn.reply("x" * 100_000 + "\udcff")  # huge and with a lone surrogate: truncated and made valid
    botwatch.flush()


def test_episode_id_is_stable_per_window(bw):
    from datetime import UTC, datetime, timedelta

    morning = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    evening = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
    tomorrow = morning + timedelta(days=1)
    a = botwatch.episode_id(123456789, channel="telegram", at=morning)
    assert a == botwatch.episode_id(123456789, channel="telegram", at=evening)
    assert a != botwatch.episode_id(123456789, channel="telegram", at=tomorrow)
    assert "123456789" not in a
    ids.validate_conversation_id(a)
    with pytest.raises(ValueError):
        botwatch.episode_id(1, at=datetime(2026, 1, 1))  # naive time
