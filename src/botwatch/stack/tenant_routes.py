"""Alertmanager routes per tenant, rendered from the tenants file onto alerts/alertmanager.yml.

For each tenant: a receiver ``tenant-<id>`` sending to the owner's Telegram
chat (and topic), and a route matching ``botwatch_tenant="<id>"`` placed
before the default routes, with the default routes' severity sub-routes
copied under it.  Grouping and every inhibition rule gain
``botwatch_tenant``, so one tenant's alerts never share a message with, or
mute, another's.  Alerts without a tenant (or of a tenant not in the file)
keep the default route and receiver: the integrator's own chat.  So do the
pipeline's alerts (alerts/rules/pipeline.yml: the collector, the SDK, a
tenant's label budget), even when they carry a tenant: the integrator fixes
those, not the salon's owner.

The receiver copies the default Telegram receiver (API URL, token file,
format, template) and changes only the chat.  A tenant whose language has its
own message template (``botwatch.telegram.message.<language>`` defined in one
of the config's template files) gets it; otherwise the default template.
"""

from __future__ import annotations

import copy
import glob
import re
from pathlib import Path
from typing import Any

from botwatch.stack import yamlfile
from botwatch.stack.binaries import REPO
from botwatch.stack.tenant_rules import TENANT_LABEL
from botwatch.tenants import Tenants, TenantSpec

DEFAULT_RECEIVER = "telegram"
MESSAGE_TEMPLATE = "botwatch.telegram.message"
PIPELINE_RULES = REPO / "alerts" / "rules" / "pipeline.yml"


def pipeline_alerts(rules: Path = PIPELINE_RULES) -> tuple[str, ...]:
    """The names of the integrator's alerts: every alert of the pipeline rules."""
    document = yamlfile.load(rules)
    names = {str(r["alert"]) for g in document.get("groups", []) for r in g.get("rules", []) if "alert" in r}
    return tuple(sorted(names))


def receiver_name(tenant_id: str) -> str:
    return f"tenant-{tenant_id}"


def _defined_templates(config: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for pattern in config.get("templates", []):
        for path in glob.glob(str(pattern)):
            text = Path(path).read_text(encoding="utf-8", errors="replace")
            names.update(re.findall(r'{{-?\s*define\s+"([^"]+)"', text))
    return names


def _receiver(base: dict[str, Any], tenant: TenantSpec, templates: set[str]) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": receiver_name(tenant.id)}
    configs = []
    for telegram in base.get("telegram_configs", []):
        own = copy.deepcopy(telegram)
        own["chat_id"] = tenant.owner.chat_id
        if tenant.owner.thread_id is not None:
            own["message_thread_id"] = tenant.owner.thread_id
        localized = f"{MESSAGE_TEMPLATE}.{tenant.language}"
        if localized in templates:
            own["message"] = f'{{{{ template "{localized}" . }}}}'
        configs.append(own)
    if configs:
        receiver["telegram_configs"] = configs
    return receiver


def _with_tenant(labels: list[str]) -> list[str]:
    return labels if TENANT_LABEL in labels or "..." in labels else [TENANT_LABEL, *labels]


def _tenant_route(
    tenant: TenantSpec, root: dict[str, Any], defaults: list[dict[str, Any]], integrator: tuple[str, ...]
) -> dict[str, Any]:
    name = receiver_name(tenant.id)
    matchers = [f'{TENANT_LABEL}="{tenant.id}"']
    if integrator:
        matchers.append(f'alertname!~"{"|".join(integrator)}"')
    route: dict[str, Any] = {
        "receiver": name,
        "matchers": matchers,
        "group_by": _with_tenant(list(root.get("group_by", []))),
    }
    children = []
    for child in defaults:
        own = copy.deepcopy(child)
        own["receiver"] = name
        if "group_by" in own:
            own["group_by"] = _with_tenant(list(own["group_by"]))
        children.append(own)
    if children:
        route["routes"] = children
    return route


def apply(config: dict[str, Any], tenants: Tenants, integrator_alerts: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``config`` (an Alertmanager config as a dict) with a receiver and a route per tenant.

    ``integrator_alerts`` (default: the alerts of alerts/rules/pipeline.yml) never take a tenant's route.
    """
    integrator = pipeline_alerts() if integrator_alerts is None else integrator_alerts
    rendered = copy.deepcopy(config)
    receivers: list[dict[str, Any]] = rendered.setdefault("receivers", [])
    base = next((r for r in receivers if r.get("name") == DEFAULT_RECEIVER), None)
    if base is None:
        raise ValueError(f"the Alertmanager config has no {DEFAULT_RECEIVER!r} receiver to copy for the tenants")
    taken = {r.get("name") for r in receivers}
    templates = _defined_templates(rendered)
    root = rendered["route"]
    root["group_by"] = _with_tenant(list(root.get("group_by", [])))
    children: list[dict[str, Any]] = root.get("routes", [])
    defaults = [c for c in children if c.get("receiver", root.get("receiver")) == root.get("receiver")]
    others = [c for c in children if c not in defaults]
    for child in defaults:
        if "group_by" in child:
            child["group_by"] = _with_tenant(list(child["group_by"]))
    tenant_routes = []
    for tenant in tenants:
        if receiver_name(tenant.id) in taken:
            raise ValueError(f"tenant {tenant.id}: a receiver named {receiver_name(tenant.id)!r} already exists")
        receivers.append(_receiver(base, tenant, templates))
        tenant_routes.append(_tenant_route(tenant, root, defaults, integrator))
    # Other receivers (the heartbeat) first, then each tenant, then the defaults for alerts without one.
    root["routes"] = [*others, *tenant_routes, *defaults]
    for rule in rendered.get("inhibit_rules", []):
        rule["equal"] = _with_tenant(list(rule.get("equal", [])))
    return rendered
