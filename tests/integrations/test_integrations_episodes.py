"""A python-telegram-bot bot restarted mid-episode, or run as two replicas, continues the episode through Redis.

Each "process" is a fresh ``botwatch.init`` and a fresh Application with the
same token, sharing a real ``redis-server``: one ``conversation`` root, turn
numbers that keep counting, and two bots in one chat still counted apart.
"""

from __future__ import annotations

import asyncio

import pytest
import telegram_updates as tg
from telegram_api import TOKEN, BotAPI
from telegram_support import BOT_ID, OTHER_BOT_ID, OTHER_TOKEN, trace_of, turns

import botwatch
from botwatch import semconv
from botwatch.integrations.redis_episodes import RedisEpisodes

pytest.importorskip("telegram")
from telegram import Update
from telegram.ext import ApplicationBuilder, MessageHandler, filters

from botwatch.integrations.telegram_bot import instrument


async def reply(update: Update, context: object) -> None:
    await update.effective_message.reply_text("Записал")  # type: ignore[union-attr]


async def run_process(server: BotAPI, token: str, url: str, updates: list[dict[str, object]]) -> None:
    app = ApplicationBuilder().token(token).base_url(f"{server.url}/bot").build()
    app.add_handler(MessageHandler(filters.TEXT, reply))
    episodes = RedisEpisodes(url)
    instrument(app, episodes=episodes)
    await app.initialize()
    try:
        for update in updates:
            await app.process_update(Update.de_json(update, app.bot))
    finally:
        await app.shutdown()
        await episodes.close()


async def test_restarts_and_replicas_continue_the_episode_through_redis(bw, receiver, request):
    url = request.getfixturevalue("redis_url")
    salon, clinic = BotAPI(), BotAPI(token=OTHER_TOKEN)
    try:
        await run_process(salon, TOKEN, url, [tg.text(1, 7001, "Здравствуйте")])
        botwatch.flush()
        # A restart: new process state, same secret, same Redis.
        botwatch.init(service_name="restarted", endpoint=receiver.url, secret="test-secret-0123456789")
        await run_process(salon, TOKEN, url, [tg.text(2, 7001, "Я снова тут")])
        # Two replicas at once, and the clinic's bot in the same chat.
        await asyncio.gather(
            run_process(salon, TOKEN, url, [tg.text(3, 7001, "Третье")]),
            run_process(salon, TOKEN, url, [tg.text(4, 7001, "Четвёртое")]),
            run_process(clinic, OTHER_TOKEN, url, [tg.text(5, 7001, "Это клиника?")]),
        )
        botwatch.flush()
    finally:
        salon.close()
        clinic.close()

    spans = receiver.spans()
    roots = [s["trace_id"] for s in spans if s["name"] == semconv.SPAN_CONVERSATION]
    assert sorted(roots) == sorted([trace_of(7001, BOT_ID), trace_of(7001, OTHER_BOT_ID)])
    assert sorted(t["attributes"][semconv.TURN_INDEX] for t in turns(receiver, trace_of(7001, BOT_ID))) == [1, 2, 3, 4]
    assert [t["attributes"][semconv.TURN_INDEX] for t in turns(receiver, trace_of(7001, OTHER_BOT_ID))] == [1]


def test_redis_episodes_rejects_a_keep_shorter_than_a_minute():
    pytest.importorskip("redis")
    from datetime import timedelta

    with pytest.raises(ValueError, match="at least one minute"):
        RedisEpisodes("redis://127.0.0.1:1/0", keep=timedelta(seconds=5))
