"""python-telegram-bot through the real Application, a local Telegram Bot API server and real OTLP export."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import pytest
from telegram_api import TOKEN, BotAPI
from telegram_support import (
    HANDLER,
    RAW_PHONE,
    assert_concurrent_chats,
    assert_error_turn,
    assert_salon_turns,
    assert_sends_outside_turn,
    update_json,
)

import botwatch
from botwatch import semconv

pytest.importorskip("telegram")
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from botwatch.integrations import current_turn
from botwatch.integrations.telegram_bot import instrument

Context = ContextTypes.DEFAULT_TYPE


@pytest.fixture
async def app(api: BotAPI) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    application = ApplicationBuilder().token(TOKEN).base_url(f"{api.url}/bot").build()
    yield application
    if application._initialized:
        await application.shutdown()


async def start(application: Application) -> None:  # type: ignore[type-arg]
    instrument(application)
    await application.initialize()


def update(application: Application, update_id: int, chat_id: int, text: str) -> Update:  # type: ignore[type-arg]
    return Update.de_json(update_json(update_id, chat_id, text), application.bot)


async def book(update: Update, context: Context) -> None:
    turn = current_turn()
    assert turn is not None
    turn.intent("booking", confidence=0.9)
    with turn.llm(model="gpt-4o-mini") as call:
        call.usage(input_tokens=10, output_tokens=5)
    with turn.crm("lead.create") as action:
        action.entity_id = "42"
    await update.effective_message.reply_text(f"Записал вас. Перезвоним на {RAW_PHONE}")  # type: ignore[union-attr]


async def test_each_update_is_a_turn_in_its_chat_episode(bw, receiver, api, app):
    seen: list[int] = []

    async def audit(update: Update, context: Context) -> None:  # a group -1 handler many bots have
        seen.append(update.update_id)

    app.add_handler(TypeHandler(Update, audit), group=-1)
    app.add_handler(MessageHandler(filters.TEXT, book))
    await start(app)
    await app.process_update(update(app, 1, 501, f"Хочу на стрижку, мой номер {RAW_PHONE}"))
    await app.process_update(update(app, 2, 501, "А в субботу можно?"))
    await app.process_update(update(app, 3, 502, "Сколько стоит маникюр?"))
    botwatch.flush()

    assert seen == [1, 2, 3]
    assert_salon_turns(receiver, api, lambda handler: handler == f"{__name__}.book")


async def test_handler_error_is_an_error_turn_and_reaches_the_error_handler(bw, receiver, api, app):
    seen: list[str] = []

    async def broken(update: Update, context: Context) -> None:
        await update.effective_message.reply_text("Минутку...")  # type: ignore[union-attr]
        raise RuntimeError("CRM is down")

    async def on_error(update: object, context: Context) -> None:
        seen.append(type(context.error).__name__)

    app.add_handler(CommandHandler("book", broken))
    app.add_error_handler(on_error)
    await start(app)
    await app.process_update(update(app, 10, 601, "/book"))
    botwatch.flush()

    assert seen == ["RuntimeError"]
    assert_error_turn(receiver, 601, "broken")


async def test_turn_lasts_from_receipt_to_the_last_reply(bw, receiver, api, app):
    async def slow(update: Update, context: Context) -> None:
        await asyncio.sleep(0.2)
        await update.effective_message.reply_text("Смотрю расписание")  # type: ignore[union-attr]
        await asyncio.sleep(0.1)
        await update.effective_message.reply_text("Свободно в 15:00")  # type: ignore[union-attr]
        await asyncio.sleep(0.4)

    app.add_handler(MessageHandler(filters.ALL, slow))
    await start(app)
    started = time.time_ns()
    await app.process_update(update(app, 20, 701, "Когда свободно?"))
    botwatch.flush()

    (turn,) = [s for s in receiver.spans() if s["name"] == "turn"]
    duration = (turn["end"] - turn["start"]) / 1e9
    assert 0.3 <= duration < 0.5, duration
    assert started <= turn["start"] < started + 50_000_000
    assert len([e for e in turn["events"] if e[0] == semconv.EVENT_BOT_REPLIED]) == 2


async def test_messages_outside_a_turn_are_sends_in_the_target_chat_episode(bw, receiver, api, app):
    admin_chat = 9000

    async def notify_admin(update: Update, context: Context) -> None:
        await context.bot.send_message(admin_chat, "Новая запись")
        await update.effective_message.reply_text("Готово")  # type: ignore[union-attr]

    app.add_handler(MessageHandler(filters.ALL, notify_admin))
    await start(app)
    await app.bot.send_message(801, "Напоминаем: завтра в 15:00")
    await app.process_update(update(app, 30, 802, "Запишите"))
    botwatch.flush()

    assert_sends_outside_turn(receiver, 801, 802, admin_chat)


async def test_concurrent_chats_keep_their_own_traces(bw, receiver, api, app):
    async def answer(update: Update, context: Context) -> None:
        turn = current_turn()
        assert turn is not None
        await asyncio.sleep(random.random() * 0.02)
        with turn.llm(model="gpt-4o-mini"):
            await asyncio.sleep(random.random() * 0.02)
        await update.effective_message.reply_text(f"chat {update.effective_chat.id}")  # type: ignore[union-attr]

    app.add_handler(MessageHandler(filters.ALL, answer))
    await start(app)
    chats = [1000 + i for i in range(50)]
    updates = [(n, chats[n % 50]) for n in range(200)]
    random.Random(7).shuffle(updates)
    await asyncio.gather(*(app.process_update(update(app, n, chat, f"сообщение {n}")) for n, chat in updates))
    botwatch.flush()

    assert_concurrent_chats(receiver, chats)


async def test_instrumenting_twice_and_late_handlers(bw, receiver, api, app):
    await start(app)
    instrument(app)  # a second call changes nothing
    app.add_handler(MessageHandler(filters.ALL, book))  # added after instrument(): still traced
    await app.process_update(update(app, 50, 1501, "Привет"))
    botwatch.flush()
    (turn,) = [s for s in receiver.spans() if s["name"] == "turn"]
    assert turn["attributes"][HANDLER] == f"{__name__}.book"
    # The traced class reads as the original one: error texts and repr stay as the developer knows them.
    assert type(app).__name__ == "Application" and isinstance(app, Application)
    assert type(app.bot).__qualname__ == "ExtBot" and type(app.bot).__module__ == "telegram.ext._extbot"
