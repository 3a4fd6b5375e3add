"""Per-update overhead of the aiogram and python-telegram-bot integrations, same bot with and without botwatch.

Both bots answer every message through the same local Telegram Bot API
server (a thread on 127.0.0.1); the traced one exports over OTLP/HTTP to an
in-process receiver, as in production.  Rounds alternate plain and traced so
drift hits both; reported: mean time per update (the update fed through the
real dispatcher, reply sent and answered), the difference, the ratio, the
bot thread's CPU per update (robust on a busy machine), and the same with 50
updates in flight at once.

``--before REV`` adds a third bot instrumented by the integration code of an
earlier commit (its ``botwatch/integrations`` package, loaded beside today's
under another name, on today's SDK), in the same rounds: the "before/after"
of a change to the integrations, free of the machine's drift between runs.

    python benchmarks/integrations.py [--updates 1000] [--rounds 5] [--before 62656ff~1]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from otlp_receiver import OTLPReceiver
from telegram_api import TOKEN, BotAPI
from telegram_support import update_json

import botwatch

ROOT = Path(__file__).resolve().parents[1]
Feed = Callable[[int, int], Awaitable[object]]
Instrument = Callable[..., object] | None
CHATS = 100
IN_FLIGHT = 50
_PACKAGE = "src/botwatch/integrations"
_BEFORE = "botwatch_integrations_before"


def load_before(rev: str, into: Path) -> ModuleType:
    """The integrations package as it was at ``rev``, importable as ``botwatch_integrations_before``."""
    package = into / _BEFORE
    package.mkdir()
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, f"{_PACKAGE}/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in names:
        if not name.endswith(".py"):
            continue
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{name}"], check=True, capture_output=True, text=True
        ).stdout
        (package / Path(name).name).write_text(source.replace("botwatch.integrations", _BEFORE))
    sys.path.insert(0, str(into))
    return importlib.import_module(_BEFORE)


async def aiogram_bots(api: BotAPI, variants: dict[str, Instrument]) -> tuple[dict[str, Feed], Callable[[], Any]]:
    from aiogram import Bot, Dispatcher, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message, Update

    feeds: dict[str, Feed] = {}
    bots: list[Bot] = []
    for label, instrument in variants.items():
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        router = Router()

        @router.message()
        async def reply(message: Message) -> None:
            await message.answer("Записал вас на 15:00")

        dp = Dispatcher()
        dp.include_router(router)
        if instrument is not None:
            instrument(dp, bot)

        def feed(n: int, chat: int, dp: Dispatcher = dp, bot: Bot = bot) -> Awaitable[object]:
            update = Update.model_validate(update_json(n, chat, "Хочу записаться"), context={"bot": bot})
            return dp.feed_update(bot, update)

        feeds[label] = feed
        bots.append(bot)

    async def close() -> None:
        for bot in bots:
            await bot.session.close()

    return feeds, close


async def ptb_bots(api: BotAPI, variants: dict[str, Instrument]) -> tuple[dict[str, Feed], Callable[[], Any]]:
    from telegram import Update
    from telegram.ext import Application, ApplicationBuilder, MessageHandler, filters

    async def reply(update: Update, context: object) -> None:
        await update.effective_message.reply_text("Записал вас на 15:00")  # type: ignore[union-attr]

    feeds: dict[str, Feed] = {}
    apps: list[Application] = []  # type: ignore[type-arg]
    for label, instrument in variants.items():
        app = ApplicationBuilder().token(TOKEN).base_url(f"{api.url}/bot").build()
        app.add_handler(MessageHandler(filters.ALL, reply))
        if instrument is not None:
            instrument(app)
        await app.initialize()

        def feed(n: int, chat: int, app: Application = app) -> Awaitable[object]:  # type: ignore[type-arg]
            return app.process_update(Update.de_json(update_json(n, chat, "Хочу записаться"), app.bot))

        feeds[label] = feed
        apps.append(app)

    async def close() -> None:
        for app in apps:
            await app.shutdown()

    return feeds, close


Timing = tuple[float, float]  # (wall seconds, the bot thread's CPU seconds) per update


async def sequential(feed: Feed, start: int, count: int) -> Timing:
    began, cpu = time.perf_counter(), time.thread_time()
    for n in range(start, start + count):
        await feed(n, 10_000 + n % CHATS)
    return (time.perf_counter() - began) / count, (time.thread_time() - cpu) / count


async def concurrent(feed: Feed, start: int, count: int) -> Timing:
    began, cpu = time.perf_counter(), time.thread_time()
    for batch in range(start, start + count, IN_FLIGHT):
        await asyncio.gather(
            *(feed(n, 10_000 + n % CHATS) for n in range(batch, min(batch + IN_FLIGHT, start + count)))
        )
    return (time.perf_counter() - began) / count, (time.thread_time() - cpu) / count


async def measure(name: str, feeds: dict[str, Feed], updates: int, rounds: int) -> None:
    """Medians per variant: wall time per update, and the bot thread's CPU per update.

    The thread's CPU leaves out the Bot API server's and the exporter's threads and the
    time spent waiting for a core, so it holds on a busy machine where wall time drifts.
    """
    for mode in (sequential, concurrent):
        for feed in feeds.values():
            await mode(feed, 0, 100)  # warm up connections, pydantic, caches
        times: dict[str, list[Timing]] = {label: [] for label in feeds}
        n = 1_000
        for _ in range(rounds):
            for label, feed in feeds.items():
                times[label].append(await mode(feed, n, updates))
                n += updates
            botwatch.flush()  # export outside the timed windows' ends, as the background thread would anyway
        wall = {label: statistics.median(t[0] for t in runs) for label, runs in times.items()}
        cpu = {label: statistics.median(t[1] for t in runs) for label, runs in times.items()}
        for label in feeds:
            if label == "plain":
                continue
            print(
                f"{name:<8} {mode.__name__:<10} {label:<7} without botwatch {wall['plain'] * 1e6:6.0f} µs/update   "
                f"with {wall[label] * 1e6:6.0f}   added {(wall[label] - wall['plain']) * 1e6:6.0f} µs   "
                f"ratio {wall[label] / wall['plain']:5.2f}x   bot thread CPU {cpu['plain'] * 1e6:5.0f} → "
                f"{cpu[label] * 1e6:5.0f} µs ({cpu[label] / cpu['plain']:4.2f}x)"
            )
        if "before" in times:
            print(
                f"{name:<8} {mode.__name__:<10} after/before: wall {wall['traced'] / wall['before']:4.2f}x   "
                f"bot thread CPU {cpu['traced'] / cpu['before']:4.2f}x   added CPU "
                f"{(cpu['before'] - cpu['plain']) * 1e6:.0f} → {(cpu['traced'] - cpu['plain']) * 1e6:.0f} µs"
            )


async def main(updates: int, rounds: int, before_rev: str | None) -> None:
    receiver = OTLPReceiver()
    api = BotAPI()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BOTWATCH_SECRET_FILE"] = str(Path(tmp) / "secret")
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        botwatch.init(
            service_name="bench", endpoint=receiver.url, secret="bench-secret-0123456789", capture_loguru=False
        )
        before = load_before(before_rev, Path(tmp)) if before_rev else None
        print(f"{updates} updates × {rounds} rounds per bot, {CHATS} chats, local Bot API at {api.url}")
        for name, factory in (("aiogram", aiogram_bots), ("ptb", ptb_bots)):
            module = "aiogram" if name == "aiogram" else "telegram_bot"
            variants: dict[str, Instrument] = {
                "plain": None,
                "traced": importlib.import_module(f"botwatch.integrations.{module}").instrument,
            }
            if before is not None:
                variants["before"] = importlib.import_module(f"{_BEFORE}.{module}").instrument
            feeds, close = await factory(api, variants)
            try:
                await measure(name, feeds, updates, rounds)
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
    parser.add_argument("--before", metavar="REV", help="also measure the integrations as they were at this commit")
    args = parser.parse_args()
    asyncio.run(main(args.updates, args.rounds, args.before))
