"""Secrets logged by other libraries never leave the bot: Bitrix24 webhook tokens and Telegram bot tokens.

Each bot is a separate process configured as most bots are
(``logging.basicConfig(level=logging.INFO)``, ``botwatch.init(...,
capture_logging=True)``), talking to the local Bitrix24 portal or the local
Telegram Bot API.  httpx logs every request URL at INFO, token included;
the test reads every byte of the journal (with its WAL) and every byte the
OTLP receiver got, and the bot's console for botwatch's own client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bitrix24_api import TOKEN as WEBHOOK_TOKEN
from bitrix24_api import FakePortal
from telegram_api import BotAPI

BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BOT_SECRET = BOT_TOKEN.split(":", 1)[1]

# What most bots do: INFO logging to the console; botwatch capturing it, into the journal or over OTLP (last argument).
SETUP = """
import asyncio, logging, sys
import botwatch

logging.basicConfig(level=logging.INFO)
where = sys.argv[-1]
options = {"endpoint": where} if where.startswith("http") else {"journal": where}
botwatch.init(service_name="salon-bot", capture_logging=True, **options)
"""

BITRIX_BOT = (
    SETUP
    + """
from botwatch.crm.bitrix24 import Bitrix24

async def main():
    client = Bitrix24(sys.argv[1])
    async with botwatch.conversation("sess_secret", channel="whatsapp") as conv:
        async with conv.turn("Хочу записаться") as turn:
            result = await client.create_lead(turn, conversation_id=conv.id, phone="+79123456789", name="Иван")
            turn.reply("Записал")
    await client.aclose()
    print("lead", result.lead_id, result.error, flush=True)

asyncio.run(main())
botwatch.shutdown()
"""
)

PTB_BOT = (
    SETUP
    + """
from telegram.ext import ApplicationBuilder

async def main():
    application = ApplicationBuilder().token(sys.argv[1]).base_url(sys.argv[2] + "/bot").build()
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0.1, timeout=0)
        await asyncio.sleep(1.5)
        await application.updater.stop()
        await application.stop()

asyncio.run(main())
botwatch.shutdown()
"""
)


def run_bot(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bot.py"
    path.write_text(textwrap.dedent(script))
    env = {**os.environ, "BOTWATCH_SECRET_FILE": str(tmp_path / "secret"), "BOTWATCH_SECRET": "s" * 32}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    done = subprocess.run(
        [sys.executable, str(path), *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def journal_bytes(path: Path) -> bytes:
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert files, "no journal written"
    return b"".join(p.read_bytes() for p in files)


@pytest.fixture
def portal():
    server = FakePortal()
    yield server
    server.close()


@pytest.mark.parametrize("into", ["journal", "otlp"])
def test_the_bitrix24_webhook_token_is_nowhere(portal, receiver, tmp_path, into):
    receiver.clear()
    journal = tmp_path / "journal.sqlite"
    done = run_bot(BITRIX_BOT, tmp_path, portal.url, receiver.url if into == "otlp" else str(journal))
    assert "lead 100 None" in done.stdout, done.stdout + done.stderr[-2000:]
    assert portal.methods() == ["crm.duplicate.findbycomm", "crm.lead.add"]
    exported = b"".join(receiver.raw) if into == "otlp" else journal_bytes(journal)
    # httpx's own line was captured and exported, with the token masked.
    assert b"crm.lead.add.json" in exported and b"/rest/1/***/" in exported
    assert WEBHOOK_TOKEN.encode() not in exported
    # botwatch's own client never logs the full URL, whatever handler the bot has (here: the console).
    assert "HTTP Request: POST" in done.stderr and "/rest/1/***/crm.lead.add.json" in done.stderr
    assert WEBHOOK_TOKEN not in done.stderr + done.stdout


@pytest.mark.parametrize("into", ["journal", "otlp"])
def test_a_telegram_bot_token_logged_by_python_telegram_bot_is_nowhere(receiver, tmp_path, into):
    api = BotAPI(token=BOT_TOKEN)
    try:
        receiver.clear()
        journal = tmp_path / "journal.sqlite"
        run_bot(PTB_BOT, tmp_path, BOT_TOKEN, api.url, receiver.url if into == "otlp" else str(journal))
    finally:
        api.close()
    assert len(api.accepted("getUpdates")) >= 2, "the bot did not poll"
    exported = b"".join(receiver.raw) if into == "otlp" else journal_bytes(journal)
    assert b"getUpdates" in exported, "httpx's request lines were not captured"
    assert BOT_SECRET.encode() not in exported and BOT_SECRET[:12].encode() not in exported
