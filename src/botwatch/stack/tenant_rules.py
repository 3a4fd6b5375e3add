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
"""

from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import Any

from botwatch import semconv
from botwatch.stack import yamlfile
from botwatch.tenants import Tenants

TENANT_LABEL = semconv.prometheus_label(semconv.TENANT)  # botwatch_tenant
SLA_SECONDS = "botwatch:tenant:turn_sla_seconds"
CONFIDENCE_FLOOR = "botwatch:tenant:intent_confidence_floor"
LEAD_FAILURE_RATIO = "botwatch:tenant:lead_create_failure_ratio"
SERIES = (SLA_SECONDS, CONFIDENCE_FLOOR, LEAD_FAILURE_RATIO)
GROUP = "botwatch-tenant-targets"
FILE_NAME = "tenant_targets.yml"
# No longer group interval for these constants: Prometheus starts a group's first evaluation up to one
# interval late, and until then every tenant would have the default targets.  1 000 tenants cost
# 56-95 ms a round (benchmarks/tenants_scale.py), under 1 % of a core at a 15 s evaluation interval.


def bucket_edge(value: float) -> str:
    """A bucket edge as the collector's remote write spells ``le`` (3.0 -> "3", 0.5 -> "0.5")."""
    return f"{value:g}"


def _rule(record: str, value: float, labels: dict[str, str]) -> dict[str, Any]:
    return {"record": record, "expr": f"vector({value:g})", "labels": labels}


def render(tenants: Tenants) -> dict[str, Any]:
    """The rules document (one group) for ``tenants``; tenants without a target get no series for it."""
    rules: list[dict[str, Any]] = []
    for tenant in tenants:
        own = {TENANT_LABEL: tenant.id}
        targets = tenant.targets
        if targets.sla_seconds is not None:
            labels = {**own, "le": bucket_edge(targets.sla_seconds)}
            rules.append(_rule(SLA_SECONDS, targets.sla_seconds, labels))
        if targets.confidence_floor is not None:
            labels = {**own, "le": bucket_edge(targets.confidence_floor)}
            rules.append(_rule(CONFIDENCE_FLOOR, targets.confidence_floor, labels))
        if targets.lead_failure_share is not None:
            rules.append(_rule(LEAD_FAILURE_RATIO, targets.lead_failure_share, own))
    return {"groups": [{"name": GROUP, "rules": rules}]}


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
    """Check that ``rule_files`` name only known tenants, then write the targets file into ``directory``."""
    paths = [Path(p) for pattern in rule_files for p in sorted(glob.glob(pattern))]
    tenants.check_references(referenced_tenants(paths))
    return yamlfile.dump(render(tenants), directory / FILE_NAME)
