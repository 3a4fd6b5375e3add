"""``botwatch audit label``: an owner's review of one turn, recorded as telemetry in the conversation's trace.

The review is a ``review`` span (child of the conversation, carrying a
``botwatch.review.labeled`` span event), a log record of that name and one
``botwatch.reviews`` increment labelled by the bot's intent, the verdict and
the true intent, so false positives/negatives per intent become metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from opentelemetry.trace import SpanKind, set_span_in_context

import botwatch
from botwatch import semconv
from botwatch.logs import emit_event


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
    intent = review.intent or semconv.OTHER
    true_intent = review.true_intent or intent
    with botwatch.conversation(review.conversation_id, channel=review.channel, resume=True) as conv:
        telemetry = conv.telemetry
        now = time.time_ns()
        attributes = {
            **conv.common,
            semconv.TURN_INDEX: review.turn_index,
            semconv.INTENT: intent,
            semconv.REVIEW_VERDICT: review.verdict,
            semconv.REVIEW_TRUE_INTENT: true_intent,
        }
        span = telemetry.tracer.start_span(
            semconv.SPAN_REVIEW, context=conv.context, kind=SpanKind.INTERNAL, attributes=attributes, start_time=now
        )
        span.add_event(semconv.EVENT_REVIEW, dict(attributes), timestamp=now)
        body = f"turn {review.turn_index}: {intent} {review.verdict}" + (
            "" if review.correct else f", really {true_intent}"
        )
        emit_event(
            telemetry, semconv.EVENT_REVIEW, body, dict(attributes), context=set_span_in_context(span), timestamp=now
        )
        labels = {
            semconv.INTENT: telemetry.intents(intent),
            semconv.REVIEW_VERDICT: review.verdict,
            semconv.REVIEW_TRUE_INTENT: telemetry.intents(true_intent),
        }
        # A one-shot process exports the counter once; a 0 sample first lets increase() in the
        # dashboards see this first review of a series (it needs two samples).
        telemetry.instruments.reviews.add(0, labels)
        telemetry.meter_provider.force_flush()
        time.sleep(0.01)
        telemetry.instruments.reviews.add(1, labels)
        span.end(end_time=now)
        return conv.trace_id
