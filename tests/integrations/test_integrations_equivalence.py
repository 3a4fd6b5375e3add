"""botwatch changes nothing a bot does: the same 30 updates give the same Bot API calls with and without it.

One scripted conversation — commands, text, an edit, voice and photo in and
out, HTML replies, a callback button, an inline query, a payment, a block, a
handler error answered by the error handler, a note to the admins and an
update nobody handles — is fed to the same bot twice, each time against a
fresh local Bot API server: once plain, once instrumented.  Every call the
server received (method and parameters, uploads byte for byte) must be equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import telegram_updates as tg
from telegram_api import TOKEN, BotAPI
from telegram_support import BOT_ID

import botwatch
from botwatch import semconv

CLIENT, ADMIN = 6001, -100_6001
PICTURE, OGG = b"\x89PNG" + bytes(700), b"OggS" + bytes(900)


def script() -> list[dict[str, Any]]:
    """30 updates of one day in a salon bot's life."""
    updates: list[dict[str, Any]] = []

    def add(make: Callable[[int], dict[str, Any]]) -> None:
        updates.append(make(len(updates) + 1))

    add(lambda n: tg.text(n, CLIENT, "/start"))
    for body in ("Здравствуйте", "Сколько стоит стрижка?", "/book", "Пришлите фото работ"):
        add(lambda n, body=body: tg.text(n, CLIENT, body))
    add(lambda n: tg.callback(n, CLIENT, "15:00", BOT_ID))
    add(lambda n: tg.edited(n, CLIENT, 3, "Сколько стоит стрижка и укладка?"))
    add(lambda n: tg.voice(n, CLIENT))
    add(lambda n: tg.photo(n, CLIENT))
    add(lambda n: tg.text(n, CLIENT, "ошибка"))
    add(lambda n: tg.inline(n, CLIENT, "маникюр"))
    add(lambda n: tg.pre_checkout(n, CLIENT))
    add(lambda n: tg.text(n, ADMIN, "Принято"))
    for step in range(14):
        add(lambda n, step=step: tg.text(n, CLIENT + step % 3, f"вопрос {step}"))
    add(lambda n: tg.voice(n, CLIENT, caption="это я"))
    add(lambda n: tg.member(n, CLIENT, BOT_ID, "kicked"))
    add(lambda n: tg.callback(n, CLIENT + 1, "16:00", BOT_ID))
    assert len(updates) == 30
    return updates


def calls(server: BotAPI) -> list[tuple[str, dict[str, Any]]]:
    """Every call but getMe, an upload put in place of its random ``attach://`` name."""
    found = []
    for call in server.calls:
        if call.method == "getMe":
            continue
        params = dict(call.params)
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params.pop(value.removeprefix("attach://"))
        found.append((call.method, params))
    return found


# --- aiogram -----------------------------------------------------------------


async def run_aiogram(traced: bool) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    from aiogram import Bot, Dispatcher, F, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.filters import Command, CommandStart
    from aiogram.types import BufferedInputFile, CallbackQuery, ErrorEvent, InlineQuery, Message, PreCheckoutQuery
    from aiogram.types import Update as AiogramUpdate

    from botwatch.integrations.aiogram import instrument

    server = BotAPI()
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Здравствуйте! Это <b>салон</b> &amp; студия", parse_mode="HTML")

    @router.message(Command("book"))
    async def book(message: Message) -> None:
        await bot.send_message(ADMIN, f"Запись от {message.chat.id}")
        await message.answer("Выберите время")

    @router.message(F.voice)
    async def voice(message: Message) -> None:
        await message.answer_voice(BufferedInputFile(OGG, "reply.ogg"), duration=2, caption=message.caption)

    @router.message(F.photo | (F.text == "Пришлите фото работ"))
    async def photo(message: Message) -> None:
        await message.answer_photo(
            BufferedInputFile(PICTURE, "work.png"), caption="<i>Наши работы</i>", parse_mode="HTML"
        )

    @router.message(F.text == "ошибка")
    async def broken(message: Message) -> None:
        raise RuntimeError("CRM is down")

    @router.message(F.chat.id == ADMIN)
    async def admin(message: Message) -> None:
        pass

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"Вы написали: {message.text}")

    @router.edited_message()
    async def edited(message: Message) -> None:
        await message.answer("Исправлено")

    @router.callback_query()
    async def chosen(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.answer()
        await query.message.answer(f"Записал на {query.data}")

    @router.inline_query()
    async def search(query: InlineQuery) -> None:
        await query.answer([], cache_time=1)

    @router.pre_checkout_query()
    async def checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @router.errors()
    async def apologise(event: ErrorEvent) -> bool:
        assert event.update.message is not None
        await event.update.message.answer("Извините, попробуйте ещё раз")
        return True

    dp = Dispatcher()
    dp.include_router(router)
    if traced:
        instrument(dp, bot)
    try:
        for update in script():
            await dp.feed_update(bot, AiogramUpdate.model_validate(update, context={"bot": bot}))
    finally:
        await bot.session.close()
        server.close()
    return calls(server), len(server.calls)


async def test_aiogram_bot_makes_the_same_calls_with_and_without_botwatch(bw, receiver):
    pytest.importorskip("aiogram")
    plain, _ = await run_aiogram(traced=False)
    traced, _ = await run_aiogram(traced=True)
    botwatch.flush()
    assert len(plain) >= 30 and traced == plain
    turns = [s for s in receiver.spans() if s["name"] == semconv.SPAN_TURN]
    assert len(turns) == 30  # and botwatch did see every update


# --- python-telegram-bot ---------------------------------------------------------


async def run_ptb(traced: bool) -> list[tuple[str, dict[str, Any]]]:
    from telegram import Update
    from telegram.ext import (
        ApplicationBuilder,
        CallbackQueryHandler,
        CommandHandler,
        ContextTypes,
        InlineQueryHandler,
        MessageHandler,
        PreCheckoutQueryHandler,
        filters,
    )

    from botwatch.integrations.telegram_bot import instrument

    Context = ContextTypes.DEFAULT_TYPE
    server = BotAPI()
    app = ApplicationBuilder().token(TOKEN).base_url(f"{server.url}/bot").build()

    async def start(update: Update, context: Context) -> None:
        await update.message.reply_text("Здравствуйте! Это <b>салон</b> &amp; студия", parse_mode="HTML")  # type: ignore[union-attr]

    async def book(update: Update, context: Context) -> None:
        await context.bot.send_message(ADMIN, f"Запись от {update.effective_chat.id}")  # type: ignore[union-attr]
        await update.message.reply_text("Выберите время")  # type: ignore[union-attr]

    async def voice(update: Update, context: Context) -> None:
        message = update.message
        assert message is not None
        await message.reply_voice(OGG, duration=2, caption=message.caption, filename="reply.ogg")

    async def photo(update: Update, context: Context) -> None:
        await update.message.reply_photo(PICTURE, caption="<i>Наши работы</i>", parse_mode="HTML", filename="work.png")  # type: ignore[union-attr]

    async def broken(update: Update, context: Context) -> None:
        raise RuntimeError("CRM is down")

    async def nothing(update: Update, context: Context) -> None:
        pass

    async def echo(update: Update, context: Context) -> None:
        await update.message.reply_text(f"Вы написали: {update.message.text}")  # type: ignore[union-attr]

    async def edited(update: Update, context: Context) -> None:
        await update.edited_message.reply_text("Исправлено")  # type: ignore[union-attr]

    async def chosen(update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer()
        await context.bot.send_message(query.message.chat.id, f"Записал на {query.data}")

    async def search(update: Update, context: Context) -> None:
        await update.inline_query.answer([], cache_time=1)  # type: ignore[union-attr]

    async def checkout(update: Update, context: Context) -> None:
        await update.pre_checkout_query.answer(ok=True)  # type: ignore[union-attr]

    async def apologise(update: object, context: Context) -> None:
        assert isinstance(update, Update) and update.effective_message is not None
        await update.effective_message.reply_text("Извините, попробуйте ещё раз")

    messages = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("book", book))
    app.add_handler(MessageHandler(filters.VOICE, voice))
    app.add_handler(MessageHandler(filters.PHOTO | filters.Text(["Пришлите фото работ"]), photo))
    app.add_handler(MessageHandler(filters.Text(["ошибка"]), broken))
    app.add_handler(MessageHandler(filters.Chat(ADMIN), nothing))
    app.add_handler(MessageHandler(filters.TEXT & messages, echo))
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, edited))
    app.add_handler(CallbackQueryHandler(chosen))
    app.add_handler(InlineQueryHandler(search))
    app.add_handler(PreCheckoutQueryHandler(checkout))
    app.add_error_handler(apologise)
    if traced:
        instrument(app)
    await app.initialize()
    try:
        for update in script():
            await app.process_update(Update.de_json(update, app.bot))
    finally:
        await app.shutdown()
        server.close()
    return calls(server)


async def test_ptb_bot_makes_the_same_calls_with_and_without_botwatch(bw, receiver):
    pytest.importorskip("telegram")
    plain = await run_ptb(traced=False)
    traced = await run_ptb(traced=True)
    botwatch.flush()
    assert len(plain) >= 30 and traced == plain
    assert len([s for s in receiver.spans() if s["name"] == semconv.SPAN_TURN]) == 30
