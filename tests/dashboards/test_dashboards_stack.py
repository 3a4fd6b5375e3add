"""Every dashboard query against what the real pipeline delivers.

The simulator (faults on) runs once through our collector into Prometheus
(remote write) and the OTLP capture standing where Tempo and Loki stand.
PromQL: every query of every panel, variables substituted, is executed by
that Prometheus and must return data.  LogQL / TraceQL: here each query is
checked against the exact label and attribute names the collector sent to
the Loki and Tempo OTLP endpoints, and evaluated (a small evaluator for the
subset the dashboards use) over those records: it must match at least one.
The LogQL queries also run on the real Loki in tests/test_loki_stack.py;
Tempo cannot be built here.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any

import pytest
import requests
import yaml
from harness.paths import REPO

import botwatch
from botwatch import semconv
from botwatch.demo.faults import parse_faults
from botwatch.demo.runner import run_demo

sys.path.insert(0, str(REPO))

pytestmark = pytest.mark.stack
SERVICE = "dash-salon-bot"
TENANT = "dash-salon"  # botwatch.tenant on the resource: every series gets botwatch_tenant
FAULTS = "slow_llm=0.3,low_confidence=0.3,crm_errors=0.5"
JSON_DIR = REPO / "dashboards" / "json"
ALL = ".*"
RANGE_VARS = {"$__rate_interval": "30s", "$__interval": "15s", "$__range": "10m"}

# Loki's OTLP ingestion (3.x defaults): these resource attributes become
# stream labels, dots as underscores; every other attribute of the record
# and its trace_id / span_id become structured metadata.
LOKI_INDEX_RESOURCE_ATTRIBUTES = ("service.name", "service.namespace", "service.instance.id", "deployment.environment")
TRACEQL_INTRINSICS = ("name", "status", "kind", "duration")


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(JSON_DIR.glob("*.json"))}


def targets(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for uid, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == kind:
                    found.append((uid, panel["title"], target))
    return found


def substitute(text: str, values: dict[str, str]) -> str:
    for name in sorted({**RANGE_VARS, **values}, key=len, reverse=True):
        text = text.replace(name, {**RANGE_VARS, **values}[name])
    return text


@pytest.fixture(scope="session")
def simulated(collector, prometheus, promql, otlp_capture, alertmanager, tmp_path_factory):
    """The simulator through the real stack, once; Alertmanager scraped for its notification counters."""
    config = yaml.safe_load(prometheus.config_path.read_text())
    if not any(job["job_name"] == "alertmanager" for job in config["scrape_configs"]):
        # deploy/prometheus.yml has no alertmanager job yet (see the report); add it to this run's copy.
        config["scrape_configs"].append(
            {"job_name": "alertmanager", "static_configs": [{"targets": [alertmanager.target]}]}
        )
        prometheus.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        prometheus.reload()
    mp = pytest.MonkeyPatch()
    mp.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1000")
    mp.setenv("BOTWATCH_SECRET_FILE", str(tmp_path_factory.mktemp("dash-secret") / "s"))
    telemetry = botwatch.init(service_name=SERVICE, endpoint=collector.otlp_http_url, tenant=TENANT)
    try:
        result = run_demo(120, 30.0, parse_faults(FAULTS), 11)
        wrong = {semconv.REVIEW_VERDICT: "wrong"}
        telemetry.instruments.reviews.add(2, {semconv.INTENT: "booking", semconv.REVIEW_TRUE_INTENT: "price", **wrong})
        telemetry.instruments.reviews.add(1, {semconv.INTENT: "price", semconv.REVIEW_TRUE_INTENT: "booking", **wrong})
        for number in range(55):  # intents past the 50 slots of the label budget: that panel has hits to show
            with botwatch.conversation(f"dash-junk-{number}", channel="web") as conv, conv.turn("?") as turn:
                turn.intent(f"junk-{number}", confidence=0.5)
        time.sleep(3)  # a few more cumulative exports, so rate() has points
        botwatch.flush()
    finally:
        botwatch.shutdown()
        mp.undo()
    for expr in (
        f'botwatch_reviews_total{{job="{SERVICE}"}}',
        f'botwatch_turn_duration_seconds_count{{job="{SERVICE}"}}',
        'alertmanager_notifications_total{integration="telegram"}',
    ):
        promql.wait_for(expr, timeout=30)
    promql.wait_for(f'count(count_over_time(botwatch_llm_cost_total{{job="{SERVICE}"}}[1m]) >= 3)', timeout=30)
    return result


def prom_values() -> dict[str, str]:
    return {"$tenant": ALL, "$job": SERVICE, "$channel": ALL, "$variant": ALL, "$model": ALL}


def test_every_promql_panel_query_returns_data(simulated, prometheus):
    empty, failed = [], []
    session = requests.Session()
    for uid, title, target in targets("prometheus"):
        expr = substitute(target["expr"], prom_values())
        body = session.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        if body.get("status") != "success":
            failed.append(f"{uid} / {title}: {body.get('error')}\n    {expr}")
        elif not body["data"]["result"]:
            empty.append(f"{uid} / {title}\n    {expr}")
    assert not failed, "queries Prometheus rejects:\n" + "\n".join(failed)
    assert not empty, "queries without data after the simulator ran:\n" + "\n".join(empty)


def test_promql_with_one_value_chosen_per_variable_parses(simulated, prometheus):
    values = {"$tenant": TENANT, "$job": SERVICE, "$channel": "whatsapp", "$variant": "A", "$model": "gpt-4o-mini"}
    for uid, title, target in targets("prometheus"):
        expr = substitute(target["expr"], values)
        body = requests.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert body.get("status") == "success", (uid, title, body)


def test_change_annotations_mark_the_models_that_started_serving(simulated, prometheus):
    """The simulator's models all began serving minutes ago, so each is a 'new model' now; the queries run."""
    for uid in ("botwatch-overview", "botwatch-funnel"):
        annotations = [a for a in dashboards()[uid]["annotations"]["list"] if "expr" in a]
        assert {a["name"] for a in annotations} == {"New LLM model", "New bot release", "New scenario version"}, uid
        for annotation in annotations:
            expr = substitute(annotation["expr"], prom_values())
            body = requests.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10).json()
            assert body.get("status") == "success", (uid, annotation["name"], body)
            if annotation["name"] == "New LLM model":
                models = {r["metric"].get("gen_ai_request_model") for r in body["data"]["result"]}
                assert {"gpt-4o-mini", "yandexgpt-lite"} <= models, (uid, models)


def test_variable_queries_list_the_simulated_values(simulated, prometheus):
    for uid, board in dashboards().items():
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["definition"])
            assert match, (uid, variable["name"])
            selector = substitute(match.group(1), {"$job": SERVICE})
            url = f"{prometheus.url}/api/v1/label/{match.group(2)}/values"
            values = requests.get(url, params={"match[]": selector}, timeout=10).json()["data"]
            assert values, (uid, variable["name"], selector)
            if variable["name"] == "job":
                assert SERVICE in values
            if variable["name"] == "tenant":
                assert TENANT in values


def test_latency_panels_carry_exemplars_that_link_to_traces(simulated, prometheus, otlp_capture):
    trace_ids = {s["trace_id"] for s in otlp_capture.spans() if s["resource"].get("service.name") == SERVICE}
    exemplar_targets = [(u, t, x) for u, t, x in targets("prometheus") if x["exemplar"]]
    assert exemplar_targets
    for uid, title, target in exemplar_targets:
        expr = substitute(target["expr"], prom_values())
        params = {"query": expr, "start": time.time() - 600, "end": time.time() + 60}
        found = requests.get(f"{prometheus.url}/api/v1/query_exemplars", params=params, timeout=10).json()["data"]
        linked = {e["labels"].get("trace_id") for series in found for e in series["exemplars"]}
        assert linked & trace_ids, (uid, title)


# --- LogQL --------------------------------------------------------------------------
def loki_view(record: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(stream labels, structured metadata) Loki makes of one OTLP log record."""
    resource = record["resource"]
    labels = {semconv.prometheus_label(k): str(resource[k]) for k in LOKI_INDEX_RESOURCE_ATTRIBUTES if k in resource}
    metadata = {semconv.prometheus_label(k): str(v) for k, v in record["attributes"].items()}
    metadata.update(trace_id=record["trace_id"], span_id=record["span_id"])
    return labels, metadata


_LOKI_SELECTOR = re.compile(r"^\{([^}]*)\}")
_LOKI_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
_LOKI_FILTER = re.compile(r'\|\s*(\w+)\s*(=~|!~|!=|<=|>=|<|>|=)\s*("[^"]*"|[\d.]+)')


def compare(actual: str | None, op: str, expected: str) -> bool:
    if actual is None:
        return op in ("!=", "!~")
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if op == "=~":
        return re.fullmatch(expected, actual) is not None
    if op == "!~":
        return re.fullmatch(expected, actual) is None
    try:
        a, e = float(actual), float(expected)
    except ValueError:
        return False
    return {"<": a < e, "<=": a <= e, ">": a > e, ">=": a >= e}[op]


def test_logql_queries_use_delivered_names_and_match_records(simulated, otlp_capture):
    records = [r for r in otlp_capture.log_records() if r["resource"].get("service.name") == SERVICE]
    views = [loki_view(r) for r in records]
    stream_labels = {k for labels, _ in views for k in labels}
    metadata_keys = {k for _, meta in views for k in meta}
    failed_crm = next(r for r in records if r["attributes"].get(semconv.CRM_OUTCOME) == semconv.CRM_OUTCOME_ERROR)
    values = {**prom_values(), "$conversation": failed_crm["attributes"][semconv.GEN_AI_CONVERSATION_ID]}
    checked = targets("loki")
    assert len(checked) >= 2
    for uid, title, target in checked:
        query = substitute(target["expr"], values)
        selector = _LOKI_SELECTOR.match(query)
        assert selector, (title, query)
        matchers = _LOKI_MATCHER.findall(selector.group(1))
        filters = [(n, op, v.strip('"')) for n, op, v in _LOKI_FILTER.findall(query[selector.end() :])]
        assert query[selector.end() :].count("|") == len(filters), f"{title}: unsupported LogQL stage in {query}"
        for name, _, _ in matchers:
            assert name in stream_labels, f"{uid} / {title}: {name!r} is not a Loki stream label ({stream_labels})"
        for name, _, _ in filters:
            assert name in metadata_keys, f"{uid} / {title}: {name!r} is not delivered ({sorted(metadata_keys)})"
        hits = [
            meta
            for labels, meta in views
            if all(compare(labels.get(n), op, v) for n, op, v in matchers)
            and all(compare(meta.get(n), op, v) for n, op, v in filters)
        ]
        assert hits, f"{uid} / {title}: no delivered log record matches {query}"


# --- TraceQL ------------------------------------------------------------------------
_TRACEQL = re.compile(r"^\{(.*)\}\s*(?:\|\s*rate\(\)\s*by\s*\(([^)]*)\))?$")
_CONDITION = re.compile(r'^\s*([\w.]+)\s*(=~|!~|!=|<=|>=|<|>|=)\s*("[^"]*"|true|false|[\d.]+)\s*$')


def span_value(span: dict[str, Any], name: str) -> str | None:
    if name == "name":
        return str(span["name"])
    if name.startswith("span."):
        value = span["attributes"].get(name.removeprefix("span."))
    elif name.startswith("resource."):
        value = span["resource"].get(name.removeprefix("resource."))
    else:
        raise AssertionError(f"unsupported TraceQL field {name}")
    if isinstance(value, bool):
        return str(value).lower()
    return None if value is None else str(value)


def test_traceql_queries_use_delivered_attributes_and_match_spans(simulated, otlp_capture):
    spans = [s for s in otlp_capture.spans() if s["resource"].get("service.name") == SERVICE]
    delivered = {f"span.{k}" for s in spans for k in s["attributes"]} | {
        f"resource.{k}" for s in spans for k in s["resource"]
    }
    failed_crm = next(s for s in spans if s["attributes"].get(semconv.CRM_OUTCOME) == semconv.CRM_OUTCOME_ERROR)
    values = {**prom_values(), "$conversation": failed_crm["attributes"][semconv.GEN_AI_CONVERSATION_ID]}
    checked = targets("tempo")
    assert len(checked) >= 4
    for uid, title, target in checked:
        query = substitute(target["query"], values)
        match = _TRACEQL.match(query.strip())
        assert match, f"{title}: unsupported TraceQL {query}"
        conditions = []
        for part in match.group(1).split("&&"):
            condition = _CONDITION.match(part)
            assert condition, f"{title}: unsupported condition {part!r}"
            conditions.append((condition.group(1), condition.group(2), condition.group(3).strip('"')))
        grouping = [g.strip() for g in (match.group(2) or "").split(",") if g.strip()]
        for name in [c[0] for c in conditions] + grouping:
            assert name in TRACEQL_INTRINSICS or name in delivered, f"{uid} / {title}: {name!r} is not delivered"
        hits = [s for s in spans if all(compare(span_value(s, n), op, v) for n, op, v in conditions)]
        assert hits, f"{uid} / {title}: no delivered span matches {query}"
        for name in grouping:
            assert all(span_value(s, name) is not None for s in hits), f"{title}: {name} missing on matching spans"
