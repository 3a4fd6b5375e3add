"""python-telegram-bot applications as businesses write them, through the real Application and local Bot API.

The same cases as ``test_integrations_aiogram_cases``: two bots and one
person, a ConversationHandler (PTB's scenes), an error handler that replies, an edited message, a voice message,
``instrument()`` twice and ``uninstrument()``, other update kinds, and the
developer's error texts unchanged by the traced classes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import telegram_updates as tg
from telegram_api import TOKEN, BotAPI
from telegram_support import (
    BOT_ID,
    OTHER_TOKEN,
    assert_apology_turn,
    assert_booking_steps,
    assert_edits,
    assert_two_conversations,
    assert_update_kinds,
    assert_voice_turn,
    logged,
    replies,
    turns,
)

import botwatch
from botwatch import semconv

pytest.importorskip("telegram")
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    ConversationHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from botwatch.integrations import episode_for
from botwatch.integrations.telegram_bot import instrument, uninstrument

Context = ContextTypes.DEFAULT_TYPE


def build(server: BotAPI, token: str = TOKEN) -> Application:  # type: ignore[type-arg]
    return ApplicationBuilder().token(token).base_url(f"{server.url}/bot").build()


@pytest.fixture
async def app(api: BotAPI) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    application = build(api)
    yield application
    if application._initialized:
        await application.shutdown()


async def feed(application: Application, update: dict[str, Any]) -> None:  # type: ignore[type-arg]
    await application.process_update(Update.de_json(update, application.bot))


async def answer(update: Update, context: Context) -> None:
    await update.effective_message.reply_text(f"Здравствуйте, это бот {context.bot.id}")  # type: ignore[union-attr]


async def test_two_bots_and_one_person_are_two_conversations(bw, receiver, api, other_api, app):
    clinic = build(other_api, OTHER_TOKEN)
    for application in (app, clinic):
        application.add_handler(MessageHandler(filters.TEXT, answer))
        instrument(application)
        await application.initialize()
    try:
        for n in range(4):
            await feed(app if n % 2 == 0 else clinic, tg.text(200 + n, 4002, f"вопрос {n}"))
    finally:
        await clinic.shutdown()
    botwatch.flush()

    assert_two_conversations(receiver, 4002)


async def test_error_handler_reply_is_the_failed_turns_reply(bw, receiver, api, app):
    async def crm_booking(update: Update, context: Context) -> None:
        await asyncio.sleep(0.1)
        raise ConnectionError("CRM is down")

    async def apologise(update: object, context: Context) -> None:
        await asyncio.sleep(0.15)
        assert isinstance(update, Update) and update.effective_message is not None
        await update.effective_message.reply_text("Извините, попробуйте ещё раз через минуту")
        await asyncio.sleep(0.3)

    app.add_handler(MessageHandler(filters.TEXT, crm_booking))
    app.add_error_handler(apologise)
    instrument(app)
    await app.initialize()
    await feed(app, tg.text(300, 4003, "Запишите на завтра"))
    botwatch.flush()

    handler = f"{__name__}.test_error_handler_reply_is_the_failed_turns_reply.<locals>.crm_booking"
    assert_apology_turn(receiver, lambda name: name == handler)


async def test_edited_message_is_marked_and_an_edit_nobody_handles_is_unhandled(bw, receiver, api, app):
    async def booking(update: Update, context: Context) -> None:
        await update.effective_message.reply_text("Записал")  # type: ignore[union-attr]

    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, booking))
    instrument(app)
    await app.initialize()
    await feed(app, tg.text(400, 4004, "Запишите на 15:00"))
    await feed(app, tg.edited(401, 4004, 400, "Запишите на 16:00"))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, booking))
    await feed(app, tg.edited(402, 4004, 400, "Запишите на 17:00"))
    botwatch.flush()

    assert_edits(receiver, 4004)


async def test_voice_in_and_voice_out_are_recorded_with_kind_size_and_duration(bw, receiver, api, app):
    ogg = b"OggS" + bytes(3_000)

    async def listen(update: Update, context: Context) -> None:
        await update.effective_message.reply_voice(ogg, duration=3, caption="Перезвоню")  # type: ignore[union-attr]

    app.add_handler(MessageHandler(filters.VOICE, listen))
    instrument(app)
    await app.initialize()
    await feed(app, tg.voice(500, 4005))
    botwatch.flush()

    assert_voice_turn(receiver, len(ogg))


async def test_instrument_twice_is_a_no_op_and_uninstrument_restores_the_application(bw, receiver, api, app, caplog):
    app.add_handler(MessageHandler(filters.TEXT, answer))
    classes, callback = (type(app), type(app.bot)), app.handlers[0][0].callback
    first = instrument(app)
    with caplog.at_level(logging.DEBUG, logger="botwatch.integrations"):
        assert instrument(app) is first
    assert any("already instrumented" in r.getMessage() for r in caplog.records)
    await app.initialize()
    await feed(app, tg.text(600, 4006, "Привет"))
    botwatch.flush()
    (turn,) = turns(receiver)
    assert len(replies(turn)) == 1

    uninstrument(app)
    uninstrument(app)
    assert (type(app), type(app.bot)) == classes and app.handlers[0][0].callback is callback
    receiver.clear()
    await feed(app, tg.text(601, 4006, "Ещё раз"))
    botwatch.flush()
    assert receiver.spans() == [] and len(api.sent()) >= 2


async def test_error_texts_name_the_original_classes(bw, api, app):
    instrument(app)
    with pytest.raises(AttributeError) as bot_error:
        app.bot.no_such_method  # noqa: B018
    with pytest.raises(AttributeError) as app_error:
        app.no_such_attribute  # type: ignore[attr-defined]  # noqa: B018
    assert str(bot_error.value) == "'ExtBot' object has no attribute 'no_such_method'"
    assert str(app_error.value) == "'Application' object has no attribute 'no_such_attribute'"
    assert repr(app).startswith("Application[bot=ExtBot[")


async def test_callbacks_inline_queries_and_member_updates_carry_their_kind(bw, receiver, api, app):
    async def chosen(update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await context.bot.send_message(query.message.chat.id, f"Записал на {query.data}")

    async def nothing(update: Update, context: Context) -> None:
        pass

    app.add_handler(CallbackQueryHandler(chosen))
    app.add_handler(InlineQueryHandler(nothing))
    app.add_handler(ChatMemberHandler(nothing, ChatMemberHandler.MY_CHAT_MEMBER))
    instrument(app)
    await app.initialize()
    await feed(app, tg.callback(700, 4007, "15:00", BOT_ID))
    await feed(app, tg.inline(701, 4007, "стрижка"))
    await feed(app, tg.member(702, 4007, BOT_ID, "kicked"))
    await feed(app, tg.pre_checkout(703, 4007))  # no handler
    botwatch.flush()

    assert_update_kinds(receiver, 4007)


@pytest.mark.filterwarnings("ignore:Tasks created via `Application.create_task`")  # not polling: fed directly
async def test_a_non_blocking_handler_takes_the_update_though_it_runs_after_the_turn(bw, receiver, api, app):
    done = asyncio.Event()

    async def later(update: Update, context: Context) -> None:
        await update.effective_message.reply_text("Отвечу позже")  # type: ignore[union-attr]
        done.set()

    app.add_handler(MessageHandler(filters.TEXT, later, block=False))
    instrument(app)
    await app.initialize()
    await feed(app, tg.text(800, 4008, "Привет"))
    await asyncio.wait_for(done.wait(), 10)
    botwatch.flush()

    (turn,) = turns(receiver)
    assert semconv.UPDATE_UNHANDLED not in turn["attributes"]
    sends = [s for s in receiver.spans() if s["name"] == semconv.SPAN_MESSAGE_SEND]
    assert len(sends) == 1 and sends[0]["trace_id"] == turn["trace_id"]  # its message: a send in the episode


async def test_non_client_chats_and_time_zone_options(bw, receiver, api, app):
    admins = -100_4009

    async def book(update: Update, context: Context) -> None:
        await context.bot.send_message(admins, "Новая запись")
        await update.effective_message.reply_text("Записал")  # type: ignore[union-attr]

    with pytest.raises(ValueError, match="timezone='Moscow' is not a time zone"):
        instrument(app, timezone="Moscow")
    app.add_handler(MessageHandler(filters.TEXT, book))
    instrument(app, non_client_chats=[admins], timezone="Asia/Vladivostok")
    await app.initialize()
    await feed(app, tg.text(900, 4009, "Запишите"))
    botwatch.flush()

    (turn,) = turns(receiver)
    (send,) = [s for s in receiver.spans() if s["name"] == semconv.SPAN_MESSAGE_SEND]
    assert semconv.CHAT_NON_CLIENT not in turn["attributes"] and send["attributes"][semconv.CHAT_NON_CLIENT] is True
    vladivostok = episode_for(4009, bot_id=BOT_ID, timezone="Asia/Vladivostok")
    assert turn["attributes"][semconv.GEN_AI_CONVERSATION_ID] == vladivostok


SERVICE, TIME = range(2)


async def ask_service(update: Update, context: Context) -> int:
    await update.effective_message.reply_text("На какую услугу записать?")  # type: ignore[union-attr]
    return SERVICE


async def unclear(update: Update, context: Context) -> int:
    await update.effective_message.reply_text("Стрижка или маникюр?")  # type: ignore[union-attr]
    return SERVICE


@logged
async def ask_time(update: Update, context: Context) -> int:
    await update.effective_message.reply_text("Во сколько вам удобно?")  # type: ignore[union-attr]
    return TIME


async def book_time(update: Update, context: Context) -> int:
    await update.effective_message.reply_text(f"Записал на {update.effective_message.text}")  # type: ignore[union-attr]
    return ConversationHandler.END


async def test_conversation_handler_records_the_state_callback_of_each_step(bw, receiver, api, app):
    """PTB's scenes: each turn names the callback its state ran (through a decorator), not ConversationHandler."""
    app.add_handler(
        ConversationHandler(
            entry_points=[MessageHandler(filters.Regex("^Хочу"), ask_service)],
            states={
                SERVICE: [
                    MessageHandler(filters.Regex("^(стрижка|маникюр)$"), ask_time),
                    MessageHandler(filters.TEXT, unclear),
                ],
                TIME: [MessageHandler(filters.TEXT, book_time)],
            },
            fallbacks=[],
        )
    )
    instrument(app)
    await app.initialize()
    for n, text in enumerate(["Хочу записаться", "что есть?", "стрижка", "15:00"], start=1000):
        await feed(app, tg.text(n, 4010, text))
    botwatch.flush()

    handlers = [
        f"{__name__}.ask_service",
        f"{__name__}.unclear",
        f"{__name__}.ask_time",  # under @logged: the function, not the decorator's wrapper
        f"{__name__}.book_time",
    ]
    assert_booking_steps(receiver, 4010, handlers)
