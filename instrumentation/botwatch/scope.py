"""What the current task or thread is inside: which conversation, which turn.

Log lines written inside a ``conversation``/``turn`` block pick the
conversation id and turn index up from here, so Loki lines join their trace.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    conversation_id: str
    channel: str
    turn_index: int | None = None


current_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("botwatch_scope", default=None)
