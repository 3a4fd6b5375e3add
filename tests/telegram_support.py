"""Telegram bots under test: ids, updates, trace ids and the spans they left; shared by the aiogram and
python-telegram-bot tests and benchmarks/integrations.py. The Bot API itself is ``telegram_api.BotAPI``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

from telegram_api import TOKEN, BotAPI

from botwatch import ids, semconv
from botwatch.integrations import episode_for

SECRET = b"test-secret-0123456789"
SERVER, PRODUCER = 2, 4  # OTLP SpanKind values
STATUS_ERROR = 2
RAW_PHONE = "+7 912 345-67-89"
HANDLER = semconv.HANDLER
BOT_ID = int(TOKEN.split(":")[0])


def update_json(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    person = {"id": chat_id, "is_bot": False, "first_name": "Client"}
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Client"},
        "from": person,
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def episode_of(chat_id: int, bot_id: int = BOT_ID) -> str:
    return episode_for(chat_id, bot_id=bot_id)


def trace_of(chat_id: int, bot_id: int = BOT_ID) -> str:
    return format(ids.trace_id_for(SECRET, episode_of(chat_id, bot_id)), "032x")


def exported_bytes(receiver: Any) -> bytes:
    return b"".join(receiver.raw)


OTHER_TOKEN = "654321:CLINIC-token"
OTHER_BOT_ID = 654321


def serve(token: str = TOKEN) -> Iterator[BotAPI]:
    """A local Bot API server for the bot with ``token``, for one test module."""
    server = BotAPI(token=token)
    yield server
    server.close()


def turns(receiver: Any, trace: str | None = None) -> list[dict[str, Any]]:
    found = [s for s in receiver.spans() if s["name"] == semconv.SPAN_TURN]
    mine = [s for s in found if trace is None or s["trace_id"] == trace]
    return sorted(mine, key=lambda s: s["start"])


def replies(span: dict[str, Any]) -> list[dict[str, Any]]:
    return [attrs for name, attrs in span["events"] if name == semconv.EVENT_BOT_REPLIED]


def logged(handler: Any) -> Any:
    """A decorator as bots write them: functools.wraps around the real handler."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await handler(*args, **kwargs)

    return wrapper
