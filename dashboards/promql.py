"""Just enough PromQL reading to check a panel's query against the catalog.

Not a parser: it finds the metric names an expression selects and the label
names used in each selector, which is what a typo or a renamed metric breaks.
Prometheus itself parses every query in tests/dashboards/test_dashboards_stack.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboards import catalog

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_IDENT = re.compile(r"(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_NUMBER_SUFFIX = re.compile(r"^\d")
KEYWORDS = frozenset(
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
        "offset", "bool", "inf", "nan", "atan2",
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Selection:
    metric: str
    labels: frozenset[str]


def selections(expr: str) -> list[Selection]:
    """Every metric selected in ``expr`` with the labels its matchers name."""
    text = _STRING.sub('""', expr)
    text = _RANGE.sub("", text)
    found: list[Selection] = []

    def selector(match: re.Match[str]) -> str:
        name = match.group(1)
        labels = frozenset(_MATCHER_LABEL.findall(match.group(2)))
        if name and name not in KEYWORDS:
            found.append(Selection(name, labels))
        return " "

    text = _SELECTOR.sub(selector, text)
    text = _GROUPING.sub(" ", text)
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS or _NUMBER_SUFFIX.match(name):
            continue
        found.append(Selection(name, frozenset()))
    return found


def grouping_labels(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    labels: set[str] = set()
    for keyword, inside in _GROUPING.findall(text):
        if keyword in ("by", "without", "on", "ignoring", "group_left", "group_right"):
            labels.update(part.strip() for part in inside.split(",") if part.strip())
    return labels


def problems(expr: str) -> list[str]:
    """What is wrong with the names in ``expr`` (empty: nothing found)."""
    known = catalog.known_metrics()
    found: list[str] = []
    selected = selections(expr)
    all_labels: set[str] = set()
    for item in selected:
        if item.metric not in known:
            found.append(f"unknown metric {item.metric!r}")
            continue
        labels = known[item.metric]
        if labels is None:
            continue
        all_labels |= labels
        for label in sorted(item.labels - labels):
            found.append(f"metric {item.metric!r} has no label {label!r} (it has: {', '.join(sorted(labels))})")
    checked = [known.get(s.metric) for s in selected]
    if selected and all(labels is not None for labels in checked):
        extra = {"le", "otel_signal"}  # histogram buckets; the signal label the pipeline rules add
        for label in sorted(grouping_labels(expr) - all_labels - extra):
            found.append(f"grouping by {label!r}, which none of the selected metrics has")
    return found
