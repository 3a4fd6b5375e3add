"""python-telegram-bot ≥ 21: every incoming message a turn, every ``reply_text()``/``send_message()`` its reply.

::

    from botwatch.integrations.telegram_bot import instrument
    instrument(application)

``instrument`` gives the application (and its bot) a subclass, the way
``ApplicationBuilder().application_class(...)`` would: ``process_update``
opens the turn in the chat's current episode around PTB's own dispatch, so it
covers polling, webhooks and direct ``process_update`` calls alike; handler
callbacks are wrapped on first sight to record which one ran and its error
(PTB passes the error on to its error handlers as before); the bot's
``_do_post``, PTB's documented override point for every API call, turns
outgoing messages into the turn's reply or ``message.send`` spans.

Handlers with ``block=False`` run after the turn has closed: their messages
are ``message.send`` spans in the same episode.  Episodes are remembered in
this process (:class:`botwatch.integrations.ProcessEpisodes`); pass
``episodes=`` a ledger on shared storage for several replicas.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Bot, Update
from telegram.ext import Application, ApplicationHandlerStop, BaseHandler, ConversationHandler

from botwatch.integrations import CHANNEL_TELEGRAM, ChatTracer, Episodes, active_turn

__all__ = ["instrument"]

A = TypeVar("A", bound=Application)  # type: ignore[type-arg]
_WRAPPED = "__botwatch_wrapped__"
_NOT_MESSAGES = frozenset({"sendChatAction"})
_MESSAGE_EDITS = frozenset({"editMessageText", "editMessageCaption", "copyMessage", "forwardMessage"})


def _incoming(update: object) -> tuple[int, str | None] | None:
    """(chat id, text) of an update that is a client's message, else None."""
    if not isinstance(update, Update) or update.channel_post or update.edited_channel_post:
        return None
    chat = update.effective_chat
    if chat is None:
        return None
    if update.callback_query is not None:
        return chat.id, update.callback_query.data
    message = update.effective_message
    if message is None:
        return None
    return chat.id, message.text or message.caption


def _traced(callback: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(callback)
    async def traced(update: object, context: Any) -> Any:
        active = active_turn()
        if active is not None:
            active.handled_by(callback)
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


def _wrap_handlers(handlers: list[BaseHandler[Any, Any, Any]]) -> None:
    for handler in handlers:
        if isinstance(handler, ConversationHandler):
            _wrap_handlers(handler.entry_points)
            for state in handler.states.values():
                _wrap_handlers(state)
            _wrap_handlers(handler.fallbacks)
        elif not getattr(handler.callback, _WRAPPED, False):
            handler.callback = _traced(handler.callback)


def _traced_application_class(base: type[A], tracer: ChatTracer) -> type[A]:
    class TracedApplication(base):  # type: ignore[valid-type,misc]
        __slots__ = ()
        botwatch_tracer = tracer

        async def process_update(self, update: object) -> None:
            for group in list(self.handlers.values()):
                _wrap_handlers(group)
            incoming = _incoming(update)
            if incoming is None:
                await super().process_update(update)
                return
            chat_id, text = incoming
            async with tracer.turn(chat_id, text):
                await super().process_update(update)

    TracedApplication.__name__ = TracedApplication.__qualname__ = f"Traced{base.__name__}"
    return TracedApplication


def _traced_bot_class(base: type[Bot], tracer: ChatTracer) -> type[Bot]:
    class TracedBot(base):  # type: ignore[valid-type,misc]
        __slots__ = ()

        async def _do_post(self, endpoint: str, data: dict[str, Any], **kwargs: Any) -> Any:
            post = super()._do_post
            chat_id = data.get("chat_id")
            is_message = (endpoint.startswith("send") and endpoint not in _NOT_MESSAGES) or endpoint in _MESSAGE_EDITS
            if not is_message or not isinstance(chat_id, int):
                return await post(endpoint, data, **kwargs)
            text = data.get("text") or data.get("caption")
            return await tracer.send(
                chat_id, text if isinstance(text, str) else None, lambda: post(endpoint, data, **kwargs)
            )

    TracedBot.__name__ = TracedBot.__qualname__ = f"Traced{base.__name__}"
    return TracedBot


def instrument(
    application: A,
    *,
    window: timedelta = timedelta(days=1),
    episodes: Episodes | None = None,
    channel: str = CHANNEL_TELEGRAM,
) -> ChatTracer:
    """Trace ``application``'s updates and the messages its bot sends; call once, before running it."""
    existing = getattr(type(application), "botwatch_tracer", None)
    if isinstance(existing, ChatTracer):
        return existing
    tracer = ChatTracer(channel=channel, window=window, episodes=episodes)
    application.__class__ = _traced_application_class(type(application), tracer)
    application.bot.__class__ = _traced_bot_class(type(application.bot), tracer)
    return tracer
