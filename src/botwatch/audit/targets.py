"""The owner's targets, in one place: what the report draws as a line and judges a week by.

The edges come from semconv (3 s, confidence 0.6); the shares are the
alerts' thresholds (``alerts/rules/thresholds.yml``: SLA warning 5 %, low
confidence 20 %, lead failures 10 %) — ``tests/audit/test_report_text.py`` checks
they agree, so the report never calls a week fine that an alert calls bad.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from botwatch import semconv


@dataclass(frozen=True)
class Targets:
    sla_seconds: float = semconv.SLA_SECONDS  # a reply slower than this is late
    sla_share: float = 0.05  # at most this share of replies late
    confidence_floor: float = semconv.LOW_CONFIDENCE  # below it, the bot did not understand
    low_confidence_share: float = 0.20  # at most this share of replies not understood
    lead_failure_share: float = 0.10  # at most this share of leads not reaching the CRM


TARGETS = Targets()


def for_tenant(targets: Any) -> Targets:
    """The report's targets with a tenant's own (``botwatch.tenants.Targets``: None keeps the default)."""
    own = {
        name: value
        for name in ("sla_seconds", "confidence_floor", "lead_failure_share")
        if (value := getattr(targets, name, None)) is not None
    }
    return dataclasses.replace(TARGETS, **own)
