"""The queries in the files botwatch ships: dashboards, alert and recording rules, data source links."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from harness.binaries import REPO

from querygrammar.checker import Query
from querygrammar.grafana import MODES, render

DASHBOARDS = sorted((REPO / "dashboards" / "json").glob("*.json"))
RULE_FILES = sorted((REPO / "alerts" / "rules").glob("*.yml"))
DATASOURCES = REPO / "dashboards" / "provisioning" / "datasources" / "botwatch.yml"
LANGUAGE = {"prometheus": "promql", "loki": "logql", "tempo": "traceql"}
FIELD = {"prometheus": "expr", "loki": "expr", "tempo": "query"}
LABEL_VALUES = re.compile(r"label_values\((.+), *(\w+)\)")
# What Grafana puts in a trace -> logs / metrics link for one span of the demo bot.
SPAN_CONTEXT = {
    '__span.tags["service.name"]': "salon-bot",
    "__trace.traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
    "__tags": 'job="salon-bot"',
}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row keeps its panels inside


def dashboard_targets(path: Path) -> Iterator[tuple[str, str, str]]:
    """(data source type, query text, where) of every panel target."""
    board = json.loads(path.read_text(encoding="utf-8"))
    for panel in _panels(board.get("panels", [])):
        for target in panel.get("targets", []):
            ds = (target.get("datasource") or panel.get("datasource") or {}).get("type")
            assert ds in LANGUAGE, f"{path.name} / {panel.get('title')}: data source type {ds!r} is not checked"
            yield ds, target.get(FIELD[ds], ""), f"{path.name} / {panel.get('title')} / {target.get('refId')}"


def count_targets(node: Any) -> int:
    """Every entry of every "targets" list anywhere in the JSON, however deep: what must be checked."""
    if isinstance(node, Mapping):
        own = len(node["targets"]) if isinstance(node.get("targets"), list) else 0
        return own + sum(count_targets(v) for v in node.values())
    return sum(count_targets(v) for v in node) if isinstance(node, list) else 0


def dashboard_queries() -> list[Query]:
    """Every target in every rendering mode (All, one value, two values)."""
    out = []
    for path in DASHBOARDS:
        variables = json.loads(path.read_text(encoding="utf-8"))["templating"]["list"]
        for ds, text, where in dashboard_targets(path):
            for mode in MODES:
                out.append(Query(LANGUAGE[ds], render(text, variables, ds, mode), f"{where} [{mode}]"))
    return out


def annotation_queries() -> list[Query]:
    """Every annotation query (the change markers), in every rendering mode."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for annotation in board.get("annotations", {}).get("list", []):
            if annotation.get("builtIn"):
                continue  # Grafana's own "Annotations & Alerts": no query
            ds = annotation["datasource"]["type"]
            where = f"{path.name} / annotation {annotation['name']}"
            for mode in MODES:
                text = render(annotation[FIELD[ds]], board["templating"]["list"], ds, mode)
                out.append(Query(LANGUAGE[ds], text, f"{where} [{mode}]"))
    return out


def count_annotations() -> int:
    """Annotations with a query, counted from the raw JSON."""
    return sum(
        1
        for path in DASHBOARDS
        for a in json.loads(path.read_text(encoding="utf-8")).get("annotations", {}).get("list", [])
        if "expr" in a or "query" in a
    )


def variable_queries() -> list[Query]:
    """The series selector of every ``label_values(selector, label)`` drop-down, as Prometheus gets it."""
    out = []
    for path in DASHBOARDS:
        variables = json.loads(path.read_text(encoding="utf-8"))["templating"]["list"]
        for variable in variables:
            if variable.get("type") != "query":
                continue
            found = LABEL_VALUES.fullmatch(variable.get("definition", ""))
            assert found, f"{path.name}: variable ${variable['name']} is not label_values(selector, label)"
            for mode in MODES:
                selector = render(found.group(1), variables, "prometheus", mode)
                out.append(Query("promql", selector, f"{path.name} / variable ${variable['name']} [{mode}]"))
    return out


def count_variable_queries() -> int:
    return sum(
        1
        for path in DASHBOARDS
        for v in json.loads(path.read_text(encoding="utf-8"))["templating"]["list"]
        if v.get("type") == "query"
    )


def rule_queries() -> list[Query]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                # "$1" is label_replace's capture group (the tenant joins), not a dashboard variable.
                assert not re.search(r"\$(?!\d)", rule["expr"]), (
                    f"{path.name} / {name}: a template variable in a rule expr"
                )
                out.append(Query("promql", rule["expr"], f"{path.relative_to(REPO)} / {name}"))
    return out


def count_rule_exprs() -> int:
    return sum(len(re.findall(r"^\s*(?:- )?expr:", p.read_text(encoding="utf-8"), re.M)) for p in RULE_FILES)


def datasource_queries() -> list[Query]:
    """Queries of the Tempo data source's trace -> logs and trace -> metrics links."""
    text = DATASOURCES.read_text(encoding="utf-8").replace("$$", "$")  # provisioning: $$ is a literal $
    out = []
    for source in yaml.safe_load(text)["datasources"]:
        data = source.get("jsonData", {})
        links = data.get("tracesToLogsV2", {})
        if links.get("customQuery"):
            lang = LANGUAGE[_type_of(yaml.safe_load(text), links["datasourceUid"])]
            out.append(Query(lang, render(links["query"], [], "loki", "one", SPAN_CONTEXT), "tracesToLogsV2"))
        for item in data.get("tracesToMetrics", {}).get("queries", []):
            query = render(item["query"], [], "prometheus", "one", SPAN_CONTEXT)
            out.append(Query("promql", query, f"tracesToMetrics / {item['name']}"))
    return out


def count_datasource_queries() -> int:
    return len(re.findall(r"^\s*(?:- )?query:", DATASOURCES.read_text(encoding="utf-8"), re.M))


def _type_of(config: Mapping[str, Any], uid: str) -> str:
    return next(str(s["type"]) for s in config["datasources"] if s["uid"] == uid)
