"""The semantic-convention rules the semconv tests apply, in one place.

* The OpenTelemetry catalogue: every attribute and metric name the installed
  ``opentelemetry-semantic-conventions`` package defines, and which of them are
  deprecated (read from the package's own docstrings, ``Deprecated: ...``).
  GenAI names are marked "moved to the GenAI semantic conventions repository"
  there, which is a move, not a deprecation: they stay valid.
* botwatch's registry (``semconv_registry/*.yaml``) and what disagrees between
  it and ``botwatch.semconv``.
"""

from __future__ import annotations

import ast
import functools
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import opentelemetry.semconv
import yaml

import botwatch

REGISTRY_DIR = Path(botwatch.__file__).parent / "semconv_registry"
NAMESPACE = "botwatch."
_MOVED = "Moved to the [OpenTelemetry GenAI semantic conventions repository]"
ATTRIBUTE_TYPES = {"string": str, "int": int, "double": float, "boolean": bool, "string[]": tuple}
GROUP_TYPES = {"attribute_group", "span", "event", "metric"}
INSTRUMENTS = {"counter", "updowncounter", "gauge", "histogram"}
STABILITY = {"stable", "development", "alpha", "beta", "release_candidate", "deprecated"}


@dataclass
class Catalogue:
    attributes: set[str] = field(default_factory=set)
    metrics: dict[str, str] = field(default_factory=dict)  # name -> docstring
    deprecated: dict[str, str] = field(default_factory=dict)  # attribute or metric -> why


def _constants(path: Path) -> list[tuple[str, str]]:
    """(value, docstring) of every ``NAME: Final = "value"`` followed by a docstring."""
    body = ast.parse(path.read_text()).body
    out = []
    for node, following in itertools.pairwise(body):
        if not isinstance(node, ast.AnnAssign | ast.Assign):
            continue
        value = node.value
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            continue
        doc = ""
        if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
            doc = str(following.value.value).strip()
        out.append((value.value, doc))
    return out


@functools.cache
def otel_catalogue() -> Catalogue:
    root = Path(opentelemetry.semconv.__file__).parent
    catalogue = Catalogue()
    for kind in ("attributes", "metrics"):
        for path in [*(root / kind).glob("*.py"), *(root / "_incubating" / kind).glob("*.py")]:
            for name, doc in _constants(path):
                if kind == "attributes":
                    catalogue.attributes.add(name)
                else:
                    catalogue.metrics.setdefault(name, doc)
                first = doc.splitlines()[0] if doc else ""
                # "Moved to the GenAI repository" alone is a move; "Replaced by x, which has moved" is not.
                if first.startswith("Deprecated:") and (_MOVED not in first or "Replaced by" in first):
                    catalogue.deprecated[name] = first
    return catalogue


def metric_unit(name: str) -> str | None:
    """The unit the conventions give a standard metric (``Unit: s`` in its docstring)."""
    for line in otel_catalogue().metrics.get(name, "").splitlines():
        if line.startswith("Unit: "):
            return line.removeprefix("Unit: ").strip()
    return None


# -- botwatch's registry -------------------------------------------------------------
@dataclass
class Registry:
    groups: list[dict[str, Any]]
    manifest: dict[str, Any]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [g for g in self.groups if g.get("type") == kind]

    @property
    def attributes(self) -> dict[str, dict[str, Any]]:
        return {a["id"]: a for g in self.of_type("attribute_group") for a in g.get("attributes", []) if "id" in a}

    @property
    def events(self) -> set[str]:
        return {g["name"] for g in self.of_type("event")}

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return {g["metric_name"]: g for g in self.of_type("metric")}

    def python_type(self, attribute: str) -> type:
        kind = self.attributes[attribute]["type"]
        if isinstance(kind, dict):  # an enum: the type of its members' values
            return type(kind["members"][0]["value"])
        return ATTRIBUTE_TYPES[kind]


def load_registry(directory: Path = REGISTRY_DIR) -> Registry:
    groups: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "registry_manifest.yaml":
            continue
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    manifest = yaml.safe_load((directory / "registry_manifest.yaml").read_text())
    return Registry(groups, manifest)


def _format_problems(registry: Registry) -> list[str]:
    """What Weaver's v1 syntax needs that a group or attribute lacks."""
    problems = []
    ids = [g.get("id") for g in registry.groups]
    problems += [f"group id {i!r} appears twice" for i in {i for i in ids if ids.count(i) > 1}]
    for group in registry.groups:
        where = f"group {group.get('id')!r}"
        if group.get("type") not in GROUP_TYPES:
            problems.append(f"{where}: type {group.get('type')!r} is not one of {sorted(GROUP_TYPES)}")
        if not group.get("brief"):
            problems.append(f"{where}: no brief")
        if group.get("type") != "attribute_group" and group.get("stability") not in STABILITY:
            problems.append(f"{where}: stability {group.get('stability')!r}")
        if group.get("type") == "metric" and group.get("instrument") not in INSTRUMENTS:
            problems.append(f"{where}: instrument {group.get('instrument')!r}")
        if group.get("type") == "metric" and not isinstance(group.get("unit"), str):
            problems.append(f"{where}: unit must be a string")
        if group.get("type") == "event" and not group.get("name"):
            problems.append(f"{where}: an event needs its name")
        for attribute in group.get("attributes", []):
            if "ref" in attribute:
                continue
            what = f"{where}: attribute {attribute.get('id')!r}"
            for key in ("id", "type", "brief", "stability", "examples"):
                if key not in attribute:
                    problems.append(f"{what}: no {key}")
            kind = attribute.get("type")
            if not (isinstance(kind, dict) and kind.get("members")) and kind not in ATTRIBUTE_TYPES:
                problems.append(f"{what}: type {kind!r}")
    return problems


def botwatch_names(semconv: ModuleType) -> tuple[set[str], set[str]]:
    """(attribute names, event names) semconv.py defines in the botwatch. namespace."""
    attributes, events = set(), set()
    for name, value in vars(semconv).items():
        if not (name.isupper() and isinstance(value, str) and value.startswith(NAMESPACE)) or value.endswith("."):
            continue
        (events if name.startswith("EVENT_") else attributes).add(value)
    events |= {semconv.funnel_event_name(stage) for stage in semconv.FUNNEL_STAGES}
    return attributes, events


def registry_problems(registry: Registry, semconv: ModuleType) -> list[str]:
    """Everything on which the registry and semconv.py disagree (empty: they agree)."""
    problems = _format_problems(registry)
    attributes, events = botwatch_names(semconv)
    defined = registry.attributes
    problems += [f"attribute {a} is in semconv.py, not in the registry" for a in sorted(attributes - set(defined))]
    problems += [f"attribute {a} is in the registry, not in semconv.py" for a in sorted(set(defined) - attributes)]
    problems += [f"event {e} is in semconv.py, not in the registry" for e in sorted(events - registry.events)]
    problems += [f"event {e} is in the registry, not in semconv.py" for e in sorted(registry.events - events)]
    every = [v for v in vars(semconv).values() if isinstance(v, semconv.Metric)]
    ours = {m.name: m for m in every if m.name.startswith(NAMESPACE)}
    problems += [f"metric {m} is in semconv.py, not in the registry" for m in sorted(set(ours) - set(registry.metrics))]
    problems += [f"metric {m} is in the registry, not in semconv.py" for m in sorted(set(registry.metrics) - set(ours))]
    for name in set(ours) & set(registry.metrics):
        spec, group = ours[name], registry.metrics[name]
        if group.get("instrument") != spec.instrument or group.get("unit") != spec.unit:
            problems.append(f"metric {name}: registry says {group.get('instrument')} in {group.get('unit')!r}")
        refs = {a["ref"] for a in group.get("attributes", [])}
        if refs != set(spec.attributes):
            problems.append(f"metric {name}: registry attributes {sorted(refs)} != semconv {sorted(spec.attributes)}")
    enums = {
        semconv.FUNNEL_STAGE: set(semconv.FUNNEL_STAGES),
        semconv.CRM_OUTCOME: {semconv.CRM_OUTCOME_SUCCESS, semconv.CRM_OUTCOME_ERROR},
        semconv.REVIEW_VERDICT: {semconv.REVIEW_VERDICT_CORRECT, semconv.REVIEW_VERDICT_WRONG},
        semconv.GATEWAY_OUTCOME: {semconv.GATEWAY_ACCEPTED, semconv.GATEWAY_DUPLICATE, semconv.GATEWAY_REJECTED},
        semconv.BUDGET_KIND: {semconv.BUDGET_KIND_VALUES, semconv.BUDGET_KIND_SERIES},
    }
    for attribute, values in enums.items():
        kind = defined.get(attribute, {}).get("type")
        members = {m["value"] for m in kind["members"]} if isinstance(kind, dict) else set()
        if members != values:
            problems.append(f"attribute {attribute}: registry members {sorted(members)} != semconv {sorted(values)}")
    catalogue = otel_catalogue()
    for group in registry.groups:
        for ref in (a["ref"] for a in group.get("attributes", []) if "ref" in a):
            if ref.startswith(NAMESPACE):
                if ref not in defined:
                    problems.append(f"group {group['id']}: ref {ref} is defined nowhere")
            elif ref not in catalogue.attributes:
                problems.append(f"group {group['id']}: ref {ref} is no OpenTelemetry attribute")
            elif ref in catalogue.deprecated:
                problems.append(f"group {group['id']}: ref {ref} is deprecated ({catalogue.deprecated[ref]})")
    dependency = (registry.manifest.get("dependencies") or [{}])[0].get("registry_path", "")
    if f"/v{semconv.SEMCONV_VERSION}.zip" not in dependency:
        problems.append(f"manifest depends on {dependency!r}, semconv.py aligns to {semconv.SEMCONV_VERSION}")
    return problems
