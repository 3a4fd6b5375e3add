"""What the owner sees of a Telegram bot's media, markup, edits and admin chats: replay and KPIs from the journal.

A real aiogram bot writes into the embedded journal through the SDK; the
test reads it back with ``Journal.replay`` / ``format_replay`` and
``Journal.kpi``, as ``botwatch replay`` and ``botwatch kpi`` do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import telegram_updates as tg
from telegram_api import TOKEN, BotAPI
from telegram_support import BOT_ID, episode_of

import botwatch
from botwatch import semconv
from botwatch.integrations import ChatTracer, episode_for
from botwatch.journal import Journal, format_replay
from botwatch.journal.replay import media_line, plain_text

pytest.importorskip("aiogram")
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BufferedInputFile, Message, Update

from botwatch.integrations.aiogram import instrument

ADMIN_CHAT = -100_777


@pytest.fixture
def journal_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp_path / "secret"))
    path = tmp_path / "journal.sqlite"
    botwatch.init(service_name="salon-bot", journal=path, secret="test-secret-0123456789")
    yield path
    botwatch.shutdown()


@pytest.fixture
async def bot(api: BotAPI) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
    yield bot
    await bot.session.close()


async def feed(dp: Dispatcher, bot: Bot, update: dict[str, Any]) -> Any:
    return await dp.feed_update(bot, Update.model_validate(update, context={"bot": bot}))


def salon() -> Router:
    router = Router()

    @router.message(F.voice)
    async def voice(message: Message) -> None:
        await message.answer("*Записал* вас на _15:00_", parse_mode=ParseMode.MARKDOWN)

    @router.message(F.photo)
    async def photo(message: Message) -> None:
        picture = BufferedInputFile(b"\x89PNG" + bytes(500), "look.png")
        await message.answer_photo(picture, caption="<b>Ваш образ</b> &amp; цена: 2 000 ₽", parse_mode="HTML")

    @router.message(F.text)
    async def text(message: Message) -> None:
        assert message.bot is not None
        await message.bot.send_message(ADMIN_CHAT, "Новая запись")
        await message.answer("Готово")

    return router


async def test_replay_shows_media_lines_and_plain_text_of_markup(journal_path, api, bot):
    dp = Dispatcher()
    dp.include_router(salon())
    instrument(dp, bot)
    await feed(dp, bot, tg.voice(1, 5001))
    await feed(dp, bot, tg.photo(2, 5001))
    await feed(dp, bot, tg.edited(3, 5001, 2, "подправил"))  # no handler for edits
    botwatch.flush()

    with Journal(journal_path) as journal:
        transcript = format_replay(journal.replay(episode_of(5001)))
    lines = transcript.splitlines()
    client = [line for line in lines if " client " in line]
    bot_lines = [line for line in lines if " bot " in line]
    assert "«🎤 голосовое 0:07»" in client[0]
    assert "«🖼 фото»" in client[1]
    assert "«✏️ изменено · подправил»" in client[2]
    assert "«Записал вас на 15:00»" in bot_lines[0]
    assert "«🖼 фото · Ваш образ & цена: 2 000 ₽»" in bot_lines[1]
    assert "(content not captured)" not in transcript and "<b>" not in transcript and "*" not in transcript


async def test_kpi_leaves_out_unhandled_updates_and_non_client_chats(journal_path, api, bot):
    dp = Dispatcher()
    dp.include_router(salon())
    instrument(dp, bot, non_client_chats=[ADMIN_CHAT])
    await feed(dp, bot, tg.text(10, 5002, "Хочу записаться"))  # also notifies the admin chat
    await feed(dp, bot, tg.text(11, ADMIN_CHAT, "Принято"))  # the owner in the admin group
    await feed(dp, bot, tg.edited(12, 5002, 10, "Хочу записаться на завтра"))  # nobody handles edits
    botwatch.flush()

    with Journal(journal_path) as journal:
        kpi = journal.kpi(timedelta(hours=1))
        admin = [e for e in journal.replay(episode_of(ADMIN_CHAT)) if e.kind.value in ("client", "bot")]
    assert kpi.conversations == 1  # the client's; not the admin group's
    assert kpi.turns == 1  # the client's message; not the owner's, not the unhandled edit
    assert [e.text for e in admin] == ["Новая запись", "Принято", "Новая запись", "Готово"]  # still recorded


def test_episode_day_begins_at_midnight_in_the_business_time_zone(bw, monkeypatch):
    before = datetime(2026, 12, 6, 20, 59, tzinfo=UTC)  # 23:59 in Moscow
    after = datetime(2026, 12, 6, 21, 1, tzinfo=UTC)  # 00:01 in Moscow, still 6 December in UTC
    moscow = [episode_for(5003, bot_id=BOT_ID, at=moment) for moment in (before, after)]
    utc = [episode_for(5003, bot_id=BOT_ID, timezone="UTC", at=moment) for moment in (before, after)]
    assert moscow[0] != moscow[1] and moscow[0].endswith("20261206T0000") and moscow[1].endswith("20261207T0000")
    assert utc[0] == utc[1]
    monkeypatch.setenv("BOTWATCH_TIMEZONE", "Asia/Yekaterinburg")  # UTC+5: the day turns at 19:00 UTC
    assert episode_for(5003, bot_id=BOT_ID, at=before).endswith("20261207T0000")
    assert ChatTracer().episode(5003, BOT_ID) == episode_for(5003, bot_id=BOT_ID)
    monkeypatch.setenv("BOTWATCH_TIMEZONE", "Moscow")
    with pytest.raises(ValueError, match="BOTWATCH_TIMEZONE='Moscow': expected an IANA time zone"):
        ChatTracer()
    with pytest.raises(ValueError, match="non_client_chats: not Telegram chat ids: 'admins'"):
        ChatTracer(timezone="UTC", non_client=[-100, "admins"])


def test_media_line_and_markup_rendering():
    assert media_line({semconv.MEDIA_KIND: "voice", semconv.MEDIA_DURATION: 67}) == "🎤 голосовое 1:07"
    assert media_line({semconv.MEDIA_KIND: "video_note", semconv.MEDIA_DURATION: 9}) == "📹 видеосообщение 0:09"
    assert media_line({semconv.MEDIA_KIND: "paid_media"}) == "📎 paid_media"
    assert media_line({}) == ""
    assert plain_text("<b>Итого</b>: 1 &lt; 2", "html") == "Итого: 1 < 2"
    assert plain_text("*жирный* _курсив_ [сайт](https://example.ru)", "markdown") == "жирный курсив сайт"
    assert plain_text("||спойлер|| \\- 5\\.0", "markdownv2") == "спойлер - 5.0"
    masked = "Перезвоним на +7 *** ***-67-89, *спасибо*"
    assert plain_text(masked, "markdown") == "Перезвоним на +7 *** ***-67-89, спасибо"
    assert plain_text("<b>как есть</b>", None) == "<b>как есть</b>"
