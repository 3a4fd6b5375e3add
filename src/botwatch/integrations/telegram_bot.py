"""python-telegram-bot ≥ 21: every incoming update a turn, every ``reply_text()``/``send_message()`` its reply.

::

    from botwatch.integrations.telegram_bot import instrument
    instrument(application)

``instrument`` gives the application (and its bot) a subclass that keeps the
original class's name and module, so error texts and ``repr`` read as
before: ``process_update`` opens the turn in the chat's current episode around
PTB's own dispatch, so it covers polling, webhooks and direct
``process_update`` calls alike; handler callbacks are wrapped on first sight
to record which one ran and its error (PTB passes the error on to its error
handlers as before, inside the turn, so their replies are the turn's); the
bot's ``_do_post``, PTB's documented override point for every API call, turns
outgoing messages into the turn's reply or ``message.send`` spans.  A second
``instrument()`` changes nothing; ``uninstrument(application)`` restores the
classes and the handlers' callbacks.

Handlers with ``block=False`` run after the turn has closed: their messages
are ``message.send`` spans in the same episode.  Episodes are remembered in
this process (:class:`botwatch.integrations.ProcessEpisodes`); pass
``episodes=`` a ledger on shared storage for several replicas.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any, TypeVar

from telegram import Bot, Update
from telegram.ext import Application, ApplicationHandlerStop, BaseHandler, ConversationHandler

from botwatch import semconv
from botwatch.integrations import CHANNEL_TELEGRAM, ChatTracer, Episodes, active_turn, log, media, unwrap

__all__ = ["instrument", "uninstrument"]

A = TypeVar("A", bound=Application)  # type: ignore[type-arg]
_WRAPPED = "__botwatch_wrapped__"
_NOT_MESSAGES = frozenset({"sendChatAction"})
_MESSAGE_EDITS = frozenset({"editMessageText", "editMessageCaption", "copyMessage", "forwardMessage"})


@dataclass(frozen=True)
class _Incoming:
    chat_id: int
    text: str | None
    kind: str | None
    media: Mapping[str, Any]


_NOT_CLIENTS = frozenset({"channel_post", "edited_channel_post", "poll"})  # no client wrote these


def _incoming(update: object) -> _Incoming | None:
    """The chat, text, kind and media of an update a client sent, else None."""
    if not isinstance(update, Update):
        return None
    new = update.message
    if new is not None:  # the common case first
        return _Incoming(new.chat.id, new.text or new.caption, "message", media.of_message(new))
    kind = next((name for name in Update.ALL_TYPES if getattr(update, name, None) is not None), None)
    if kind in _NOT_CLIENTS:
        return None
    chat = update.effective_chat
    user = update.effective_user if chat is None else None
    chat_id = chat.id if chat is not None else user.id if user is not None else None
    if chat_id is None:
        return None
    if update.callback_query is not None:
        return _Incoming(chat_id, update.callback_query.data, kind, {})
    if update.inline_query is not None:
        return _Incoming(chat_id, update.inline_query.query, kind, {})
    message = update.effective_message
    if message is None:
        return _Incoming(chat_id, None, kind, {})
    return _Incoming(chat_id, message.text or message.caption, kind, media.of_message(message))


def _traced(callback: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(callback)
    async def traced(update: object, context: Any) -> Any:
        active = active_turn()
        if active is not None:
            active.handled_by(unwrap(callback))
        try:
            return await callback(update, context)
        except ApplicationHandlerStop:
            raise
        except Exception as exc:
            if active is not None:
                active.failed(exc)
            raise

    setattr(traced, _WRAPPED, True)
    return traced


def _leaves(handlers: Iterable[BaseHandler[Any, Any, Any]]) -> Iterator[BaseHandler[Any, Any, Any]]:
    """The handlers whose callbacks PTB calls, inside ConversationHandlers too."""
    for handler in handlers:
        if isinstance(handler, ConversationHandler):
            yield from _leaves(handler.entry_points)
            for state in handler.states.values():
                yield from _leaves(state)
            yield from _leaves(handler.fallbacks)
        else:
            yield handler


def _wrap_handlers(handlers: list[BaseHandler[Any, Any, Any]]) -> None:
    for handler in _leaves(handlers):
        if not getattr(handler.callback, _WRAPPED, False):
            handler.callback = _traced(handler.callback)


def _unwrap_handlers(handlers: list[BaseHandler[Any, Any, Any]]) -> None:
    for handler in _leaves(handlers):
        if getattr(handler.callback, _WRAPPED, False):
            handler.callback = handler.callback.__wrapped__  # type: ignore[attr-defined]


def _taken_later(application: Application, update: object) -> bool:  # type: ignore[type-arg]
    """Whether a ``block=False`` handler took the update: it runs after the turn, so it never said so."""
    defaults = getattr(application.bot, "defaults", None)
    later_by_default = defaults is not None and not defaults.block  # Defaults(block=False)
    for group in application.handlers.values():
        for handler in group:
            later = handler.block is False or (later_by_default and handler.block is not True)
            if later and handler.check_update(update) not in (None, False):
                return True
    return False


def _same_name(cls: type[Any], base: type[Any]) -> None:
    """The subclass reads as its base in error texts, ``repr`` and ``type(x).__name__``."""
    cls.__name__, cls.__qualname__, cls.__module__ = base.__name__, base.__qualname__, base.__module__


def _traced_application_class(base: type[A], tracer: ChatTracer, bot_id: int | None) -> type[A]:
    class TracedApplication(base):  # type: ignore[valid-type,misc]
        __slots__ = ()
        botwatch_tracer = tracer
        botwatch_base = base

        async def process_update(self, update: object) -> None:
            for group in list(self.handlers.values()):
                _wrap_handlers(group)
            incoming = _incoming(update)
            if incoming is None:
                await super().process_update(update)
                return
            async with tracer.turn(
                incoming.chat_id, incoming.text, bot_id=bot_id, kind=incoming.kind, media=incoming.media
            ) as active:
                await super().process_update(update)
                if not active.handled and not _taken_later(self, update):
                    active.unhandled()

    _same_name(TracedApplication, base)
    return TracedApplication


def _describe(endpoint: str, data: dict[str, Any]) -> Callable[[Any], Mapping[str, Any]]:
    def describe(answer: Any) -> Mapping[str, Any]:
        attributes = media.of_send(endpoint, data.get, answer)
        markup = data.get("parse_mode")
        if isinstance(markup, str) and markup:
            attributes[semconv.MESSAGE_MARKUP] = markup.lower()
        return attributes

    return describe


def _traced_bot_class(base: type[Bot], tracer: ChatTracer, bot_id: int | None) -> type[Bot]:
    class TracedBot(base):  # type: ignore[valid-type,misc]
        __slots__ = ()
        botwatch_base = base

        async def _do_post(self, endpoint: str, data: dict[str, Any], **kwargs: Any) -> Any:
            post = super()._do_post
            chat_id = data.get("chat_id")
            is_message = (endpoint.startswith("send") and endpoint not in _NOT_MESSAGES) or endpoint in _MESSAGE_EDITS
            if not is_message or not isinstance(chat_id, int):
                return await post(endpoint, data, **kwargs)
            text = data.get("text") or data.get("caption")
            return await tracer.send(
                chat_id,
                text if isinstance(text, str) else None,
                lambda: post(endpoint, data, **kwargs),
                bot_id=bot_id,
                attributes=_describe(endpoint, data),
            )

    _same_name(TracedBot, base)
    return TracedBot


def _bot_id(bot: Bot) -> int | None:
    """The bot's id, from its token ("<id>:<secret>"), so it is known before ``initialize()``."""
    head = str(getattr(bot, "token", "")).split(":", 1)[0]
    return int(head) if head.isdigit() else None


def instrument(
    application: A,
    *,
    window: timedelta = timedelta(days=1),
    episodes: Episodes | None = None,
    channel: str = CHANNEL_TELEGRAM,
    timezone: tzinfo | str | None = None,
    non_client_chats: Iterable[int | str] | None = None,
) -> ChatTracer:
    """Trace ``application``'s updates and the messages its bot sends; a second call changes nothing."""
    existing = getattr(type(application), "botwatch_tracer", None)
    if isinstance(existing, ChatTracer):
        log.debug("botwatch: python-telegram-bot application %#x is already instrumented", id(application))
        return existing
    tracer = ChatTracer(
        channel=channel, window=window, episodes=episodes, timezone=timezone, non_client=non_client_chats
    )
    bot_id = _bot_id(application.bot)
    application.__class__ = _traced_application_class(type(application), tracer, bot_id)
    application.bot.__class__ = _traced_bot_class(type(application.bot), tracer, bot_id)
    return tracer


def uninstrument(application: Application) -> None:  # type: ignore[type-arg]
    """Give ``application`` and its bot their own classes back and unwrap its handlers' callbacks."""
    base = type(application).__dict__.get("botwatch_base")
    if base is None:
        log.debug("botwatch: python-telegram-bot application %#x is not instrumented", id(application))
        return
    application.__class__ = base
    bot_base = type(application.bot).__dict__.get("botwatch_base")
    if bot_base is not None:
        application.bot.__class__ = bot_base
    for group in application.handlers.values():
        _unwrap_handlers(group)
