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
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import botwatch
from botwatch import semconv
from botwatch.conversation import Conversation, Turn
from botwatch.telemetry import Telemetry, current

T = TypeVar("T")

CHANNEL_TELEGRAM = "telegram"
HANDLER = semconv.HANDLER
OUTBOUND_KIND = "message"  # botwatch.message.kind of a message sent outside a turn
_PROCESS_MEMORY = 10_000


@dataclass(frozen=True)
class Entry:
    """What the ledger says about one entry into an episode."""

    starts_episode: bool
    turn_index: int


class Episodes(Protocol):
    """Decides which entry starts an episode (emits its root) and numbers its turns."""

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


def handler_name(callback: Any) -> str:
    """``module.qualname`` of a handler function (or its class for callable objects)."""
    target = callback if hasattr(callback, "__qualname__") else type(callback)
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", repr(target))
    return f"{module}.{name}" if module else name


class _TurnClock:
    """The conversation's clock for one update; ``hold`` pins the turn's end to its last reply."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held: int | None = None

    def __call__(self) -> int:
        return self.held if self.held is not None else time.time_ns()


class ActiveTurn:
    """The turn the current task is handling: its chat, span, replies."""

    def __init__(self, chat_id: int | str, conversation: Conversation, turn: Turn, clock: _TurnClock) -> None:
        self.chat_id = chat_id
        self.conversation = conversation
        self.turn = turn
        self.clock = clock
        self.last_reply: int | None = None
        self.open = True

    def handled_by(self, callback: Any) -> None:
        if self.open:
            self.turn.span.set_attribute(HANDLER, handler_name(callback))

    def failed(self, exc: BaseException) -> None:
        """A handler error the framework swallows (so it never reaches the turn block)."""
        if self.open:
            self.turn.span.record_exception(exc)
            self.turn.fail(type(exc).__qualname__)

    def replied(self, text: str | None) -> None:
        now = time.time_ns()
        conv = self.conversation
        body = text or ""
        self.turn.reply(body)
        shown = conv.text(body, "reply text")
        self.turn.span.add_event(semconv.EVENT_BOT_REPLIED, {semconv.MESSAGE_TEXT: shown}, timestamp=now)
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
    """Turns and sends for one bot: the framework adapters call :meth:`turn` and :meth:`send`."""

    def __init__(
        self,
        *,
        channel: str = CHANNEL_TELEGRAM,
        window: timedelta = timedelta(days=1),
        episodes: Episodes | None = None,
        outbound_kind: str = OUTBOUND_KIND,
    ) -> None:
        self.channel = channel
        self.window = window
        self.episodes: Episodes = episodes or ProcessEpisodes()
        self.outbound_kind = outbound_kind
        self._seconds = int(window.total_seconds())
        self._episodes: dict[tuple[int | str, int], str] = {}
        self._episodes_of: Telemetry | None = None

    def episode(self, chat_id: int | str) -> str:
        """The chat's current episode id (cached per window: deriving it costs an HMAC and a strftime)."""
        slot = int(time.time()) // self._seconds
        telemetry = current()
        if self._episodes_of is not telemetry:  # a new init() may bring a new secret
            self._episodes, self._episodes_of = {}, telemetry
        key = (chat_id, slot)
        episode = self._episodes.get(key)
        if episode is None:
            at = datetime.fromtimestamp(slot * self._seconds, UTC)
            episode = botwatch.episode_id(chat_id, channel=self.channel, window=self.window, at=at)
            if len(self._episodes) >= _PROCESS_MEMORY:
                del self._episodes[next(iter(self._episodes))]
            self._episodes[key] = episode
        return episode

    @asynccontextmanager
    async def turn(self, chat_id: int | str, text: str | None) -> AsyncIterator[ActiveTurn]:
        """One incoming message: the turn is current until the block ends, then closes at the last reply."""
        clock = _TurnClock()
        start = clock()
        episode = self.episode(chat_id)
        entry = await self.episodes.enter(chat_id, episode, turn=True)
        conv = Conversation(episode, channel=self.channel, resume=not entry.starts_episode, clock=clock)
        clock.held = start  # the root and the turn start when the update arrived, not after the ledger
        with conv:
            turn = conv.turn(text, index=entry.turn_index)
            with turn:
                clock.held = None
                active = ActiveTurn(chat_id, conv, turn, clock)
                token = _active.set(active)
                try:
                    yield active
                    clock.held = active.last_reply
                finally:
                    active.open = False
                    _active.reset(token)

    async def send(self, chat_id: int | str, text: str | None, call: Callable[[], Awaitable[T]]) -> T:
        """An outgoing message: the current turn's reply, or a ``message.send`` span in the chat's episode."""
        active = _active.get()
        if active is not None and active.open and str(active.chat_id) == str(chat_id):
            result = await call()
            active.replied(text)
            return result
        episode = self.episode(chat_id)
        entry = await self.episodes.enter(chat_id, episode, turn=False)
        # A fresh context: a send to another chat from inside a turn must not join that turn's trace.
        conv = Conversation(episode, channel=self.channel, resume=not entry.starts_episode)
        token = _active.set(None)
        try:
            with conv, conv.send(text, kind=self.outbound_kind):
                return await call()
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
    "current_turn",
    "handler_name",
]
