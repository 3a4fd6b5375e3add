"""A scripted intent classifier: knows what the client meant, answers with a confidence.

Without faults every confidence is at least 0.61: most are high (0.80-0.99),
about one in ten is ambiguous (0.62-0.79), and about one in fifty is
ambiguous *and* wrong (a neighbouring intent).  The low_confidence fault
pushes a confidence to 0.30-0.59, below ``semconv.LOW_CONFIDENCE``.
"""

from __future__ import annotations

import random

BOOKING = "booking"
RESCHEDULE = "reschedule"
PRICE = "price"
COMPLAINT = "complaint"
CANCEL = "cancel"
GREETING = "greeting"
PAYMENT = "payment"
OTHER = "other"
INTENTS = (BOOKING, RESCHEDULE, PRICE, COMPLAINT, CANCEL, GREETING, PAYMENT, OTHER)

_CONFUSED_WITH = {
    BOOKING: PRICE,
    RESCHEDULE: BOOKING,
    PRICE: BOOKING,
    COMPLAINT: OTHER,
    CANCEL: RESCHEDULE,
    GREETING: OTHER,
    PAYMENT: PRICE,
    OTHER: GREETING,
}

AMBIGUOUS_RATE = 0.10
MISTAKE_RATE = 0.02
LOW_MIN, LOW_MAX = 0.30, 0.59


def classify(rng: random.Random, true_intent: str) -> tuple[str, float]:
    roll = rng.random()
    spread = rng.random()
    if roll < MISTAKE_RATE:
        return _CONFUSED_WITH[true_intent], round(0.61 + 0.13 * spread, 3)
    if roll < MISTAKE_RATE + AMBIGUOUS_RATE:
        return true_intent, round(0.62 + 0.17 * spread, 3)
    return true_intent, round(0.80 + 0.19 * spread**0.6, 3)


def low_confidence(u: float) -> float:
    return round(LOW_MIN + u * (LOW_MAX - LOW_MIN), 3)
