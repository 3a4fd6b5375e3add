"""The scenario-version annotation on a real pipeline: SDK → our collector → Prometheus (remote write).

A bot process serves with ``botwatch.scenario.version=v1`` on its resource (as an operator sets it in
``OTEL_RESOURCE_ATTRIBUTES``), then the next process with ``v2``.  The collector turns the resource attribute
into the ``botwatch_scenario_version`` label; the dashboards' "New scenario version" annotation query, run by
Prometheus, must name v2 right after the switch and nothing while v1 keeps serving.  The query's windows (10 min
now, the hour before) are scaled to seconds here, nothing else in it is changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from harness.paths import REPO

import botwatch
from botwatch import semconv

pytestmark = pytest.mark.stack

SERVICE = "scenario-switch-bot"
LABEL = semconv.prometheus_label(semconv.SCENARIO_VERSION)
NOW_WINDOW, BEFORE_WINDOW = 12, 30  # seconds standing for the query's 10 minutes and 1 hour
V1_SECONDS, V2_SECONDS = 22, 7


def annotation(uid: str, name: str) -> dict:
    board = json.loads((REPO / "dashboards" / "json" / f"{uid}.json").read_text())
    found = [a for a in board["annotations"]["list"] if a.get("name") == name]
    assert len(found) == 1, [a.get("name") for a in board["annotations"]["list"]]
    return found[0]


def scaled(expr: str) -> str:
    assert "[10m]" in expr and "[1h] offset 10m" in expr, expr
    expr = expr.replace("[1h] offset 10m", f"[{BEFORE_WINDOW}s] offset {NOW_WINDOW}s")
    return expr.replace("[10m]", f"[{NOW_WINDOW}s]").replace("$job", SERVICE)


def serve(version: str, seconds: float, endpoint: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> float:
    """One bot process's life with ``version`` on its resource: a reply every 0.3 s; returns when it stopped."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"{semconv.SCENARIO_VERSION}={version}")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1000")
    monkeypatch.setenv("BOTWATCH_SECRET_FILE", str(tmp / "secret"))
    botwatch.init(service_name=SERVICE, endpoint=endpoint)
    try:
        deadline, number = time.time() + seconds, 0
        while time.time() < deadline:
            number += 1
            with botwatch.conversation(f"{version}-{number}", channel="telegram") as conv:
                with conv.turn("Сколько стоит стрижка?") as turn:
                    turn.intent("price", confidence=0.9)
                    turn.reply("1500 ₽")
            time.sleep(0.3)
        botwatch.flush()
    finally:
        botwatch.shutdown()
    return time.time()


def test_a_scenario_switch_is_marked_and_a_steady_version_is_not(collector, promql, tmp_path, monkeypatch):
    for uid in ("botwatch-overview", "botwatch-funnel"):
        marker = annotation(uid, "New scenario version")
        assert LABEL in marker["titleFormat"] and LABEL in marker["tagKeys"]
    expr = scaled(annotation("botwatch-overview", "New scenario version")["expr"])
    v1_end = serve("v1", V1_SECONDS, collector.otlp_http_url, tmp_path, monkeypatch)
    v2_end = serve("v2", V2_SECONDS, collector.otlp_http_url, tmp_path, monkeypatch)
    count = semconv.TURN_DURATION.prometheus_series[2]
    promql.wait_for(f'{count}{{job="{SERVICE}", {LABEL}="v2"}}', timeout=30)
    time.sleep(2)  # the last points of v2 (the remote write WAL sends in batches)

    def versions(at: float) -> set[str]:
        return {r["metric"].get(LABEL, "") for r in promql.query(expr, at=at)}

    # v1 had served for longer than the "now" window: no marker while it keeps serving
    assert versions(v1_end - 2) == set()
    # right after the switch, v2 is new and v1 is not
    assert versions(v2_end) == {"v2"}
    # with nothing served before, a first version is marked too (the dashboard shows the first start)
    assert versions(v1_end - V1_SECONDS + NOW_WINDOW - 2) == {"v1"}
