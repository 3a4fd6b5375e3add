"""Annotations that mark a change on the time axis: a new LLM model or a new bot release starts serving.

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


def _appeared(label: str) -> str:
    turns = sc.TURN_DURATION.prometheus_series[2]  # the _count series: one sample per reply
    now = f'increase({turns}{{{sc.PROMETHEUS_JOB_LABEL}=~"${v.JOB}"}}[10m]) > 0'
    before = f'increase({turns}{{{sc.PROMETHEUS_JOB_LABEL}=~"${v.JOB}"}}[1h] offset 10m) > 0'
    by = f"{sc.PROMETHEUS_JOB_LABEL}, {label}"
    return f"count by ({by}) ({now}) unless count by ({by}) ({before})"


def change_annotations() -> list[dict[str, Any]]:
    return [
        {
            "datasource": DATASOURCE,
            "enable": True,
            "iconColor": "orange",
            "name": "New LLM model",
            "expr": _appeared(MODEL),
            "step": "5m",
            "titleFormat": f"Model switch: {{{{{MODEL}}}}}",
            "textFormat": f"bot {{{{{sc.PROMETHEUS_JOB_LABEL}}}}} — what it did: botwatch insights",
            "tagKeys": f"{sc.PROMETHEUS_JOB_LABEL},{MODEL}",
        },
        {
            "datasource": DATASOURCE,
            "enable": True,
            "iconColor": "purple",
            "name": "New bot release",
            "expr": _appeared(RELEASE),
            "step": "5m",
            "titleFormat": f"Release: {{{{{RELEASE}}}}}",
            "textFormat": f"bot {{{{{sc.PROMETHEUS_JOB_LABEL}}}}} — what it did: botwatch insights",
            "tagKeys": f"{sc.PROMETHEUS_JOB_LABEL},{RELEASE}",
        },
    ]
