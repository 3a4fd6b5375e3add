"""What the current task or thread is inside: which conversation, which turn.

Log lines written inside a ``conversation``/``turn`` block pick the
conversation id and turn index up from here, so Loki lines join their trace;
GenAI spans of auto-instrumented clients (OpenAI) pick up the conversation
id, and tell the turn which model answered it (``on_model``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    conversation_id: str
    channel: str
    turn_index: int | None = None
    on_model: Callable[[str], None] | None = None  # the turn's: "this model was called"


current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("botwatch_scope", default=None)
