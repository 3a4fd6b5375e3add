"""Trace ids derived from conversation ids, so every process agrees without shared state.

``trace_id = HMAC-SHA256(secret, "trace:" + conversation_id)[:16 bytes]`` and the
root span id likewise; a reminder sent days later by another process lands in
the same trace, parented to the same root.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

MAX_CONVERSATION_ID_LENGTH = 128
_ID_RE = re.compile(rf"^[\w.:@/+#=-]{{1,{MAX_CONVERSATION_ID_LENGTH}}}$")


def validate_conversation_id(conversation_id: object) -> str:
    if not isinstance(conversation_id, str):
        raise ValueError(f"conversation id must be a str, got {type(conversation_id).__name__}")
    if not _ID_RE.match(conversation_id):
        shown = conversation_id[:40] + ("…" if len(conversation_id) > 40 else "")
        raise ValueError(
            f"invalid conversation id {shown!r}: use 1-{MAX_CONVERSATION_ID_LENGTH} characters from "
            "letters, digits and . : @ / + # = - _ (no spaces)"
        )
    return conversation_id


def _derive(secret: bytes, purpose: str, value: str, size: int) -> int:
    digest = hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:size], "big")
    return number or 1  # an all-zero id is invalid in OTel


def trace_id_for(secret: bytes, conversation_id: str) -> int:
    return _derive(secret, "trace", conversation_id, 16)


def root_span_id_for(secret: bytes, conversation_id: str) -> int:
    return _derive(secret, "root", conversation_id, 8)


def episode_id(
    secret: bytes,
    chat_id: str | int,
    *,
    channel: str = "chat",
    window: timedelta = timedelta(days=1),
    at: datetime | None = None,
) -> str:
    """A conversation id for bots that have none: one per chat and time window.

    Stateless, so every process computes the same id for the same chat in the
    same window.  The chat id is hashed (a Telegram chat id is a user id).
    """
    if window.total_seconds() < 60:
        raise ValueError("episode window must be at least one minute")
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("episode time must be timezone-aware")
    seconds = int(window.total_seconds())
    start = int(moment.timestamp()) // seconds * seconds
    stamp = datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M")
    chat = hmac.new(secret, f"chat:{channel}:{chat_id}".encode(), hashlib.sha256).hexdigest()[:16]
    safe_channel = re.sub(r"[^a-z0-9]", "", channel.lower())[:16] or "chat"
    return f"{safe_channel}-{chat}-{stamp}"


_forced: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("botwatch_forced_ids", default=None)


class DerivedIdGenerator(IdGenerator):
    """Random ids, except while a conversation root is being created.

    The SDK asks the id generator for the root span's trace id and span id;
    inside :func:`forced_ids` it gets the derived ones instead.
    """

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_trace_id(self) -> int:
        forced = _forced.get()
        return forced[0] if forced else self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        forced = _forced.get()
        return forced[1] if forced else self._random.generate_span_id()


class forced_ids:
    def __init__(self, trace_id: int, span_id: int) -> None:
        self._ids = (trace_id, span_id)
        self._token: contextvars.Token[tuple[int, int] | None] | None = None

    def __enter__(self) -> None:
        self._token = _forced.set(self._ids)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _forced.reset(self._token)
