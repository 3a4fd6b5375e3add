"""Per-update overhead of the aiogram and python-telegram-bot integrations, same bot with and without botwatch.

Both bots answer every message through the same local Telegram Bot API
server (a thread on 127.0.0.1); the traced one exports over OTLP/HTTP to an
in-process receiver, as in production.  Rounds alternate plain and traced so
drift hits both; reported: mean time per update (the update fed through the
real dispatcher, reply sent and answered), the difference, the ratio, and
the same with 50 updates in flight at once.

    python benchmarks/integrations.py [--updates 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from otlp_receiver import OTLPReceiver
from telegram_api import TOKEN, BotAPI
from test_integrations_aiogram import update_json

import botwatch

Feed = Callable[[int, int], Awaitable[object]]
CHATS = 100
IN_FLIGHT = 50


async def aiogram_bots(api: BotAPI) -> tuple[Feed, Feed, Callable[[], Awaitable[None]]]:
    from aiogram import Bot, Dispatcher, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message, Update

    from botwatch.integrations.aiogram import instrument

    def make(traced: bool) -> tuple[Dispatcher, Bot]:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        router = Router()

        @router.message()
        async def reply(message: Message) -> None:
            await message.answer("Записал вас на 15:00")

        dp = Dispatcher()
        dp.include_router(router)
        if traced:
            instrument(dp, bot)
        return dp, bot

    (plain_dp, plain_bot), (traced_dp, traced_bot) = make(False), make(True)

    def feeder(dp: Dispatcher, bot: Bot) -> Feed:
        def feed(n: int, chat: int) -> Awaitable[object]:
            return dp.feed_update(
                bot, Update.model_validate(update_json(n, chat, "Хочу записаться"), context={"bot": bot})
            )

        return feed

    async def close() -> None:
        await plain_bot.session.close()
        await traced_bot.session.close()

    return feeder(plain_dp, plain_bot), feeder(traced_dp, traced_bot), close


async def ptb_bots(api: BotAPI) -> tuple[Feed, Feed, Callable[[], Awaitable[None]]]:
    from telegram import Update
    from telegram.ext import Application, ApplicationBuilder, MessageHandler, filters

    from botwatch.integrations.telegram_bot import instrument

    async def reply(update: Update, context: object) -> None:
        await update.effective_message.reply_text("Записал вас на 15:00")  # type: ignore[union-attr]

    async def make(traced: bool) -> Application:  # type: ignore[type-arg]
        app = ApplicationBuilder().token(TOKEN).base_url(f"{api.url}/bot").build()
        app.add_handler(MessageHandler(filters.ALL, reply))
        if traced:
            instrument(app)
        await app.initialize()
        return app

    plain, traced = await make(False), await make(True)

    def feeder(app: Application) -> Feed:  # type: ignore[type-arg]
        def feed(n: int, chat: int) -> Awaitable[object]:
            return app.process_update(Update.de_json(update_json(n, chat, "Хочу записаться"), app.bot))

        return feed

    async def close() -> None:
        await plain.shutdown()
        await traced.shutdown()

    return feeder(plain), feeder(traced), close


async def sequential(feed: Feed, start: int, count: int) -> float:
    began = time.perf_counter()
    for n in range(start, start + count):
        await feed(n, 10_000 + n % CHATS)
    return (time.perf_counter() - began) / count


async def concurrent(feed: Feed, start: int, count: int) -> float:
    began = time.perf_counter()
    for batch in range(start, start + count, IN_FLIGHT):
        await asyncio.gather(
            *(feed(n, 10_000 + n % CHATS) for n in range(batch, min(batch + IN_FLIGHT, start + count)))
        )
    return (time.perf_counter() - began) / count


async def measure(name: str, plain: Feed, traced: Feed, updates: int, rounds: int) -> None:
    for mode in (sequential, concurrent):
        await mode(plain, 0, 100)  # warm up connections, pydantic, caches
        await mode(traced, 0, 100)
        times: dict[str, list[float]] = {"plain": [], "traced": []}
        n = 1_000
        for _ in range(rounds):
            for label, feed in (("plain", plain), ("traced", traced)):
                times[label].append(await mode(feed, n, updates))
                n += updates
            botwatch.flush()  # export outside the timed windows' ends, as the background thread would anyway
        base, with_bw = statistics.median(times["plain"]), statistics.median(times["traced"])
        print(
            f"{name:<8} {mode.__name__:<10} without botwatch {base * 1e6:8.0f} µs/update   "
            f"with {with_bw * 1e6:8.0f} µs/update   added {(with_bw - base) * 1e6:7.0f} µs   "
            f"ratio {with_bw / base:5.2f}x"
        )


async def main(updates: int, rounds: int) -> None:
    receiver = OTLPReceiver()
    api = BotAPI()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BOTWATCH_SECRET_FILE"] = str(Path(tmp) / "secret")
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        botwatch.init(service_name="bench", endpoint=receiver.url, secret="bench", capture_loguru=False)
        print(f"{updates} updates × {rounds} rounds per bot, {CHATS} chats, local Bot API at {api.url}")
        for name, factory in (("aiogram", aiogram_bots), ("ptb", ptb_bots)):
            plain, traced, close = await factory(api)
            try:
                await measure(name, plain, traced, updates, rounds)
            finally:
                await close()
        botwatch.shutdown()
    spans = len(receiver.spans())
    api.close()
    receiver.close()
    print(f"exported {spans} spans")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.updates, args.rounds))
