"""Bots that poll: a real aiogram Dispatcher and a real python-telegram-bot Application get updates only by getUpdates.

Nothing is fed to the framework: the test ``enqueue``s Update JSON into the
local Bot API server (``telegram_api.BotAPI``) and the bot, instrumented with
botwatch, long-polls it as it would api.telegram.org.  The test checks the
replies the server received, that every update was fetched once with a rising
``offset`` and confirmed (so botwatch did not break or slow the polling loop),
and the turns botwatch recorded: one per update, its kind, bot id and handler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import telegram_updates as tg
from telegram_api import CONFLICT, TOKEN, BotAPI, Call
from telegram_support import BOT_ID, replies, trace_of, turns

import botwatch
from botwatch import semconv

pytest.importorskip("aiogram")
pytest.importorskip("telegram")
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from botwatch.integrations import aiogram as bw_aiogram
from botwatch.integrations import telegram_bot as bw_ptb

WAIT = 8.0  # seconds any one step may take
POLL = 1  # the long-polling timeout the bots ask for, seconds
Context = ContextTypes.DEFAULT_TYPE


@pytest.fixture
def api() -> Iterator[BotAPI]:
    server = BotAPI()  # one per test: its calls are that bot's only
    yield server
    server.close()


def script(chat_id: int) -> list[dict[str, Any]]:
    """A short conversation: a question, a voice message, then the client edits the question."""
    first = 1  # message_id of the question (the server numbers updates from 1 too)
    return [
        tg.text(first, chat_id, "Можно записаться на стрижку?"),
        tg.voice(2, chat_id),
        tg.edited(3, chat_id, first, "Можно записаться на стрижку в субботу?"),
    ]


REPLIES = ["Да, на какое время?", "Голосовое получено: 7 с", "Понял, в субботу"]
KINDS = ["message", "message", "edited_message"]


async def until(check: Any, what: str, api: BotAPI) -> None:
    """Wait (without blocking the bot's event loop) until ``check()`` is true, at most ``WAIT`` seconds."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {WAIT}s; calls: {[(c.method, c.params) for c in api.calls]}")
        await asyncio.sleep(0.02)


async def converse(api: BotAPI, chat_id: int) -> list[int]:
    """Send the script one update at a time, each after the bot answered the one before; their update ids."""
    numbered = []
    for n, update in enumerate(script(chat_id), start=1):
        numbered += api.enqueue(update)
        await until(lambda n=n: len(api.sent()) >= n, f"reply {n}", api)
    await until(lambda: not api.pending(), "the last update confirmed by an offset", api)
    return numbered


async def closed(api: BotAPI) -> None:
    """Close the server once the bot stopped; the getUpdates it still held is answered and recorded."""
    api.close()
    await until(lambda: not api.held(), "the held getUpdates answered", api)


def polls(api: BotAPI) -> list[Call]:
    return [call for call in api.calls if call.method == "getUpdates"]


def check_polling(api: BotAPI, chat_id: int, numbered: list[int]) -> None:
    """Every update fetched once, confirmed by the next offset; no errors; the replies in order.

    One 409 is allowed: the long poll a stopping bot gave up on, ended by its own last getUpdates (PTB's
    confirming call), as Telegram ends it.  Calls are recorded when answered, so that one comes last.
    """
    assert {call.status for call in api.calls if call.method != "getUpdates"} == {200}
    conflicts = [call for call in polls(api) if call.status != 200]
    assert conflicts in ([], polls(api)[-1:]) and {c.status for c in conflicts} <= {409}, conflicts
    answered = [call for call in polls(api) if call.status == 200]
    offsets = [int(call.params.get("offset") or 0) for call in answered]
    assert offsets == sorted(offsets), offsets  # never goes back: nothing fetched twice
    distinct = list(dict.fromkeys(offset for offset in offsets if offset))
    assert distinct == [n + 1 for n in numbered], offsets  # each update confirmed by the poll after it
    assert all(int(call.params.get("timeout") or 0) == POLL for call in answered[:-1])
    assert [(int(p["chat_id"]), p["text"]) for p in api.sent()] == [(chat_id, text) for text in REPLIES]
    assert not api.pending()


def check_turns(receiver: Any, chat_id: int, handlers: list[str]) -> None:
    botwatch.flush()
    mine = turns(receiver, trace_of(chat_id))
    assert len(mine) == 3
    assert [t["attributes"][semconv.UPDATE_KIND] for t in mine] == KINDS
    assert {t["attributes"][semconv.BOT_ID] for t in mine} == {BOT_ID}
    assert [t["attributes"][semconv.HANDLER] for t in mine] == handlers
    assert [t["attributes"][semconv.TURN_INDEX] for t in mine] == [1, 2, 3]
    assert [[r[semconv.MESSAGE_TEXT] for r in replies(t)] for t in mine] == [[text] for text in REPLIES]
    assert not any(t["attributes"].get(semconv.UPDATE_UNHANDLED) for t in mine)
    voice_turn = mine[1]["attributes"]
    assert voice_turn[semconv.MEDIA_KIND] == "voice" and voice_turn[semconv.MEDIA_DURATION] == tg.VOICE_SECONDS


# --- aiogram ---------------------------------------------------------------------------------------------------------
async def aio_question(message: Message) -> None:
    await message.answer(REPLIES[0])


async def aio_voice(message: Message) -> None:
    assert message.voice is not None
    await message.answer(f"Голосовое получено: {message.voice.duration} с")


async def aio_edit(message: Message) -> None:
    await message.answer(REPLIES[2])


async def test_aiogram_dispatcher_polling_gets_the_conversation_by_get_updates(
    bw: Any, receiver: Any, api: BotAPI
) -> None:
    router = Router()
    router.message.register(aio_voice, F.voice)
    router.message.register(aio_question, F.text)
    router.edited_message.register(aio_edit)
    dp = Dispatcher()
    dp.include_router(router)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
    bw_aiogram.instrument(dp, bot)
    polling = asyncio.create_task(
        dp.start_polling(bot, polling_timeout=POLL, handle_signals=False, close_bot_session=False)
    )
    try:
        await until(lambda: bool(polls(api)), "the first getUpdates", api)
        api.enqueue(tg.callback(0, 6001, "slot:15", BOT_ID))  # a kind the bot did not ask for: never delivered
        numbered = await converse(api, 6001)
    finally:
        with contextlib.suppress(RuntimeError):  # "Polling is not started": it failed; the task tells why
            await asyncio.wait_for(dp.stop_polling(), WAIT)
        await asyncio.wait_for(polling, WAIT)
        await bot.session.close()
        await closed(api)

    # aiogram asks only for the kinds it has handlers for; the callback query was dropped, not handled
    asked = [sorted(json.loads(call.params["allowed_updates"])) for call in polls(api)]
    assert asked == [["edited_message", "message"]] * len(asked)
    assert api.accepted("getMe")
    assert numbered == [2, 3, 4]
    check_polling(api, 6001, numbered)
    check_turns(receiver, 6001, [f"{__name__}.{f.__name__}" for f in (aio_question, aio_voice, aio_edit)])


# --- python-telegram-bot ------------------------------------------------------------------------------------------
async def ptb_question(update: Update, context: Context) -> None:
    assert update.message is not None
    await update.message.reply_text(REPLIES[0])


async def ptb_voice(update: Update, context: Context) -> None:
    assert update.message is not None and update.message.voice is not None
    await update.message.reply_text(f"Голосовое получено: {update.message.voice.to_dict()['duration']} с")


async def ptb_edit(update: Update, context: Context) -> None:
    assert update.edited_message is not None
    await update.edited_message.reply_text(REPLIES[2])


async def test_ptb_application_polling_gets_the_conversation_by_get_updates(
    bw: Any, receiver: Any, api: BotAPI
) -> None:
    app = ApplicationBuilder().token(TOKEN).base_url(f"{api.url}/bot").build()
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, ptb_question))
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.VOICE, ptb_voice))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, ptb_edit))
    bw_ptb.instrument(app)
    await app.initialize()
    try:
        await app.updater.start_polling(timeout=POLL, poll_interval=0)  # type: ignore[union-attr]
        await app.start()
        numbered = await converse(api, 6002)
    finally:
        if app.updater is not None and app.updater.running:
            await asyncio.wait_for(app.updater.stop(), WAIT)
        if app.running:
            await asyncio.wait_for(app.stop(), WAIT)
        await app.shutdown()
        await closed(api)

    confirming = [call for call in polls(api) if call.status == 200][-1]
    assert confirming.params.get("timeout") in (0, "0", "0.0")  # PTB's last call only confirms, no long poll
    assert api.accepted("getMe") and api.accepted("deleteWebhook")
    assert numbered == [1, 2, 3]
    check_polling(api, 6002, numbered)
    check_turns(receiver, 6002, [f"{__name__}.{f.__name__}" for f in (ptb_question, ptb_voice, ptb_edit)])


# --- the server's getUpdates itself --------------------------------------------------------------------------------
def get_updates(api: BotAPI, **params: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{api.url}/bot{TOKEN}/getUpdates", json.dumps(params).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def ids(answer: tuple[int, dict[str, Any]]) -> list[int]:
    status, body = answer
    assert status == 200 and body["ok"], answer
    return [update["update_id"] for update in body["result"]]


def test_get_updates_confirms_by_offset_and_honours_limit_and_allowed_updates(api: BotAPI) -> None:
    assert api.enqueue(*(tg.text(0, 7001, f"m{n}") for n in range(5))) == [1, 2, 3, 4, 5]
    assert ids(get_updates(api)) == [1, 2, 3, 4, 5]
    assert ids(get_updates(api)) == [1, 2, 3, 4, 5]  # nothing confirmed yet: fetched again
    assert ids(get_updates(api, offset=3, limit=2)) == [3, 4]  # 1 and 2 confirmed and forgotten
    assert ids(get_updates(api, limit=0)) == [3, 4, 5]  # limit is clamped to 1-100
    assert ids(get_updates(api, offset=-1)) == [5]  # a negative offset keeps only the last ones
    assert api.pending() == [5]
    api.enqueue(tg.callback(0, 7001, "x", BOT_ID), tg.edited(0, 7001, 1, "m0!"))
    assert ids(get_updates(api, offset=6, allowed_updates=["edited_message"])) == [7]  # the callback is dropped
    assert ids(get_updates(api, offset=8, timeout=0)) == []
    assert get_updates(api, offset="x")[0] == 400


def test_get_updates_holds_until_an_update_or_timeout_and_a_new_poll_ends_the_held_one(api: BotAPI) -> None:
    started = time.monotonic()
    assert ids(get_updates(api, timeout=0.3)) == []
    assert 0.3 <= time.monotonic() - started < 2  # held for the timeout, then answered empty

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        held = pool.submit(get_updates, api, timeout=5)
        deadline = time.monotonic() + WAIT
        while not api.held() and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        api.enqueue(tg.text(0, 7002, "вы тут?"))
        assert ids(held.result(WAIT)) == [1] and time.monotonic() - started < 1  # woken by the update, not the timeout

        first = pool.submit(get_updates, api, offset=2, timeout=5)
        while not api.held() and time.monotonic() < deadline:
            time.sleep(0.01)
        second = pool.submit(get_updates, api, offset=2, timeout=0.2)
        assert first.result(WAIT) == (
            409,
            {"ok": False, "error_code": 409, "description": CONFLICT},
        )  # the held poll is terminated by the other one
        assert ids(second.result(WAIT)) == []
    assert api.pending() == []
    api.enqueue(tg.text(0, 7002, "ещё"))
    urllib.request.urlopen(f"{api.url}/bot{TOKEN}/deleteWebhook?drop_pending_updates=true", timeout=WAIT).close()
    assert api.pending() == []
