"""aiogram bots as businesses write them, through the real Dispatcher and the local Bot API server.

One test per case of issue 21: a scene-based bot, two bots talking to one
person, an error handler that replies, an edited message, a voice message,
``instrument()`` called twice (and ``uninstrument()``), and the update kinds
that are not messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import telegram_updates as tg
from telegram_api import TOKEN, BotAPI
from telegram_support import BOT_ID, STATUS_ERROR

import botwatch
from botwatch import semconv

pytest.importorskip("aiogram")
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.fsm.scene import Scene, SceneRegistry, on
from aiogram.types import BufferedInputFile, CallbackQuery, ErrorEvent, InlineQuery, Message, Update
from telegram_support import (
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

from botwatch.integrations.aiogram import instrument, uninstrument


def make_bot(server: BotAPI, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))


@pytest.fixture
async def bot(api: BotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api)
    yield bot
    await bot.session.close()


async def feed(dp: Dispatcher, bot: Bot, update: dict[str, Any]) -> Any:
    return await dp.feed_update(bot, Update.model_validate(update, context={"bot": bot}))


class BookingScene(Scene, state="booking"):
    @on.message.enter()
    async def greet(self, message: Message) -> None:
        await message.answer("На какую услугу записать?")

    @on.message(F.text == "стрижка")
    async def service(self, message: Message) -> None:
        await self.wizard.goto(TimeScene)

    @on.message()
    async def unclear(self, message: Message) -> None:
        await message.answer("Стрижка или маникюр?")


class TimeScene(Scene, state="time"):
    @on.message.enter()
    async def ask_time(self, message: Message) -> None:
        await message.answer("Во сколько вам удобно?")

    @on.message()
    async def book_time(self, message: Message) -> None:
        await message.answer(f"Записал на {message.text}")
        await self.wizard.exit()


async def test_scene_bot_records_the_scene_method_of_each_step(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()
    router.message.register(BookingScene.as_handler(), Command("book"))
    dp.include_router(router)
    SceneRegistry(dp).add(BookingScene, TimeScene)
    instrument(dp, bot)
    for n, text in enumerate(["/book", "что есть?", "стрижка", "15:00"], start=100):
        await feed(dp, bot, tg.text(n, 3001, text))
    botwatch.flush()

    handlers = [
        f"{__name__}.BookingScene.greet",  # the scene's enter handler Scene.as_handler() ran
        f"{__name__}.BookingScene.unclear",
        f"{__name__}.BookingScene.service",
        f"{__name__}.TimeScene.book_time",
    ]
    assert_booking_steps(receiver, 3001, handlers)


async def test_two_bots_and_one_person_are_two_conversations(bw, receiver, api, other_api, bot):
    clinic = make_bot(other_api, OTHER_TOKEN)
    dp = Dispatcher()  # aiogram's multibot pattern: one dispatcher, several bots
    router = Router()

    @router.message()
    async def hello(message: Message) -> None:
        assert message.bot is not None
        await message.answer(f"Здравствуйте, это бот {message.bot.id}")

    dp.include_router(router)
    instrument(dp, bot, clinic)
    try:
        for n in range(4):
            await feed(dp, bot if n % 2 == 0 else clinic, tg.text(200 + n, 3002, f"вопрос {n}"))
    finally:
        await clinic.session.close()
    botwatch.flush()

    assert_two_conversations(receiver, 3002)
    assert len(api.sent()) >= 2 and len(other_api.sent()) == 2  # each bot answered through its own API


async def test_error_handler_reply_is_the_failed_turns_reply(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()

    @router.message()
    async def crm_booking(message: Message) -> None:
        await asyncio.sleep(0.1)
        raise ConnectionError("CRM is down")

    @router.errors()
    async def apologise(event: ErrorEvent) -> bool:
        await asyncio.sleep(0.15)
        assert event.update.message is not None
        await event.update.message.answer("Извините, попробуйте ещё раз через минуту")
        await asyncio.sleep(0.3)  # after the apology: the client no longer waits
        return True

    dp.include_router(router)
    instrument(dp, bot)
    await feed(dp, bot, tg.text(300, 3003, "Запишите на завтра"))
    botwatch.flush()

    assert_apology_turn(receiver, lambda handler: handler.endswith("crm_booking"))


async def test_edited_message_is_marked_and_an_edit_nobody_handles_is_unhandled(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()

    @router.message()
    async def booking(message: Message) -> None:
        await message.answer("Записал на 15:00")

    dp.include_router(router)
    instrument(dp, bot)
    await feed(dp, bot, tg.text(400, 3004, "Запишите на 15:00"))
    await feed(dp, bot, tg.edited(401, 3004, 400, "Запишите на 16:00"))  # no edited_message handler
    router.edited_message.register(booking)
    await feed(dp, bot, tg.edited(402, 3004, 400, "Запишите на 17:00"))
    botwatch.flush()

    assert_edits(receiver, 3004)


async def test_voice_in_and_voice_out_are_recorded_with_kind_size_and_duration(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()
    ogg = b"OggS" + bytes(2_000)

    @router.message(F.voice)
    async def listen(message: Message) -> None:
        await message.answer_voice(BufferedInputFile(ogg, "answer.ogg"), duration=3, caption="Перезвоню")

    dp.include_router(router)
    instrument(dp, bot)
    await feed(dp, bot, tg.voice(500, 3005))
    botwatch.flush()

    assert_voice_turn(receiver, len(ogg))
    (sent,) = [log for log in receiver.logs() if log["event_name"] == semconv.EVENT_BOT_REPLIED]
    assert sent["attributes"][semconv.MEDIA_KIND] == "voice" and sent["body"] == "Перезвоню"
    assert len(api.accepted("sendVoice")) >= 1


async def test_instrument_twice_is_a_no_op_and_uninstrument_restores_the_dispatcher(bw, receiver, api, bot, caplog):
    dp = Dispatcher()
    router = Router()

    @router.message()
    async def booking(message: Message) -> None:
        await message.answer("Записал")

    dp.include_router(router)

    def middlewares() -> list[list[Any]]:
        return [list(dp.update.outer_middleware), *(list(o.middleware) for o in dp.observers.values())]

    before, session_before = middlewares(), list(bot.session.middleware)
    first = instrument(dp, bot)
    once = middlewares()
    with caplog.at_level(logging.DEBUG, logger="botwatch.integrations"):
        assert instrument(dp, bot) is first
    assert middlewares() == once and len(bot.session.middleware) == 1
    assert any("already instrumented" in r.getMessage() for r in caplog.records)
    await feed(dp, bot, tg.text(600, 3006, "Привет"))
    botwatch.flush()
    (turn,) = turns(receiver)
    assert len(replies(turn)) == 1
    assert len([log for log in receiver.logs() if log["event_name"] == semconv.EVENT_BOT_REPLIED]) == 1

    uninstrument(dp)
    uninstrument(dp)  # the second is a no-op too
    assert middlewares() == before and list(bot.session.middleware) == session_before
    receiver.clear()
    await feed(dp, bot, tg.text(601, 3006, "Ещё раз"))
    botwatch.flush()
    assert receiver.spans() == [] and api.sent()[-1]["text"] == "Записал"


async def test_callbacks_inline_queries_member_updates_and_payments_carry_their_kind(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()

    @router.callback_query()
    async def chosen(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.answer(f"Записал на {query.data}")

    @router.inline_query()
    async def search(query: InlineQuery) -> None:
        pass

    @router.my_chat_member()
    async def blocked(update: Any) -> None:
        pass

    dp.include_router(router)
    instrument(dp, bot)
    await feed(dp, bot, tg.callback(700, 3007, "15:00", BOT_ID))
    await feed(dp, bot, tg.inline(701, 3007, "стрижка"))
    await feed(dp, bot, tg.member(702, 3007, BOT_ID, "kicked"))
    await feed(dp, bot, tg.pre_checkout(703, 3007))  # no handler
    botwatch.flush()

    assert_update_kinds(receiver, 3007)


async def test_a_turn_that_fails_after_replying_ends_at_its_reply(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()

    @router.message()
    async def slow_crm(message: Message) -> None:
        await asyncio.sleep(0.1)
        await message.answer("Минутку, проверяю")
        await asyncio.sleep(0.3)
        raise TimeoutError("CRM timed out")  # no error handler: aiogram logs it, the turn fails

    dp.include_router(router)
    instrument(dp, bot)
    with pytest.raises(TimeoutError):
        await feed(dp, bot, tg.text(900, 3009, "Запишите"))
    botwatch.flush()

    (turn,) = turns(receiver)
    assert turn["status"] == STATUS_ERROR and turn["attributes"][semconv.ERROR_TYPE] == "TimeoutError"
    assert 0.1 <= (turn["end"] - turn["start"]) / 1e9 < 0.3


async def test_handler_name_is_the_function_under_decorators_in_nested_routers(bw, receiver, api, bot):
    dp = Dispatcher()
    outer, inner = Router(), Router()

    @inner.message(F.text.startswith("цена"))
    @logged
    async def price(message: Message) -> None:
        await message.answer("2 000 ₽")

    outer.include_router(inner)
    dp.include_router(outer)
    instrument(dp, bot)
    await feed(dp, bot, tg.text(950, 3010, "цена стрижки"))
    botwatch.flush()

    (turn,) = turns(receiver)
    assert turn["attributes"][semconv.HANDLER].endswith("nested_routers.<locals>.price")
