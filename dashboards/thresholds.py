"""Alert thresholds, read from the one file that sets them (alerts/rules/thresholds.yml).

Panels colour and draw lines at exactly the numbers the alerts compare with;
changing a threshold there changes the dashboards at the next build.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from botwatch import semconv

REPO = Path(__file__).resolve().parents[1]
THRESHOLDS_FILE = REPO / "alerts" / "rules" / "thresholds.yml"
PREFIX = "botwatch:threshold:"

# The names the dashboards use; a rename in thresholds.yml fails the build here.
LOW_INTENT_CONFIDENCE_RATIO = "low_intent_confidence_ratio"
TURN_SLA_BREACH_WARNING_RATIO = "turn_sla_breach_warning_ratio"
TURN_SLA_BREACH_CRITICAL_RATIO = "turn_sla_breach_critical_ratio"
LEAD_CREATE_FAILURE_RATIO = "lead_create_failure_ratio"
TELEMETRY_LOSS_RATIO = "telemetry_loss_ratio"
EXPORTER_QUEUE_FILL_RATIO = "exporter_queue_fill_ratio"

SLA_SECONDS = semconv.SLA_SECONDS
LOW_CONFIDENCE = semconv.LOW_CONFIDENCE


@functools.cache
def all_thresholds(path: Path = THRESHOLDS_FILE) -> dict[str, float]:
    """``{"low_intent_confidence_ratio": 0.2, ...}`` from the ``vector(N)`` recording rules."""
    document = yaml.safe_load(path.read_text())
    found: dict[str, float] = {}
    for group in document["groups"]:
        for rule in group["rules"]:
            record = rule.get("record", "")
            expr = str(rule["expr"]).strip()
            if record.startswith(PREFIX) and expr.startswith("vector(") and expr.endswith(")"):
                found[record.removeprefix(PREFIX)] = float(expr[len("vector(") : -1])
    return found


def threshold(name: str) -> float:
    values = all_thresholds()
    if name not in values:
        raise KeyError(f"{PREFIX}{name} is not in {THRESHOLDS_FILE}; known: {', '.join(sorted(values))}")
    return values[name]


def series(name: str) -> str:
    """The recording rule's series name, to draw the threshold as a line."""
    threshold(name)
    return PREFIX + name
