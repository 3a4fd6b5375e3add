"""What the chat-framework integrations share: an incoming update is a turn, an outgoing message a reply or a send.

``botwatch.integrations.aiogram`` and ``botwatch.integrations.telegram_bot``
adapt this to their framework; importing this package imports neither.

Each update that carries a client's message becomes a ``turn`` in the chat's
current episode (:func:`botwatch.episode_id`).  While the handler runs, the
turn is the current span (so intent, LLM and CRM spans nest under it) and the
current :class:`ActiveTurn` for the task: a message the bot sends to the same
chat is the turn's reply; one sent anywhere else, or outside any turn, is a
``message.send`` span in the target chat's episode.  The turn ends at the last
reply (what the client waited for), or when the handler ends if it sent none.

Who emits the episode's ``conversation`` root is decided by an
:class:`Episodes` ledger: the entry that finds no record of the episode starts
it.  :class:`ProcessEpisodes` remembers episodes in this process only (a
restart mid-episode emits the root again); a ledger on shared storage (the
aiogram integration uses the dispatcher's FSM storage) lets replicas and
restarts continue an episode without a second root.

The bot is part of the key: the episode id is derived from the bot's id and
the chat id (:func:`episode_for`), so two bots talking to one person are two
conversations, and every turn carries ``botwatch.bot.id`` and the update's
kind (``botwatch.update.kind``: message, edited_message, callback_query...).
An update no handler took is marked ``botwatch.update.unhandled``; a chat
listed as non-client (:mod:`botwatch.integrations.business_settings`) is marked
``botwatch.chat.non_client``; KPIs count neither as a client's turn.  The
episode's day begins at midnight in the business's time zone.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol, TypeVar

import botwatch
from botwatch import semconv
from botwatch.conversation import Conversation, Turn
from botwatch.integrations.business_settings import business_timezone, non_client_chats
from botwatch.telemetry import Telemetry, current

T = TypeVar("T")

CHANNEL_TELEGRAM = "telegram"
HANDLER = semconv.HANDLER
OUTBOUND_KIND = "message"  # botwatch.message.kind of a message sent outside a turn
_PROCESS_MEMORY = 10_000
log = logging.getLogger("botwatch.integrations")


@dataclass(frozen=True)
class Entry:
    """What the ledger says about one entry into an episode."""

    starts_episode: bool
    turn_index: int


class Episodes(Protocol):
    """Decides which entry starts an episode (emits its root) and numbers its turns.

    ``chat_id`` is the chat's key: ``"<bot id>:<chat id>"`` when the bot is known.
    """

    async def enter(self, chat_id: int | str, episode: str, *, turn: bool) -> Entry: ...


class ProcessEpisodes:
    """The episodes this process has seen: the chat's current episode and its turn count, LRU-bounded."""

    def __init__(self, capacity: int = _PROCESS_MEMORY) -> None:
        self._chats: OrderedDict[int | str, tuple[str, int]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    async def enter(self, chat_id: int | str, episode: str, *, turn: bool) -> Entry:
        with self._lock:
            known, turns = self._chats.get(chat_id, ("", 0))
            starts = known != episode
            turns = (0 if starts else turns) + (1 if turn else 0)
            self._chats[chat_id] = (episode, turns)
            self._chats.move_to_end(chat_id)
            if len(self._chats) > self._capacity:
                self._chats.popitem(last=False)
        return Entry(starts, turns if turn else 0)


def chat_key(chat_id: int | str, bot_id: int | None) -> str:
    """The key a chat has for one bot: two bots in one chat are two conversations."""
    return str(chat_id) if bot_id is None else f"{bot_id}:{chat_id}"


def episode_for(
    chat_id: int | str,
    *,
    bot_id: int | None,
    channel: str = CHANNEL_TELEGRAM,
    window: timedelta = timedelta(days=1),
    timezone: tzinfo | str | None = None,
    at: datetime | None = None,
) -> str:
    """The episode id a bot's chat has at ``at`` (now): windows start at midnight in the business's time zone.

    The id's stamp is the window's start on that wall clock (``...-20261207T0000`` from 00:00 Moscow time).
    """
    seconds = int(window.total_seconds())
    moment = (at or datetime.now(UTC)).timestamp()
    local = datetime.fromtimestamp(_slot(moment, business_timezone(timezone), seconds) * seconds, UTC)
    return botwatch.episode_id(chat_key(chat_id, bot_id), channel=channel, window=window, at=local)


def _slot(moment: float, zone: tzinfo, seconds: int) -> int:
    """The number of the window ``moment`` falls in, windows counted on the business's wall clock."""
    offset = zone.utcoffset(datetime.fromtimestamp(moment, UTC)) or timedelta(0)
    return (int(moment) + int(offset.total_seconds())) // seconds


def handler_name(callback: Any) -> str:
    """``module.qualname`` of a handler function (or its class for callable objects)."""
    target = callback if hasattr(callback, "__qualname__") else type(callback)
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", repr(target))
    return f"{module}.{name}" if module else name


def unwrap(callback: Any) -> Any:
    """The function a wrapper finally calls: through functools.wraps, partials and bound methods."""
    for _ in range(32):  # wrappers of wrappers, but never forever
        inner = getattr(callback, "__wrapped__", None)
        if isinstance(callback, functools.partial):
            inner = callback.func
        elif inner is None and hasattr(callback, "__func__"):
            inner = callback.__func__
        if inner is None or inner is callback:
            return callback
        callback = inner
    return callback


class _TurnClock:
    """The conversation's clock for one update; ``hold`` pins the turn's end to its last reply."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held: int | None = None

    def __call__(self) -> int:
        return self.held if self.held is not None else time.time_ns()


class ActiveTurn:
    """The turn the current task is handling: its chat, span, replies."""

    def __init__(
        self, chat_id: int | str, conversation: Conversation, turn: Turn, clock: _TurnClock, bot_id: int | None = None
    ) -> None:
        self.chat_id = chat_id
        self.bot_id = bot_id
        self.conversation = conversation
        self.turn = turn
        self.clock = clock
        self.last_reply: int | None = None
        self.handled = False
        self.error: BaseException | None = None  # a handler's error, seen before the framework handles it
        self.open = True

    def handled_by(self, callback: Any) -> None:
        self.handled = True
        if self.open:
            self.turn.span.set_attribute(HANDLER, handler_name(callback))

    def unhandled(self) -> None:
        """No handler took the update: recorded, but not a client's turn in KPIs."""
        if self.open:
            self.turn.span.set_attribute(semconv.UPDATE_UNHANDLED, True)

    def failed(self, exc: BaseException) -> None:
        """A handler error the framework swallows (so it never reaches the turn block)."""
        if self.open:
            self.turn.span.record_exception(exc)
            self.turn.fail(type(exc).__qualname__)

    def replied(self, text: str | None, attributes: Mapping[str, Any] | None = None) -> None:
        now = time.time_ns()
        conv = self.conversation
        body = text or ""
        with conv.tagged(attributes or {}):  # the reply's log record carries its media and markup
            self.turn.reply(body)
        shown = conv._exportable_text(body, "reply text")
        event = {semconv.MESSAGE_TEXT: shown, **(attributes or {})}
        self.turn.span.add_event(semconv.EVENT_BOT_REPLIED, event, timestamp=now)
        self.last_reply = now


_active: contextvars.ContextVar[ActiveTurn | None] = contextvars.ContextVar("botwatch_active_turn", default=None)


def active_turn() -> ActiveTurn | None:
    """The turn the current task is handling, if any."""
    return _active.get()


def current_turn() -> Turn | None:
    """The :class:`botwatch.Turn` of the update this handler is handling: ``turn.intent(...)``, ``turn.llm(...)``."""
    active = _active.get()
    return active.turn if active is not None and active.open else None


class ChatTracer:
    """Turns and sends for a bot's chats: the framework adapters call :meth:`turn` and :meth:`send`."""

    def __init__(
        self,
        *,
        channel: str = CHANNEL_TELEGRAM,
        window: timedelta = timedelta(days=1),
        episodes: Episodes | None = None,
        outbound_kind: str = OUTBOUND_KIND,
        timezone: tzinfo | str | None = None,
        non_client: Iterable[int | str] | None = None,
    ) -> None:
        self.channel = channel
        self.window = window
        self.episodes: Episodes = episodes or ProcessEpisodes()
        self.outbound_kind = outbound_kind
        self.timezone = business_timezone(timezone)
        self.non_client = non_client_chats(non_client)
        self._seconds = int(window.total_seconds())
        if self._seconds < 60:
            raise ValueError("episode window must be at least one minute")
        self._episodes: dict[tuple[str, int], str] = {}
        self._episodes_of: Telemetry | None = None

    def episode(self, chat_id: int | str, bot_id: int | None = None) -> str:
        """The chat's current episode id (cached per window: deriving it costs an HMAC and a strftime)."""
        slot = _slot(time.time(), self.timezone, self._seconds)
        telemetry = current()
        if self._episodes_of is not telemetry:  # a new init() may bring a new secret
            self._episodes, self._episodes_of = {}, telemetry
        key = (chat_key(chat_id, bot_id), slot)
        episode = self._episodes.get(key)
        if episode is None:
            at = datetime.fromtimestamp(slot * self._seconds, UTC)
            episode = botwatch.episode_id(key[0], channel=self.channel, window=self.window, at=at)
            if len(self._episodes) >= _PROCESS_MEMORY:
                del self._episodes[next(iter(self._episodes))]
            self._episodes[key] = episode
        return episode

    def _common(self, chat_id: int | str, bot_id: int | None) -> dict[str, Any]:
        marks: dict[str, Any] = {}
        if bot_id is not None:
            marks[semconv.BOT_ID] = bot_id
        if str(chat_id) in self.non_client:
            marks[semconv.CHAT_NON_CLIENT] = True
        return marks

    @asynccontextmanager
    async def turn(
        self,
        chat_id: int | str,
        text: str | None,
        *,
        bot_id: int | None = None,
        kind: str | None = None,
        media: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[ActiveTurn]:
        """One incoming update: the turn is current until the block ends, then closes at the last reply."""
        clock = _TurnClock()
        start = clock()
        episode = self.episode(chat_id, bot_id)
        entry = await self.episodes.enter(chat_key(chat_id, bot_id), episode, turn=True)
        conv = Conversation(episode, channel=self.channel, resume=not entry.starts_episode, clock=clock)
        conv._common.update(self._common(chat_id, bot_id))
        clock.held = start  # the root and the turn start when the update arrived, not after the ledger
        with conv:
            if kind:
                conv._common[semconv.UPDATE_KIND] = kind  # after the root: the root is the episode's, not this update's
            common = conv._common
            if media:
                conv._common = {**common, **media}  # the turn and its message.received record carry the media
                if text is None:
                    text = ""  # a photo or voice without a caption is still the client's message
            turn = conv.turn(text, index=entry.turn_index)
            with turn:
                conv._common = common
                clock.held = None
                active = ActiveTurn(chat_id, conv, turn, clock, bot_id)
                token = _active.set(active)
                try:
                    yield active
                finally:
                    clock.held = active.last_reply  # the turn ends at its last reply, error or not
                    active.open = False
                    _active.reset(token)

    async def send(
        self,
        chat_id: int | str,
        text: str | None,
        call: Callable[[], Awaitable[T]],
        *,
        bot_id: int | None = None,
        attributes: Callable[[T | None], Mapping[str, Any]] | None = None,
    ) -> T:
        """An outgoing message: the current turn's reply, or a ``message.send`` span in the chat's episode.

        ``attributes(result)`` describes the message (media, markup) once Telegram answered.
        """
        active = _active.get()
        if active is not None and active.open and active.bot_id == bot_id and str(active.chat_id) == str(chat_id):
            result = await call()
            active.replied(text, attributes(result) if attributes is not None else None)
            return result
        episode = self.episode(chat_id, bot_id)
        entry = await self.episodes.enter(chat_key(chat_id, bot_id), episode, turn=False)
        # A fresh context: a send to another chat from inside a turn must not join that turn's trace.
        conv = Conversation(episode, channel=self.channel, resume=not entry.starts_episode)
        conv._common.update(self._common(chat_id, bot_id))
        token = _active.set(None)
        try:
            with conv:
                sent = conv.send(text, kind=self.outbound_kind)
                with sent:

                    def describe(result: T | None) -> None:
                        if attributes is not None:
                            described = attributes(result)
                            sent.span.set_attributes(described)
                            conv._common = {**conv._common, **described}  # read by message.sent when the span ends

                    try:
                        result = await call()
                    except BaseException:
                        describe(None)
                        raise
                    describe(result)
                    return result
        finally:
            _active.reset(token)


__all__ = [
    "CHANNEL_TELEGRAM",
    "HANDLER",
    "ActiveTurn",
    "ChatTracer",
    "Entry",
    "Episodes",
    "ProcessEpisodes",
    "active_turn",
    "chat_key",
    "current_turn",
    "episode_for",
    "handler_name",
    "log",
    "unwrap",
]
