"""aiogram 3: every incoming message a turn, every ``answer()``/``send_message()`` its reply.

::

    from botwatch.integrations.aiogram import instrument
    instrument(dp, bot)

``instrument`` adds an outer middleware on the dispatcher's updates (opens the
turn in the chat's current episode), an inner middleware on every event
observer (records which handler ran) and a request middleware on each bot's
session (outgoing messages become the turn's reply or ``message.send`` spans).
Bots not passed are instrumented on their first update.  Handler errors pass
through the turn, which becomes an error span, before aiogram's error
handlers see them.

The episode ledger defaults to the dispatcher's FSM storage (``destiny=
"botwatch"``, one small record per chat): with a shared storage (Redis,
Mongo) a replica or a restarted process continues an episode without
emitting a second root.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from botwatch.integrations import CHANNEL_TELEGRAM, ChatTracer, Entry, Episodes, active_turn

__all__ = ["TURN_KEY", "StorageEpisodes", "instrument"]

TURN_KEY = "botwatch_turn"  # handlers may take ``botwatch_turn: botwatch.Turn``
_DESTINY = "botwatch"
_LOCK_STRIPES = 64
_NOT_MESSAGES = frozenset({"sendChatAction"})
_MESSAGE_EDITS = frozenset({"editMessageText", "editMessageCaption", "copyMessage", "forwardMessage"})


class StorageEpisodes:
    """Episodes recorded in aiogram's FSM storage, shared by every process using that storage."""

    def __init__(self, storage: BaseStorage) -> None:
        self._storage = storage
        # Read-modify-write per chat: serialised in this process; across processes two
        # messages of one chat in the same millisecond may both claim the root.
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]

    async def enter(self, chat_id: int | str, episode: str, *, turn: bool) -> Entry:
        chat = int(chat_id) if isinstance(chat_id, int) or str(chat_id).lstrip("-").isdigit() else 0
        key = StorageKey(bot_id=0, chat_id=chat, user_id=chat, destiny=_DESTINY)
        async with self._locks[hash(chat_id) % _LOCK_STRIPES]:
            data = await self._storage.get_data(key)
            starts = data.get("episode") != episode
            turns = (0 if starts else int(data.get("turns", 0))) + (1 if turn else 0)
            if starts or turn:
                await self._storage.set_data(key, {"episode": episode, "turns": turns})
        return Entry(starts, turns if turn else 0)


def _incoming(update: Update) -> tuple[int, str | None] | None:
    """(chat id, text) of an update that is a client's message, else None."""
    event = update.event
    if isinstance(event, Message):
        return event.chat.id, event.text or event.caption
    if isinstance(event, CallbackQuery) and event.message is not None:
        return event.message.chat.id, event.data
    return None


class _UpdateMiddleware(BaseMiddleware):
    def __init__(self, tracer: ChatTracer, sessions: _Sessions) -> None:
        self._tracer = tracer
        self._sessions = sessions

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        bot = data.get("bot")
        if bot is not None:
            self._sessions.add(bot)
        incoming = _incoming(event) if isinstance(event, Update) else None
        if incoming is None:
            return await handler(event, data)
        chat_id, text = incoming
        async with self._tracer.turn(chat_id, text) as active:
            data[TURN_KEY] = active.turn
            return await handler(event, data)


class _HandlerMiddleware(BaseMiddleware):
    """Inner middleware: by now aiogram has picked the handler whose filters passed."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        active = active_turn()
        chosen = data.get("handler")
        if active is not None and chosen is not None:
            active.handled_by(chosen.callback)
        return await handler(event, data)


class _RequestMiddleware(BaseRequestMiddleware):
    def __init__(self, tracer: ChatTracer) -> None:
        self._tracer = tracer
        # aiogram parametrises ``Response[T]`` on every call; pydantic caches that class only
        # weakly, and the long-lived objects telemetry keeps a moment (queued spans) make full GC
        # runs evict it: ~10 ms to rebuild.  One strong reference per result type keeps it cached.
        self._pinned: dict[Any, Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        returning = method.__returning__
        if returning not in self._pinned:
            self._pinned[returning] = Response[returning]  # type: ignore[valid-type]
        chat_id = getattr(method, "chat_id", None)
        is_message = (name.startswith("send") and name not in _NOT_MESSAGES) or name in _MESSAGE_EDITS
        if chat_id is None or not is_message or isinstance(chat_id, str):
            return await make_request(bot, method)
        text = getattr(method, "text", None) or getattr(method, "caption", None)
        return await self._tracer.send(
            chat_id, text if isinstance(text, str) else None, lambda: make_request(bot, method)
        )


class _Sessions:
    """Bots whose session carries the request middleware (each once)."""

    def __init__(self, middleware: _RequestMiddleware) -> None:
        self._middleware = middleware
        self._seen: set[int] = set()

    def add(self, bot: Bot) -> None:
        session = bot.session
        if id(session) in self._seen:
            return
        self._seen.add(id(session))
        if self._middleware not in session.middleware:
            session.middleware(self._middleware)


def instrument(
    dispatcher: Dispatcher,
    *bots: Bot,
    window: timedelta = timedelta(days=1),
    episodes: Episodes | None = None,
    channel: str = CHANNEL_TELEGRAM,
) -> ChatTracer:
    """Trace ``dispatcher``'s updates and the messages ``bots`` send; call once, before polling."""
    tracer = ChatTracer(channel=channel, window=window, episodes=episodes or StorageEpisodes(dispatcher.storage))
    sessions = _Sessions(_RequestMiddleware(tracer))
    for bot in bots:
        sessions.add(bot)
    dispatcher.update.outer_middleware(_UpdateMiddleware(tracer, sessions))
    recorder = _HandlerMiddleware()
    for name, observer in dispatcher.observers.items():
        if name not in ("update", "error"):
            observer.middleware(recorder)
    return tracer
