"""aiogram 3: every incoming update a turn, every ``answer()``/``send_message()`` its reply.

::

    from botwatch.integrations.aiogram import instrument
    instrument(dp, bot)

``instrument`` puts an outer middleware first on the dispatcher's updates, so
the turn encloses aiogram's ``ErrorsMiddleware`` and an error handler's
apology is the failed turn's reply; an inner middleware on every event
observer records the function that finally ran (through scenes, routers,
filters and ``functools.wraps`` wrappers) and a handler's error; a request
middleware on each bot's session makes outgoing messages the turn's reply or
``message.send`` spans.  Bots not passed are instrumented on their first
update.  A second ``instrument()`` of the same dispatcher changes nothing;
``uninstrument(dp)`` takes every middleware out again.

The episode ledger defaults to the dispatcher's FSM storage (``destiny=
"botwatch"``, one small record per bot and chat): with a shared storage
(Redis, Mongo) a replica or a restarted process continues an episode without
emitting a second root.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import Default
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import UNHANDLED, CancelHandler, SkipHandler
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.fsm.scene import Scene, SceneAction, SceneHandlerWrapper
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiogram.types import CallbackQuery, InlineQuery, Message, TelegramObject, Update
from aiogram.types.update import UpdateTypeLookupError

from botwatch import semconv
from botwatch.integrations import CHANNEL_TELEGRAM, ChatTracer, Entry, Episodes, active_turn, log, media, unwrap

__all__ = ["TURN_KEY", "StorageEpisodes", "instrument", "uninstrument"]

TURN_KEY = "botwatch_turn"  # handlers may take ``botwatch_turn: botwatch.Turn``
_DESTINY = "botwatch"
_LOCK_STRIPES = 64
_NOT_MESSAGES = frozenset({"sendChatAction"})
_MESSAGE_EDITS = frozenset({"editMessageText", "editMessageCaption", "copyMessage", "forwardMessage"})
_NOT_CLIENTS = frozenset({"channel_post", "edited_channel_post", "poll"})  # no client wrote these


class StorageEpisodes:
    """Episodes recorded in aiogram's FSM storage, shared by every process using that storage."""

    def __init__(self, storage: BaseStorage) -> None:
        self._storage = storage
        # Read-modify-write per chat: serialised in this process; across processes two
        # messages of one chat in the same millisecond may both claim the root.
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]

    async def enter(self, chat_id: int | str, episode: str, *, turn: bool) -> Entry:
        bot, _, chat = str(chat_id).rpartition(":")  # "<bot id>:<chat id>"
        chat_number = int(chat) if chat.lstrip("-").isdigit() else 0
        bot_number = int(bot) if bot.isdigit() else 0
        key = StorageKey(bot_id=bot_number, chat_id=chat_number, user_id=chat_number, destiny=_DESTINY)
        async with self._locks[hash(chat_id) % _LOCK_STRIPES]:
            data = await self._storage.get_data(key)
            starts = data.get("episode") != episode
            turns = (0 if starts else int(data.get("turns", 0))) + (1 if turn else 0)
            if starts or turn:
                await self._storage.set_data(key, {"episode": episode, "turns": turns})
        return Entry(starts, turns if turn else 0)


@dataclass(frozen=True)
class _Incoming:
    chat_id: int
    text: str | None
    kind: str
    media: Mapping[str, Any]


def _incoming(update: Update) -> _Incoming | None:
    """The chat, text, kind and media of an update a client sent, else None."""
    try:
        kind = update.event_type
    except UpdateTypeLookupError:  # an update type this aiogram does not know
        return None
    if kind in _NOT_CLIENTS:
        return None
    message = update.message
    if message is not None:  # the common case, without building aiogram's EventContext
        return _Incoming(message.chat.id, message.text or message.caption, kind, media.of_message(message))
    context = UserContextMiddleware.resolve_event_context(update)
    chat_id = context.chat_id if context.chat_id is not None else context.user_id
    if chat_id is None:
        return None
    event = update.event
    if isinstance(event, Message):
        return _Incoming(chat_id, event.text or event.caption, kind, media.of_message(event))
    if isinstance(event, CallbackQuery):
        return _Incoming(chat_id, event.data, kind, {})
    if isinstance(event, InlineQuery):
        return _Incoming(chat_id, event.query, kind, {})
    return _Incoming(chat_id, None, kind, {})


@functools.lru_cache(maxsize=1024)
def _finally_called(callback: Any, update_type: str) -> Any:
    """The function aiogram ends up calling for ``callback``: the scene method, not the scene's wrapper."""
    if isinstance(callback, SceneHandlerWrapper):
        return unwrap(callback.handler.callback)
    function = unwrap(callback)
    if getattr(function, "__name__", "") == "enter_to_scene_handler":  # Scene.as_handler(): enters the scene
        scene = inspect.getclosurevars(function).nonlocals.get("cls")
        if isinstance(scene, type) and issubclass(scene, Scene):
            action = scene.__scene_config__.actions.get(SceneAction.enter, {}).get(update_type)
            return unwrap(action.callback) if action is not None else scene
    return function


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
        if isinstance(bot, Bot):
            self._sessions.add(bot)
        incoming = _incoming(event) if isinstance(event, Update) else None
        if incoming is None:
            return await handler(event, data)
        bot_id = bot.id if isinstance(bot, Bot) else None
        async with self._tracer.turn(
            incoming.chat_id, incoming.text, bot_id=bot_id, kind=incoming.kind, media=incoming.media
        ) as active:
            data[TURN_KEY] = active.turn
            response = await handler(event, data)
            if response is UNHANDLED and not active.handled:
                active.unhandled()
            if active.error is not None:  # an error handler took it: still a failed turn
                active.failed(active.error)
            return response


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
        if active is None or chosen is None:
            return await handler(event, data)
        update = data.get("event_update")
        update_type = update.event_type if isinstance(update, Update) else ""
        try:
            called = _finally_called(chosen.callback, update_type)
        except TypeError:  # an unhashable callable object
            called = unwrap(chosen.callback)
        active.handled_by(called)
        try:
            return await handler(event, data)
        except (SkipHandler, CancelHandler):
            raise
        except Exception as exc:
            active.error = exc  # ErrorsMiddleware may swallow it; the turn reads it here
            raise


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

        def describe(response: Response[TelegramType] | None) -> dict[str, Any]:
            answer = response.result if isinstance(response, Response) else response  # aiogram gives the result
            attributes = media.of_send(name, lambda field: getattr(method, field, None), answer)
            markup = getattr(method, "parse_mode", None)
            if isinstance(markup, Default):
                markup = bot.default[markup.name]
            if isinstance(markup, str) and markup:
                attributes[semconv.MESSAGE_MARKUP] = markup.lower()
            return attributes

        return await self._tracer.send(
            chat_id,
            text if isinstance(text, str) else None,
            lambda: make_request(bot, method),
            bot_id=bot.id,
            attributes=describe,
        )


class _Sessions:
    """Bots whose session carries the request middleware (each once)."""

    def __init__(self, middleware: _RequestMiddleware) -> None:
        self.middleware = middleware
        self.sessions: weakref.WeakSet[BaseSession] = weakref.WeakSet()

    def add(self, bot: Bot) -> None:
        session = bot.session
        if session in self.sessions:
            return
        self.sessions.add(session)
        if self.middleware not in session.middleware:
            session.middleware(self.middleware)


@dataclass
class _Installation:
    tracer: ChatTracer
    update: _UpdateMiddleware
    recorder: _HandlerMiddleware
    sessions: _Sessions
    observers: list[Any] = field(default_factory=list)


_installed: weakref.WeakKeyDictionary[Dispatcher, _Installation] = weakref.WeakKeyDictionary()


def instrument(
    dispatcher: Dispatcher,
    *bots: Bot,
    window: timedelta = timedelta(days=1),
    episodes: Episodes | None = None,
    channel: str = CHANNEL_TELEGRAM,
    timezone: tzinfo | str | None = None,
    non_client_chats: Iterable[int | str] | None = None,
) -> ChatTracer:
    """Trace ``dispatcher``'s updates and the messages ``bots`` send; a second call only adds new ``bots``."""
    installed = _installed.get(dispatcher)
    if installed is not None:
        log.debug("botwatch: aiogram dispatcher %#x is already instrumented; nothing changed", id(dispatcher))
        for bot in bots:
            installed.sessions.add(bot)
        return installed.tracer
    tracer = ChatTracer(
        channel=channel,
        window=window,
        episodes=episodes or StorageEpisodes(dispatcher.storage),
        timezone=timezone,
        non_client=non_client_chats,
    )
    sessions = _Sessions(_RequestMiddleware(tracer))
    for bot in bots:
        sessions.add(bot)
    installed = _Installation(tracer, _UpdateMiddleware(tracer, sessions), _HandlerMiddleware(), sessions)
    # First, so the turn encloses ErrorsMiddleware: an error handler's reply belongs to the failed turn.
    dispatcher.update.outer_middleware._middlewares.insert(0, installed.update)
    for name, observer in dispatcher.observers.items():
        if name not in ("update", "error"):
            observer.middleware(installed.recorder)
            installed.observers.append(observer)
    _installed[dispatcher] = installed
    return tracer


def uninstrument(dispatcher: Dispatcher) -> None:
    """Take botwatch's middlewares out of ``dispatcher`` and its bots' sessions; a no-op if not instrumented."""
    installed = _installed.pop(dispatcher, None)
    if installed is None:
        log.debug("botwatch: aiogram dispatcher %#x is not instrumented; nothing to undo", id(dispatcher))
        return
    dispatcher.update.outer_middleware.unregister(installed.update)
    for observer in installed.observers:
        observer.middleware.unregister(installed.recorder)
    for session in list(installed.sessions.sessions):
        if installed.sessions.middleware in session.middleware:
            session.middleware.unregister(installed.sessions.middleware)
