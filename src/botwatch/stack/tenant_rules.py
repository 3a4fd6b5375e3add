"""Per-tenant targets as Prometheus series: a rules file rendered from the tenants file.

Each target a tenant sets becomes one constant series labelled with the
tenant; the alert rules in alerts/rules/conversations.yml join on
``botwatch_tenant`` and fall back to the stack's defaults for tenants not
listed (and for series without a tenant)::

    botwatch:tenant:turn_sla_seconds{botwatch_tenant="salon-1", le="5"}         5
    botwatch:tenant:intent_confidence_floor{botwatch_tenant="salon-1", le="0.5"} 0.5
    botwatch:tenant:lead_create_failure_ratio{botwatch_tenant="salon-1"}         0.1

The ``le`` label is the histogram bucket edge the SLA and the confidence
floor select (a tenant's SLA must be a bucket edge; the tenants file checks).
1 000 tenants are at most 3 000 constant series: no per-tenant rule copies.

A second group, ``botwatch-tenant-buckets``, records the two ratios at the
tenants' own edges (``job_channel:botwatch_turns_over_tenant_sla:ratio_rate5m``,
``job_channel:botwatch_intent_confidence_low_tenant_floor:ratio_rate15m``) for
the tenants with their own SLA or floor only: its selectors name those tenants
(``botwatch_tenant=~"salon-1|clinic-2"``) and only the edges they use, so
Prometheus rates a few bucket series instead of every bucket of every tenant
(1 000 tenants: 190 000 series, 28-64 s a round under load).  No tenant with its
own SLA or floor: no such group, nothing to rate; the alert rules then take
the default edge for everyone (``<tenant ratio> or <default ratio>``).  Each
ratio's range window is the one of the default ratio it stands in for in the
rule files Prometheus loads, so a time-scaled copy of the rules (the tests'
``scaled_rules``) gets equally scaled tenant ratios.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botwatch import semconv
from botwatch.stack import yamlfile
from botwatch.tenants import Tenants, TenantsError

TENANT_LABEL = semconv.prometheus_label(semconv.TENANT)  # botwatch_tenant
SLA_SECONDS = "botwatch:tenant:turn_sla_seconds"
CONFIDENCE_FLOOR = "botwatch:tenant:intent_confidence_floor"
LEAD_FAILURE_RATIO = "botwatch:tenant:lead_create_failure_ratio"
SERIES = (SLA_SECONDS, CONFIDENCE_FLOOR, LEAD_FAILURE_RATIO)
# No longer group interval for these constants: Prometheus starts a group's first evaluation up to one
# interval late, and until then every tenant would have the default targets.  1 000 tenants cost
# 56-95 ms a round (benchmarks/tenants_scale.py), under 1 % of a core at a 15 s evaluation interval.
GROUP = "botwatch-tenant-targets"
BUCKETS_GROUP = "botwatch-tenant-buckets"
FILE_NAME = "tenant_targets.yml"
FLOOR_RATIO = "job_channel:botwatch_intent_confidence_low_tenant_floor:ratio_rate15m"
SLA_RATIO = "job_channel:botwatch_turns_over_tenant_sla:ratio_rate5m"
RECORDS = (FLOOR_RATIO, SLA_RATIO)
# The default ratio in alerts/rules/conversations.yml each tenant ratio stands in for (``tenant or default``),
# and its window there: the tenant ratio takes that rule's window from the rule files actually loaded.
STANDS_IN_FOR = {
    FLOOR_RATIO: "job_channel:botwatch_intent_confidence_low:ratio_rate15m",
    SLA_RATIO: "job_channel:botwatch_turns_over_sla:ratio_rate5m",
}
WINDOWS = {FLOOR_RATIO: "15m", SLA_RATIO: "5m"}


def bucket_edge(value: float) -> str:
    """A bucket edge as the collector's remote write spells ``le`` (3.0 -> "3", 0.5 -> "0.5")."""
    return f"{value:g}"


def _rule(record: str, value: float, labels: dict[str, str]) -> dict[str, Any]:
    return {"record": record, "expr": f"vector({value:g})", "labels": labels}


_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def _promql_regex(alternatives: list[str]) -> str:
    """``a|b`` as the inside of a PromQL double-quoted regex matcher: RE2's metacharacters escaped (tenant ids
    have none, edges a dot), then the string's own backslash doubled."""
    return "|".join(_RE2_SPECIAL.sub(r"\\\1", a) for a in alternatives).replace("\\", "\\\\")


_BY = f"job, {TENANT_LABEL}, botwatch_channel"


def _edges_rule(
    record: str, target: str, metric: str, own: dict[str, str], windows: Mapping[str, str]
) -> dict[str, Any]:
    """``record`` for the tenants in ``own`` (tenant -> its edge), numerator and denominator in one rule: the share
    of observations at or under the tenant's edge (confidence floor) or over it (SLA).  Only those tenants' buckets
    at the edges they use are rated, joined on (tenant, le) with the tenant's ``target`` series; "5.0" (a scrape's
    spelling) is folded into "5" so both join."""
    tenants = _promql_regex(sorted(own))
    edges = _promql_regex(sorted(set(own.values()), key=float))
    window = windows.get(record, WINDOWS[record])
    buckets = f'{metric}_bucket{{{TENANT_LABEL}=~"{tenants}", le=~"({edges})(\\\\.0+)?"}}'
    at_edge = (
        f"sum by ({_BY}) ("
        f'label_replace(sum by ({_BY}, le) (rate({buckets}[{window}])), "le", "$1", "le", "(.+?)\\\\.0+")'
        f" and on ({TENANT_LABEL}, le) {target})"
    )
    count = f'sum by ({_BY}) (rate({metric}_count{{{TENANT_LABEL}=~"{tenants}"}}[{window}]))'
    expr = f"({count} - {at_edge}) / {count}" if record == SLA_RATIO else f"{at_edge} / {count}"
    return {"record": record, "expr": expr}


def render(tenants: Tenants, windows: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The rules document for ``tenants``: the targets group, and the buckets group when a tenant has its own SLA or
    floor.  ``windows``: record -> range window of the tenant ratios (default ``WINDOWS``, see ``rule_windows``)."""
    rules: list[dict[str, Any]] = []
    floors: dict[str, str] = {}
    slas: dict[str, str] = {}
    for tenant in tenants:
        own = {TENANT_LABEL: tenant.id}
        targets = tenant.targets
        if targets.sla_seconds is not None:
            slas[tenant.id] = bucket_edge(targets.sla_seconds)
            rules.append(_rule(SLA_SECONDS, targets.sla_seconds, {**own, "le": slas[tenant.id]}))
        if targets.confidence_floor is not None:
            floors[tenant.id] = bucket_edge(targets.confidence_floor)
            rules.append(_rule(CONFIDENCE_FLOOR, targets.confidence_floor, {**own, "le": floors[tenant.id]}))
        if targets.lead_failure_share is not None:
            rules.append(_rule(LEAD_FAILURE_RATIO, targets.lead_failure_share, own))
    groups = [{"name": GROUP, "rules": rules}]
    chosen = dict(windows or {})
    buckets = []
    if floors:
        metric = semconv.INTENT_CONFIDENCE_METRIC.prometheus
        buckets.append(_edges_rule(FLOOR_RATIO, CONFIDENCE_FLOOR, metric, floors, chosen))
    if slas:
        buckets.append(_edges_rule(SLA_RATIO, SLA_SECONDS, semconv.TURN_DURATION.prometheus, slas, chosen))
    if buckets:
        # Its own group: Prometheus runs groups side by side, so the alerts' group never waits for this one.
        groups.append({"name": BUCKETS_GROUP, "rules": buckets})
    return {"groups": groups}


_RANGE = re.compile(r"\[([0-9a-z]+)\]")


def rule_windows(rule_files: list[Path]) -> dict[str, str]:
    """Tenant ratio -> the range window of the default ratio it stands in for in ``rule_files`` (``WINDOWS`` when
    none of them records it).  TenantsError if that rule mixes windows: the two ratios must cover the same time."""
    found = dict(WINDOWS)
    for path in rule_files:
        try:
            document = yamlfile.load(path)
        except Exception:  # noqa: BLE001 - not ours to report: Prometheus refuses the file with its own message
            continue
        groups = document.get("groups") if isinstance(document, dict) else None
        for group in groups if isinstance(groups, list) else []:
            for rule in group.get("rules") or [] if isinstance(group, dict) else []:
                for ours, default in STANDS_IN_FOR.items():
                    if isinstance(rule, dict) and rule.get("record") == default:
                        ranges = set(_RANGE.findall(str(rule.get("expr", ""))))
                        if len(ranges) != 1:
                            raise TenantsError(f"{path}: {default}: one range window expected, found {sorted(ranges)}")
                        found[ours] = ranges.pop()
    return found


_REFERENCE = re.compile(r'botwatch_tenant\s*=\s*"([^"]*)"')


def referenced_tenants(rule_files: list[Path]) -> dict[str, str]:
    """Tenant ids named by an exact ``botwatch_tenant="..."`` matcher in rule files: id -> the first file."""
    found: dict[str, str] = {}
    for path in rule_files:
        for tenant_id in _REFERENCE.findall(path.read_text(encoding="utf-8", errors="replace")):
            if tenant_id:
                found.setdefault(tenant_id, str(path))
    return found


def write(tenants: Tenants, directory: Path, rule_files: list[str]) -> Path:
    """Check that ``rule_files`` name only known tenants, then write the targets file into ``directory`` (the tenant
    ratios with the windows of ``rule_files``)."""
    paths = [Path(p) for pattern in rule_files for p in sorted(glob.glob(pattern))]
    tenants.check_references(referenced_tenants(paths))
    return yamlfile.dump(render(tenants, rule_windows(paths)), directory / FILE_NAME)
