"""botwatch: every bot conversation a trace, every outcome a metric, every problem an alert.

::

    import botwatch

    botwatch.init(service_name="salon-bot")
    with botwatch.conversation("sess_abc123", channel="whatsapp", client_phone="+79123456789") as conv:
        with conv.turn("Хочу записаться на стрижку") as turn:
            turn.intent("booking", confidence=0.87)
            ...

Tests use :class:`botwatch.testing.InMemoryDestination` (``init(destination=...)``)
instead of a collector.  The names below load on first use: ``import botwatch`` (and so every
``botwatch`` command, ``--help`` included) does not pay for the
OpenTelemetry SDK until something needs it.
"""

from __future__ import annotations

import importlib
import sys
import types
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botwatch import semconv
    from botwatch.conversation import Conversation, CRMAction, LLMCall, Outbound, Turn
    from botwatch.destination import Destination
    from botwatch.telemetry import Telemetry, init, shutdown

    conversation = Conversation

__all__ = [
    "CRMAction",
    "Conversation",
    "Destination",
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

# public name -> (module, attribute)
_LAZY = {
    "CRMAction": ("botwatch.conversation", "CRMAction"),
    "Conversation": ("botwatch.conversation", "Conversation"),
    "Destination": ("botwatch.destination", "Destination"),
    "LLMCall": ("botwatch.conversation", "LLMCall"),
    "Outbound": ("botwatch.conversation", "Outbound"),
    "Turn": ("botwatch.conversation", "Turn"),
    "conversation": ("botwatch.conversation", "Conversation"),
    "Telemetry": ("botwatch.telemetry", "Telemetry"),
    "init": ("botwatch.telemetry", "init"),
    "shutdown": ("botwatch.telemetry", "shutdown"),
    "semconv": ("botwatch.semconv", ""),  # the module itself
}


class _Package(types.ModuleType):
    """Loads the public names on first use.

    ``botwatch.conversation`` is both a submodule and the public API (the
    class); importing the submodule sets the package attribute to the module,
    so that one assignment is turned into the class.
    """

    def __getattr__(self, name: str) -> Any:
        if name not in _LAZY:
            raise AttributeError(f"module 'botwatch' has no attribute {name!r}")
        module, attribute = _LAZY[name]
        loaded = importlib.import_module(module)
        value = getattr(loaded, attribute) if attribute else loaded
        setattr(self, name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "conversation" and isinstance(value, types.ModuleType):
            value = value.Conversation
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def episode_id(
    chat_id: str | int, *, channel: str = "chat", window: timedelta = timedelta(days=1), at: datetime | None = None
) -> str:
    """A stable conversation id for a chat and time window, for bots that keep no episode id."""
    from botwatch.ids import episode_id as derive
    from botwatch.telemetry import current

    return derive(current().settings.secret, chat_id, channel=channel, window=window, at=at)


def flush(timeout_millis: int = 10_000) -> None:
    """Export everything buffered so far (tests, short scripts); ``shutdown()`` also does this."""
    from botwatch.telemetry import current

    current().force_flush(timeout_millis)
