"""``botwatch audit label``: an owner's review of one turn, recorded as telemetry in the conversation's trace.

What is recorded (a ``review`` span, its ``botwatch.review.labeled`` event, a
log record and a ``botwatch.reviews`` increment) is the SDK's
:meth:`botwatch.Conversation.review`; this module only carries the review.
"""

from __future__ import annotations

from dataclasses import dataclass

import botwatch
from botwatch import semconv


@dataclass(frozen=True)
class Review:
    conversation_id: str
    channel: str
    turn_index: int
    intent: str | None  # what the bot recognised
    correct: bool
    true_intent: str | None  # the owner's answer (== intent when correct)

    @property
    def verdict(self) -> str:
        return semconv.REVIEW_VERDICT_CORRECT if self.correct else semconv.REVIEW_VERDICT_WRONG


def record_review(review: Review) -> str:
    """Emit the review through the SDK set up by ``botwatch.init()``; returns the conversation's trace id."""
    with botwatch.conversation(review.conversation_id, channel=review.channel, resume=True) as conv:
        conv.review(review.turn_index, intent=review.intent, correct=review.correct, true_intent=review.true_intent)
        return conv.trace_id
