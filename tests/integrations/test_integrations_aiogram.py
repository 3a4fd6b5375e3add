"""aiogram 3 through the real Dispatcher, a local Telegram Bot API server and real OTLP export.

The Bot API is ``telegram_api.BotAPI``; ``update_json`` and the constants shared with the
python-telegram-bot tests and the benchmark are in tests/telegram_support.py.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram_api import TOKEN, BotAPI
from telegram_support import (
    RAW_PHONE,
    assert_concurrent_chats,
    assert_error_turn,
    assert_salon_turns,
    assert_sends_outside_turn,
    trace_of,
    update_json,
)

import botwatch
from botwatch import semconv

# --- aiogram ------------------------------------------------------------------

aiogram = pytest.importorskip("aiogram")
from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.fsm.storage.memory import MemoryStorage  # noqa: E402
from aiogram.types import ErrorEvent, Message, Update  # noqa: E402

from botwatch.integrations.aiogram import instrument  # noqa: E402


@pytest.fixture
async def bot(api: BotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.url))
    bot = Bot(TOKEN, session=session)
    yield bot
    await bot.session.close()


def feed(dp: Dispatcher, bot: Bot, update_id: int, chat_id: int, text: str) -> Any:
    update = Update.model_validate(update_json(update_id, chat_id, text), context={"bot": bot})
    return dp.feed_update(bot, update)


def salon_router() -> Router:
    router = Router()

    @router.message()
    async def book(message: Message, botwatch_turn: botwatch.Turn) -> None:
        botwatch_turn.intent("booking", confidence=0.9)
        with botwatch_turn.llm(model="gpt-4o-mini") as call:
            call.usage(input_tokens=10, output_tokens=5)
        with botwatch_turn.crm("lead.create") as action:
            action.entity_id = "42"
        await message.answer(f"Записал вас. Перезвоним на {RAW_PHONE}")

    return router


async def test_each_update_is_a_turn_in_its_chat_episode(bw, receiver, api, bot):
    dp = Dispatcher()
    dp.include_router(salon_router())
    instrument(dp, bot)
    await feed(dp, bot, 1, 501, f"Хочу на стрижку, мой номер {RAW_PHONE}")
    await feed(dp, bot, 2, 501, "А в субботу можно?")
    await feed(dp, bot, 3, 502, "Сколько стоит маникюр?")
    botwatch.flush()

    assert_salon_turns(receiver, api, lambda handler: handler.endswith("salon_router.<locals>.book"))


async def test_handler_error_is_an_error_turn_and_aiogram_still_sees_it(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()
    seen: list[str] = []

    @router.message()
    async def broken(message: Message) -> None:
        await message.answer("Минутку...")
        raise RuntimeError("CRM is down")

    @router.errors()
    async def on_error(event: ErrorEvent) -> bool:
        seen.append(type(event.exception).__name__)
        return True

    dp.include_router(router)
    instrument(dp, bot)
    await feed(dp, bot, 10, 601, "Запишите меня")
    botwatch.flush()

    assert seen == ["RuntimeError"]
    assert_error_turn(receiver, 601, "broken")


async def test_turn_lasts_from_receipt_to_the_last_reply(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()

    moments: dict[str, int] = {}

    @router.message()
    async def slow(message: Message) -> None:
        moments["handler"] = time.time_ns()
        await asyncio.sleep(0.2)
        await message.answer("Смотрю расписание")
        await asyncio.sleep(0.1)
        moments["last reply sent"] = time.time_ns()
        await message.answer("Свободно в 15:00")
        moments["last reply answered"] = time.time_ns()
        await asyncio.sleep(0.4)  # work after the last reply: the client is not waiting for it
        moments["handler done"] = time.time_ns()

    dp.include_router(router)
    instrument(dp, bot)
    started = time.time_ns()
    await feed(dp, bot, 20, 701, "Когда свободно?")
    botwatch.flush()

    # Bounds from the handler's own clock, not fixed durations: they hold however loaded the machine is.
    (turn,) = [s for s in receiver.spans() if s["name"] == "turn"]
    assert started <= turn["start"] <= moments["handler"]
    assert moments["last reply sent"] <= turn["end"] <= moments["last reply answered"]
    assert turn["end"] < moments["handler done"] - 300_000_000  # not the 0.4 s of work after the last reply
    assert (turn["end"] - turn["start"]) / 1e9 >= 0.3
    replies = [e for e in turn["events"] if e[0] == semconv.EVENT_BOT_REPLIED]
    assert len(replies) == 2


async def test_messages_outside_a_turn_are_sends_in_the_target_chat_episode(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()
    admin_chat = 9000

    @router.message()
    async def notify_admin(message: Message) -> None:
        await message.bot.send_message(admin_chat, "Новая запись")  # type: ignore[union-attr]
        await message.answer("Готово")

    dp.include_router(router)
    instrument(dp, bot)
    await bot.send_message(801, "Напоминаем: завтра в 15:00")  # a reminder, no update
    await feed(dp, bot, 30, 802, "Запишите")
    botwatch.flush()

    assert_sends_outside_turn(receiver, 801, 802, admin_chat)


async def test_concurrent_chats_keep_their_own_traces(bw, receiver, api, bot):
    dp = Dispatcher()
    router = Router()

    @router.message()
    async def answer(message: Message, botwatch_turn: botwatch.Turn) -> None:
        await asyncio.sleep(random.random() * 0.02)
        with botwatch_turn.llm(model="gpt-4o-mini"):
            await asyncio.sleep(random.random() * 0.02)
        await message.answer(f"chat {message.chat.id}")

    dp.include_router(router)
    instrument(dp, bot)
    chats = [1000 + i for i in range(50)]
    updates = [(n, chats[n % 50]) for n in range(200)]
    random.Random(7).shuffle(updates)
    await asyncio.gather(*(feed(dp, bot, n, chat, f"сообщение {n}") for n, chat in updates))
    botwatch.flush()

    assert_concurrent_chats(receiver, chats)


async def test_a_second_process_on_shared_storage_continues_without_a_second_root(
    bw, receiver, api, bot, tmp_path, monkeypatch
):
    storage = MemoryStorage()  # stands for Redis shared by two replicas
    first = Dispatcher(storage=storage)
    first.include_router(salon_router())
    instrument(first, bot)
    await feed(first, bot, 40, 901, "Здравствуйте")
    botwatch.flush()
    # A new process: fresh botwatch state, same secret, same storage.
    botwatch.init(service_name="replica-2", endpoint=receiver.url, secret="test-secret-0123456789")
    second = Dispatcher(storage=storage)
    second.include_router(salon_router())
    instrument(second, bot)
    await feed(second, bot, 41, 901, "Я снова тут")
    botwatch.flush()

    spans = [s for s in receiver.spans() if s["trace_id"] == trace_of(901)]
    assert [s["name"] for s in spans if s["parent_id"] == ""] == ["conversation"]
    turns = sorted((s for s in spans if s["name"] == "turn"), key=lambda s: s["start"])
    assert [t["attributes"][semconv.TURN_INDEX] for t in turns] == [1, 2]
    assert [t["resource"]["service.name"] for t in turns] == ["test-bot", "replica-2"]


def test_importing_botwatch_imports_no_framework():
    code = (
        "import sys, botwatch, botwatch.integrations; "
        "assert not {'aiogram', 'telegram'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
