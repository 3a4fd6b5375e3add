"""Telegram bots under test: ids, updates, trace ids and the spans they left; shared by the aiogram and
python-telegram-bot tests and benchmarks/integrations.py. The Bot API itself is ``telegram_api.BotAPI``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import telegram_updates as tg
from telegram_api import TOKEN, BotAPI

from botwatch import ids, semconv
from botwatch.integrations import episode_for

SECRET = b"test-secret-0123456789"
SERVER, PRODUCER = 2, 4  # OTLP SpanKind values
STATUS_ERROR = 2
RAW_PHONE = "+7 912 345-67-89"
HANDLER = semconv.HANDLER
BOT_ID = int(TOKEN.split(":")[0])


def update_json(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    person = {"id": chat_id, "is_bot": False, "first_name": "Client"}
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Client"},
        "from": person,
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def episode_of(chat_id: int, bot_id: int = BOT_ID) -> str:
    return episode_for(chat_id, bot_id=bot_id)


def trace_of(chat_id: int, bot_id: int = BOT_ID) -> str:
    return format(ids.trace_id_for(SECRET, episode_of(chat_id, bot_id)), "032x")


def exported_bytes(receiver: Any) -> bytes:
    return b"".join(receiver.raw)


OTHER_TOKEN = "654321:CLINIC-token"
OTHER_BOT_ID = 654321


def serve(token: str = TOKEN) -> Iterator[BotAPI]:
    """A local Bot API server for the bot with ``token``, for one test module."""
    server = BotAPI(token=token)
    yield server
    server.close()


def turns(receiver: Any, trace: str | None = None) -> list[dict[str, Any]]:
    found = [s for s in receiver.spans() if s["name"] == semconv.SPAN_TURN]
    mine = [s for s in found if trace is None or s["trace_id"] == trace]
    return sorted(mine, key=lambda s: s["start"])


def replies(span: dict[str, Any]) -> list[dict[str, Any]]:
    return [attrs for name, attrs in span["events"] if name == semconv.EVENT_BOT_REPLIED]


def logged(handler: Any) -> Any:
    """A decorator as bots write them: functools.wraps around the real handler."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await handler(*args, **kwargs)

    return wrapper


# --- what the aiogram and python-telegram-bot tests both assert: the same bot, written for either framework ---
def assert_salon_turns(receiver: Any, api: BotAPI, handler: Callable[[str], bool]) -> None:
    """Updates 1-2 from chat 501 and 3 from chat 502 to the salon's ``book`` handler: one turn each in its chat's
    episode, under one conversation root, with the LLM and CRM children, and the phone masked in all telemetry."""
    spans = receiver.spans()
    assert {s["trace_id"] for s in spans} == {trace_of(501), trace_of(502)}
    for chat, count in ((501, 2), (502, 1)):
        mine = [s for s in spans if s["trace_id"] == trace_of(chat)]
        roots = [s for s in mine if s["parent_id"] == ""]
        assert [r["name"] for r in roots] == ["conversation"]
        turn_spans = sorted((s for s in mine if s["name"] == "turn"), key=lambda s: s["start"])
        assert [t["attributes"][semconv.TURN_INDEX] for t in turn_spans] == list(range(1, count + 1))
        for turn in turn_spans:
            assert turn["kind"] == SERVER and turn["parent_id"] == roots[0]["span_id"]
            assert turn["attributes"][semconv.CHANNEL] == "telegram"
            assert handler(turn["attributes"][HANDLER]), turn["attributes"][HANDLER]
            assert turn["attributes"][semconv.INTENT] == "booking"
            (event,) = [e for e in turn["events"] if e[0] == semconv.EVENT_BOT_REPLIED]
            assert event[1][semconv.MESSAGE_TEXT].startswith("Записал вас. Перезвоним на +7 *** ***-67-89")
            children = {s["name"] for s in mine if s["parent_id"] == turn["span_id"]}
            assert children == {"chat gpt-4o-mini", "crm.lead.create"}
    sent = [log for log in receiver.logs() if log["event_name"] == semconv.EVENT_BOT_REPLIED]
    assert len(sent) == 3 and {r["span_id"] for r in sent} == {s["span_id"] for s in spans if s["name"] == "turn"}
    # The client and the bot both wrote the phone; the Bot API got it, telemetry never did.
    assert any(RAW_PHONE in params["text"] for params in api.sent())
    raw = exported_bytes(receiver)
    assert RAW_PHONE.encode() not in raw and b"912 345-67-89" not in raw and b"9123456789" not in raw


def assert_error_turn(receiver: Any, chat: int, handler_suffix: str) -> None:
    """The one turn failed with RuntimeError: error status, the exception event, the handler named."""
    (turn,) = [s for s in receiver.spans() if s["name"] == "turn"]
    assert turn["trace_id"] == trace_of(chat)
    assert turn["status"] == STATUS_ERROR and turn["attributes"][semconv.ERROR_TYPE] == "RuntimeError"
    assert any(name == "exception" for name, _ in turn["events"])
    assert turn["attributes"][HANDLER].endswith(handler_suffix)


def assert_sends_outside_turn(receiver: Any, reminded: int, client: int, admin_chat: int) -> None:
    """A reminder to ``reminded`` (no update) and the admin note during ``client``'s turn are sends, each in
    its target chat's episode; the client's reply stays the turn's one reply."""
    spans = receiver.spans()
    sends = [s for s in spans if s["name"] == "message.send"]
    assert {s["trace_id"] for s in sends} == {trace_of(reminded), trace_of(admin_chat)}
    assert all(s["kind"] == PRODUCER for s in sends)
    turn = next(s for s in spans if s["name"] == "turn")
    assert turn["trace_id"] == trace_of(client)
    assert [e[0] for e in turn["events"]].count(semconv.EVENT_BOT_REPLIED) == 1
    roots = [s for s in spans if s["parent_id"] == ""]
    assert sorted(r["trace_id"] for r in roots) == sorted({trace_of(reminded), trace_of(client), trace_of(admin_chat)})


def assert_concurrent_chats(receiver: Any, chats: list[int]) -> None:
    """200 updates from 50 chats, shuffled and concurrent: each span and record in its own chat's trace,
    turn indices 1-4 per chat, each reply the one its chat was sent."""
    spans = receiver.spans()
    episode_chat = {episode_of(c): c for c in chats}
    by_span = {s["span_id"]: s for s in spans}
    assert len([s for s in spans if s["name"] == "turn"]) == 200
    assert len([s for s in spans if s["name"] == "conversation"]) == 50
    for span in spans:
        chat = episode_chat[span["attributes"][semconv.GEN_AI_CONVERSATION_ID]]
        assert span["trace_id"] == trace_of(chat)
        if span["name"] == "chat gpt-4o-mini":
            assert by_span[span["parent_id"]]["name"] == "turn"
        if span["name"] == "turn":
            (event,) = [e for e in span["events"] if e[0] == semconv.EVENT_BOT_REPLIED]
            assert event[1][semconv.MESSAGE_TEXT] == f"chat {chat}"
    for chat in chats:
        indices = sorted(
            s["attributes"][semconv.TURN_INDEX]
            for s in spans
            if s["name"] == "turn" and s["trace_id"] == trace_of(chat)
        )
        assert indices == [1, 2, 3, 4]
    for log in receiver.logs():
        chat = episode_chat[log["attributes"][semconv.GEN_AI_CONVERSATION_ID]]
        assert log["trace_id"] == trace_of(chat)


def assert_two_conversations(receiver: Any, chat: int) -> None:
    """One person (``chat``) wrote to two bots, alternately, twice each: two conversations, each bot's own."""
    salon_trace, clinic_trace = trace_of(chat, BOT_ID), trace_of(chat, OTHER_BOT_ID)
    assert salon_trace != clinic_trace
    roots = [s for s in receiver.spans() if s["name"] == semconv.SPAN_CONVERSATION]
    assert sorted(r["trace_id"] for r in roots) == sorted([salon_trace, clinic_trace])
    for trace, bot_id in ((salon_trace, BOT_ID), (clinic_trace, OTHER_BOT_ID)):
        mine = turns(receiver, trace)
        assert [t["attributes"][semconv.TURN_INDEX] for t in mine] == [1, 2]  # no two "turn 1"
        assert {t["attributes"][semconv.BOT_ID] for t in mine} == {bot_id}
        assert [r[semconv.MESSAGE_TEXT] for t in mine for r in replies(t)] == [f"Здравствуйте, это бот {bot_id}"] * 2


def assert_apology_turn(receiver: Any, handler: Callable[[str], bool]) -> None:
    """The handler raised ConnectionError after 0.1 s, the error handler apologised at 0.25 s and worked on:
    the apology is the failed turn's reply (not a send), and the turn ends at it."""
    (turn,) = turns(receiver)
    assert turn["status"] == STATUS_ERROR and turn["attributes"][semconv.ERROR_TYPE] == "ConnectionError"
    assert handler(turn["attributes"][semconv.HANDLER]), turn["attributes"][semconv.HANDLER]
    assert [r[semconv.MESSAGE_TEXT] for r in replies(turn)] == ["Извините, попробуйте ещё раз через минуту"]
    assert not [s for s in receiver.spans() if s["name"] == semconv.SPAN_MESSAGE_SEND]
    duration = (turn["end"] - turn["start"]) / 1e9
    assert 0.25 <= duration < 0.5, duration  # from the message to the apology, not 1 ms, not the work after


def assert_edits(receiver: Any, chat: int) -> None:
    """A message, an edit nobody handles (unhandled, no handler), an edit handled once an edit handler exists."""
    first, ignored, handled = turns(receiver, trace_of(chat))
    assert first["attributes"][semconv.UPDATE_KIND] == "message"
    assert ignored["attributes"][semconv.UPDATE_KIND] == "edited_message"
    assert ignored["attributes"][semconv.UPDATE_UNHANDLED] is True and semconv.HANDLER not in ignored["attributes"]
    assert handled["attributes"][semconv.UPDATE_KIND] == "edited_message" and len(replies(handled)) == 1
    assert semconv.UPDATE_UNHANDLED not in handled["attributes"]
    assert semconv.UPDATE_UNHANDLED not in first["attributes"]


def assert_voice_turn(receiver: Any, answer_size: int) -> dict[str, Any]:
    """A voice message in (``telegram_updates.voice``), a 3 s voice answer captioned "Перезвоню" out; the turn."""
    (turn,) = turns(receiver)
    assert turn["attributes"][semconv.MEDIA_KIND] == "voice"
    assert turn["attributes"][semconv.MEDIA_SIZE] == tg.VOICE_SIZE
    assert turn["attributes"][semconv.MEDIA_DURATION] == tg.VOICE_SECONDS
    received = [log for log in receiver.logs() if log["event_name"] == semconv.EVENT_MESSAGE_RECEIVED]
    assert len(received) == 1 and received[0]["attributes"][semconv.MEDIA_KIND] == "voice"
    assert received[0]["attributes"][semconv.MEDIA_DURATION] == tg.VOICE_SECONDS
    (reply,) = replies(turn)
    assert reply[semconv.MEDIA_KIND] == "voice" and reply[semconv.MEDIA_SIZE] == answer_size
    assert reply[semconv.MEDIA_DURATION] == 3 and reply[semconv.MESSAGE_TEXT] == "Перезвоню"
    return turn


def assert_update_kinds(receiver: Any, chat: int) -> None:
    """A callback (answered "Записал на 15:00"), an inline query, a member update, a pre-checkout nobody handles."""
    steps = turns(receiver, trace_of(chat))
    assert [t["attributes"][semconv.UPDATE_KIND] for t in steps] == [
        "callback_query",
        "inline_query",
        "my_chat_member",
        "pre_checkout_query",
    ]
    assert [r[semconv.MESSAGE_TEXT] for r in replies(steps[0])] == ["Записал на 15:00"]
    assert [semconv.UPDATE_UNHANDLED in t["attributes"] for t in steps] == [False, False, False, True]
    assert [t["attributes"][semconv.TURN_INDEX] for t in steps] == [1, 2, 3, 4]


def assert_booking_steps(receiver: Any, chat: int, handlers: list[str]) -> None:
    """The four-step booking dialogue (scenes / ConversationHandler): each turn names the step's own callback."""
    steps = turns(receiver, trace_of(chat))
    assert [t["attributes"][semconv.HANDLER] for t in steps] == handlers
    assert [t["attributes"][semconv.TURN_INDEX] for t in steps] == [1, 2, 3, 4]
    assert [r[semconv.MESSAGE_TEXT] for t in steps for r in replies(t)] == [
        "На какую услугу записать?",
        "Стрижка или маникюр?",
        "Во сколько вам удобно?",
        "Записал на 15:00",
    ]
