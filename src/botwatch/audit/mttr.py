"""MTTR of alerts: how long each alert stayed firing, from Prometheus's ``ALERTS`` history.

Prometheus keeps a series ``ALERTS{alertname=…, alertstate="firing", <labels>}``
with value 1 for every evaluation while an alert fires. ``query_range`` over
it at ``step`` gives, per label set, the moments it was firing; a run of
consecutive steps is one incident, from its first sample to the first step
it was gone (resolved). An incident still firing at the end of the window,
or already firing at its start, is not counted: its length is unknown. MTTR
is the mean length of the resolved incidents; each is exact to one ``step``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botwatch import env, semconv
from botwatch.audit.http import JsonApi

QUERY_RANGE = "/api/v1/query_range"
FIRING = 'ALERTS{alertstate="firing"}'
MAX_POINTS = 10_000  # Prometheus refuses more than 11 000 points per series


def firing(tenant: str | None = None) -> str:
    if tenant is None:
        return FIRING
    label = semconv.prometheus_label(semconv.TENANT)
    return f'ALERTS{{alertstate="firing",{label}={json.dumps(tenant, ensure_ascii=False)}}}'


@dataclass(frozen=True)
class Incident:
    alertname: str
    labels: tuple[tuple[str, str], ...]
    started: datetime
    resolved: datetime

    @property
    def duration(self) -> timedelta:
        return self.resolved - self.started


def default_step(since: datetime, until: datetime) -> timedelta:
    return max(timedelta(seconds=1), (until - since) / MAX_POINTS)


def incidents(
    prometheus_url: str,
    since: datetime,
    until: datetime,
    step: timedelta | None = None,
    tenant: str | None = None,
) -> list[Incident]:
    """Resolved firing periods of every alert in [since, until), oldest first; only ``tenant``'s
    (``botwatch_tenant``, which the tenants' rules group by) when given."""
    if until <= since:
        return []
    step = step or default_step(since, until)
    api = JsonApi("Prometheus", prometheus_url, env.PROMETHEUS_URL.name)
    try:
        body = api.get(
            QUERY_RANGE,
            {
                "query": firing(tenant),
                "start": f"{since.timestamp():.3f}",
                "end": f"{until.timestamp():.3f}",
                "step": f"{step.total_seconds():g}s",
            },
        )
    finally:
        api.close()
    if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
        raise api.garbage(QUERY_RANGE, "status success and data")
    found: list[Incident] = []
    seconds = step.total_seconds()
    for series in body["data"].get("result") or []:
        labels = {k: str(v) for k, v in (series.get("metric") or {}).items() if k not in ("__name__", "alertstate")}
        times = sorted(float(t) for t, _ in series.get("values") or [])
        runs: list[list[float]] = []
        for moment in times:
            if runs and moment - runs[-1][-1] <= seconds * 1.5:
                runs[-1].append(moment)
            else:
                runs.append([moment])
        for run in runs:
            began_inside = run[0] - seconds >= since.timestamp()
            ended_inside = run[-1] + seconds <= until.timestamp()
            if began_inside and ended_inside:
                found.append(
                    Incident(
                        labels.get("alertname", ""),
                        tuple(sorted(labels.items())),
                        datetime.fromtimestamp(run[0], UTC),
                        datetime.fromtimestamp(run[-1] + seconds, UTC),
                    )
                )
    return sorted(found, key=lambda i: (i.started, i.alertname))


def mttr(found: list[Incident]) -> timedelta | None:
    """Mean time to resolve, over resolved incidents; None without any."""
    if not found:
        return None
    return sum((i.duration for i in found), timedelta()) / len(found)
