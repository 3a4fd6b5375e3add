"""Annotations that mark a change on the time axis: a new LLM model, bot release or scenario version starts serving.

What the change did to conversion is measured by ``botwatch insights``
(change impact); the dashboards show where it happened.  A value counts as
new when it served turns in the last 10 minutes and none in the hour
before, so a model used side by side with another (an A/B test) is not
marked, and every switch is marked once.
"""

from __future__ import annotations

from typing import Any

from botwatch import semconv as sc
from dashboards import queries as q
from dashboards import variables as v

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
RELEASE = q.label(sc.SERVICE_VERSION)
MODEL = q.label(sc.GEN_AI_REQUEST_MODEL)
# botwatch.scenario.version, a resource attribute like service.version: the collector's remote write turns both into
# labels of every series (collector/config.yaml, resource_constant_labels), one value per bot process.
SCENARIO_VERSION = q.label(sc.SCENARIO_VERSION)


def _appeared(label: str) -> str:
    turns = sc.TURN_DURATION.prometheus_series[2]  # the _count series: one sample per reply
    now = f'increase({turns}{{{sc.PROMETHEUS_JOB_LABEL}=~"${v.JOB}"}}[10m]) > 0'
    before = f'increase({turns}{{{sc.PROMETHEUS_JOB_LABEL}=~"${v.JOB}"}}[1h] offset 10m) > 0'
    by = f"{sc.PROMETHEUS_JOB_LABEL}, {label}"
    return f"count by ({by}) ({now}) unless count by ({by}) ({before})"


def _annotation(name: str, colour: str, label: str, title: str) -> dict[str, Any]:
    """A marker wherever a new value of ``label`` starts serving, titled ``title: <value>``."""
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": colour,
        "name": name,
        "expr": _appeared(label),
        "step": "5m",
        "titleFormat": f"{title}: {{{{{label}}}}}",
        "textFormat": f"bot {{{{{sc.PROMETHEUS_JOB_LABEL}}}}} — what it did: botwatch insights",
        "tagKeys": f"{sc.PROMETHEUS_JOB_LABEL},{label}",
    }


def change_annotations() -> list[dict[str, Any]]:
    return [
        _annotation("New LLM model", "orange", MODEL, "Model switch"),
        _annotation("New bot release", "purple", RELEASE, "Release"),
        _annotation("New scenario version", "blue", SCENARIO_VERSION, "Scenario version"),
    ]
