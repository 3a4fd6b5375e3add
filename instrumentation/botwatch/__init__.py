"""botwatch: every bot conversation a trace, every outcome a metric, every problem an alert.

::

    import botwatch

    botwatch.init(service_name="salon-bot")
    with botwatch.conversation("sess_abc123", channel="whatsapp", client_phone="+79123456789") as conv:
        with conv.turn("Хочу записаться на стрижку") as turn:
            turn.intent("booking", confidence=0.87)
            ...
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botwatch import semconv
from botwatch.conversation import Conversation, CRMAction, LLMCall, Outbound, Turn
from botwatch.telemetry import Telemetry, current, init, shutdown

__all__ = [
    "CRMAction",
    "Conversation",
    "LLMCall",
    "Outbound",
    "Telemetry",
    "Turn",
    "conversation",
    "episode_id",
    "flush",
    "init",
    "semconv",
    "shutdown",
]

conversation = Conversation


def episode_id(
    chat_id: str | int, *, channel: str = "chat", window: timedelta = timedelta(days=1), at: datetime | None = None
) -> str:
    """A stable conversation id for a chat and time window, for bots that keep no episode id."""
    from botwatch.ids import episode_id as derive

    return derive(current().settings.secret, chat_id, channel=channel, window=window, at=at)


def flush(timeout_millis: int = 10_000) -> None:
    """Export everything buffered so far (tests, short scripts); ``shutdown()`` also does this."""
    current().force_flush(timeout_millis)
