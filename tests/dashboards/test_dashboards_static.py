"""Dashboards without the stack: generated JSON is committed, names are checked,
thresholds match the alert rules, and the JSON fits the pinned Grafana."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
import yaml
from harness.paths import REPO

sys.path.insert(0, str(REPO))  # the dashboards/ generator lives at the repository root

import dashboards
from botwatch import semconv
from dashboards import panels as p
from dashboards.builder import DashboardError, make_dashboard
from dashboards.targets import PromTarget

JSON_DIR = REPO / "dashboards" / "json"
PROVISIONING = REPO / "dashboards" / "provisioning"
RULES = REPO / "alerts" / "rules"

# Grafana releases the dashboards are checked against.  "schema": the latest
# dashboard schemaVersion the release migrates to (LATEST_VERSION in
# apps/dashboard/pkg/migration/schemaversion/migrations.go); "panels": the core
# panel plugins it ships (public/app/features/plugins/built_in_plugins.ts, plus
# "row", which is a layout element, not a plugin).  Source: grafana/grafana at
# tag v12.1.1.
GRAFANA_RELEASES: dict[str, dict[str, Any]] = {
    "12.1.1": {
        "schema": 41,
        "panels": frozenset(
            {
                "alertlist",
                "annolist",
                "barchart",
                "bargauge",
                "candlestick",
                "canvas",
                "dashlist",
                "datagrid",
                "debug",
                "flamegraph",
                "gauge",
                "geomap",
                "gettingstarted",
                "heatmap",
                "histogram",
                "live",
                "logs",
                "news",
                "nodeGraph",
                "piechart",
                "stat",
                "state-timeline",
                "status-history",
                "table",
                "text",
                "timeseries",
                "traces",
                "trend",
                "welcome",
                "xychart",
                "row",
            }
        ),
        "variable_types": frozenset({"query", "textbox", "custom", "constant", "interval", "datasource", "adhoc"}),
    },
}


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(JSON_DIR.glob("*.json"))}


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def prom_exprs(panel: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in panel.get("targets", []) if t.get("datasource", {}).get("type") == "prometheus"]


def threshold_values(panel: dict[str, Any]) -> set[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return {float(s["value"]) for s in steps if s["value"] is not None}


def recording_rules() -> dict[str, str]:
    rules = {}
    for path in RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    rules.setdefault(rule["record"], str(rule["expr"]))
    return rules


def thresholds() -> dict[str, float]:
    prefix = "botwatch:threshold:"
    return {
        name.removeprefix(prefix): float(expr.strip().removeprefix("vector(").removesuffix(")"))
        for name, expr in recording_rules().items()
        if name.startswith(prefix)
    }


def le_matcher_of(expr: str, bucket_series: str) -> set[str]:
    return set(re.findall(re.escape(bucket_series) + r'\{[^}]*?(le=~"[^"]*")', expr))


# --- (1) committed JSON is what the generator produces -----------------------
def test_committed_json_equals_generator_output():
    assert dashboards.differences() == [], "dashboards/json is stale: run `python -m dashboards` and commit"


def test_generator_output_is_stable_and_has_no_timestamps():
    first, second = dashboards.render_all(), dashboards.render_all()
    assert first == second
    for text in first.values():
        assert not re.search(r"20\d\d-\d\d-\d\dT", text)


def test_uids_and_variables_the_alerts_link_to():
    boards = load_dashboards()
    assert set(boards) == {"botwatch-overview", "botwatch-funnel", "botwatch-audit", "botwatch-pipeline"}
    for uid, board in boards.items():
        assert board["uid"] == uid
        names = [v["name"] for v in board["templating"]["list"]]
        assert "job" in names, uid
    for uid in ("botwatch-overview", "botwatch-funnel", "botwatch-audit"):
        names = [v["name"] for v in boards[uid]["templating"]["list"]]
        assert {"job", "channel", "variant", "model"} <= set(names)
    annotations = [
        rule["annotations"].get("dashboard")
        for path in RULES.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert {a for a in annotations if a} <= set(boards)


def test_panel_ids_unique_and_every_panel_described():
    for uid, board in load_dashboards().items():
        ids = [panel["id"] for panel in all_panels(board)]
        assert len(ids) == len(set(ids)), uid
        for panel in all_panels(board):
            if panel["type"] not in ("row", "text"):
                assert panel.get("description"), (uid, panel["title"])


# --- (2) bad input: an unknown metric fails with the panel named ---------------
def test_unknown_metric_fails_the_build_naming_the_panel():
    grid = p.Grid()
    panel = p.timeseries(grid, "Leads lost", "test", [PromTarget("sum(rate(botwatch_leads_lost_total[5m]))")], p.COUNT)
    with pytest.raises(DashboardError) as error:
        make_dashboard("botwatch-test", "test", "", [panel], [])
    assert "'Leads lost'" in str(error.value)
    assert "botwatch_leads_lost_total" in str(error.value)


def test_unknown_label_fails_the_build_naming_the_panel():
    panel = p.stat(
        p.Grid(), "Turns", "test", [PromTarget('sum(botwatch_turn_duration_seconds_count{botwatch_chanel="x"})')],
        p.COUNT,
    )  # fmt: skip
    with pytest.raises(DashboardError, match=r"panel 'Turns'.*botwatch_chanel"):
        make_dashboard("botwatch-test", "test", "", [panel], [])


def test_generator_command_reports_the_panel(monkeypatch, capsys, tmp_path):
    def broken():
        panel = p.stat(p.Grid(), "Broken panel", "test", [PromTarget("botwatch_nope_total")], p.COUNT)
        return make_dashboard("botwatch-broken", "broken", "", [panel], [])

    monkeypatch.setitem(dashboards.BUILDERS, "botwatch-broken", broken)
    assert dashboards.main(["--output", str(tmp_path)]) == 2
    assert "'Broken panel'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))


def test_every_committed_query_names_known_metrics():
    from dashboards import promql

    for uid, board in load_dashboards().items():
        for panel in all_panels(board):
            for expr in prom_exprs(panel):
                assert promql.problems(expr) == [], (uid, panel["title"], expr)


# --- (5) panels that speak of an alert's subject use its threshold and metric ---
def test_sla_panels_use_the_alert_bucket_and_thresholds():
    rules, limits = recording_rules(), thresholds()
    series = semconv.TURN_DURATION.prometheus_series[0]
    rule_le = le_matcher_of(rules["job_channel:botwatch_turns_over_sla:ratio_rate5m"], series)
    checked = 0
    for board in load_dashboards().values():
        for panel in all_panels(board):
            exprs = prom_exprs(panel)
            les = set().union(*(le_matcher_of(e, series) for e in exprs)) if exprs else set()
            if les:
                checked += 1
                assert les == rule_le, panel["title"]
                assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit", panel["title"]
                assert threshold_values(panel) == {
                    limits["turn_sla_breach_warning_ratio"],
                    limits["turn_sla_breach_critical_ratio"],
                }, panel["title"]
            elif any("histogram_quantile" in e and series in e for e in exprs):
                checked += 1
                assert panel["fieldConfig"]["defaults"]["unit"] == "s", panel["title"]
                assert threshold_values(panel) == {semconv.SLA_SECONDS}, panel["title"]
    assert checked >= 5


def test_confidence_panels_use_the_alert_bucket_and_threshold():
    rules, limits = recording_rules(), thresholds()
    series = semconv.INTENT_CONFIDENCE_METRIC.prometheus_series[0]
    rule_le = le_matcher_of(rules["job_channel:botwatch_intent_confidence_low:ratio_rate15m"], series)
    checked = 0
    for board in load_dashboards().values():
        for panel in all_panels(board):
            les = set().union(*(le_matcher_of(e, series) for e in prom_exprs(panel))) if prom_exprs(panel) else set()
            if les:
                checked += 1
                assert les == rule_le, panel["title"]
                assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
                assert threshold_values(panel) == {limits["low_intent_confidence_ratio"]}, panel["title"]
    assert checked >= 2


def test_lead_creation_panels_use_the_alert_threshold():
    limits = thresholds()
    checked = 0
    for board in load_dashboards().values():
        for panel in all_panels(board):
            exprs = prom_exprs(panel)
            if any('botwatch_crm_action="lead.create"' in e and 'botwatch_crm_outcome="error"' in e for e in exprs):
                checked += 1
                assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
                # success rate: red below 1 - the failure ratio the alert fires at
                assert sorted(threshold_values(panel)) == pytest.approx([1 - limits["lead_create_failure_ratio"]])
                assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["color"] == "red"
    assert checked >= 2


def test_pipeline_panels_use_the_alert_thresholds():
    limits = thresholds()
    loss_metrics = (
        "otelcol_receiver_refused",
        "otelcol_exporter_send_failed",
        "otelcol_exporter_enqueue_failed",
        "otel_sdk_processor_span_dropped",
    )
    board = load_dashboards()["botwatch-pipeline"]
    checked = 0
    for panel in all_panels(board):
        exprs = prom_exprs(panel)
        if panel["fieldConfig"]["defaults"].get("unit") != "percentunit":
            continue
        checked += 1
        if any("otelcol_exporter_queue" in e for e in exprs):
            assert threshold_values(panel) == {limits["exporter_queue_fill_ratio"]}
        else:
            assert any(m in e for m in loss_metrics for e in exprs), panel["title"]
            assert threshold_values(panel) == {limits["telemetry_loss_ratio"]}, panel["title"]
    assert checked == 5


def test_threshold_lines_drawn_from_rules_match_the_colours():
    limits = thresholds()
    for board in load_dashboards().values():
        for panel in all_panels(board):
            drawn = {
                limits[m]
                for e in prom_exprs(panel)
                for m in re.findall(r"botwatch:threshold:(\w+)", e)
            }  # fmt: skip
            if drawn:
                assert drawn <= threshold_values(panel), panel["title"]


def test_panels_link_to_the_alerts_they_mirror():
    boards = load_dashboards()
    for path in RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                uid = rule.get("annotations", {}).get("dashboard")
                if uid:
                    urls = [link["url"] for panel in all_panels(boards[uid]) for link in panel.get("links", [])]
                    assert any(url.endswith(f"search={rule['alert']}") for url in urls), rule["alert"]


# --- (6) the JSON loads in the pinned Grafana ---------------------------------
def pinned_grafana() -> str:
    for line in (REPO / "deploy" / "versions.env").read_text().splitlines():
        if line.startswith("GRAFANA_VERSION="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("GRAFANA_VERSION is not in deploy/versions.env")


def test_dashboards_fit_the_pinned_grafana():
    version = pinned_grafana()
    assert version in GRAFANA_RELEASES, f"add Grafana {version}'s schema version and panel list to this test"
    release = GRAFANA_RELEASES[version]
    for uid, board in load_dashboards().items():
        assert 36 <= board["schemaVersion"] <= release["schema"], uid
        for panel in all_panels(board):
            assert panel["type"] in release["panels"], (uid, panel["title"], panel["type"])
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (uid, panel["title"])
        for variable in board["templating"]["list"]:
            assert variable["type"] in release["variable_types"]


def test_provisioning_wires_the_data_sources_together():
    config = yaml.safe_load((PROVISIONING / "datasources" / "botwatch.yml").read_text())
    by_uid = {ds["uid"]: ds for ds in config["datasources"]}
    assert {uid: ds["type"] for uid, ds in by_uid.items()} == {
        "prometheus": "prometheus",
        "loki": "loki",
        "tempo": "tempo",
    }
    prom, loki, tempo = by_uid["prometheus"]["jsonData"], by_uid["loki"]["jsonData"], by_uid["tempo"]["jsonData"]
    assert prom["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "tempo", "urlDisplayLabel": "Open trace"}
    ]
    assert [(f["matcherType"], f["matcherRegex"], f["datasourceUid"]) for f in loki["derivedFields"]] == [
        ("label", "trace_id", "tempo")
    ]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert tempo["tracesToMetrics"]["datasourceUid"] == "prometheus"
    used = {
        t["datasource"]["uid"]
        for board in load_dashboards().values()
        for panel in all_panels(board)
        for t in panel.get("targets", [])
    }
    assert used <= set(by_uid)
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "botwatch.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["folder"] == "botwatch"
