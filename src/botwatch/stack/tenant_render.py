"""``botwatch stack render-tenants``: every file compose mounts from deploy/tenants, from the tenants file.

alertmanager.yml        a receiver and route per tenant (botwatch.stack.tenant_routes)
tenant_targets.yml      each tenant's targets as series (botwatch.stack.tenant_rules)
collector.yaml          collector/config.yaml + logins per tenant (botwatch.stack.tenant_collector)
loki-overrides.yaml     Loki retention per tenant
tenants.toml            the tenants file itself, for the gateway
grafana/                data sources, folders and dashboards per tenant (botwatch.stack.tenant_grafana)
"""

from __future__ import annotations

import glob
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from botwatch.stack import tenant_collector, tenant_grafana, tenant_routes, tenant_rules, yamlfile
from botwatch.tenants import Tenants, TenantSpec, load

LOKI_OVERRIDES = "loki-overrides.yaml"


def loki_retention(tenant: TenantSpec) -> str | None:
    """A tenant's retention as Loki's per-tenant ``retention_period``: whole days (Loki's index period), rounded up."""
    if tenant.retention_days is None:
        return None
    return f"{max(math.ceil(float(tenant.retention_days)), 1) * 24}h"


def render_tenants(
    tenants_path: Path,
    out: Path,
    alertmanager_config: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Tenants, list[Path]]:
    """The tenants and the files written into ``out`` (deploy/tenants), everything compose mounts from it.

    TenantsError or ValueError for a bad tenants file or a missing token, found before anything is written.
    """
    from botwatch.stack.alertmanager_process import CONFIG
    from botwatch.stack.prometheus_process import RULES_GLOB

    source = alertmanager_config or CONFIG
    tenants = load(tenants_path)
    logins = tenant_collector.token_references(tenants_path, tenants, environ)  # before anything is written
    config = tenant_routes.apply(yamlfile.load(source), tenants)
    rule_files = [Path(p) for p in sorted(glob.glob(str(RULES_GLOB)))]
    tenants.check_references(tenant_rules.referenced_tenants(rule_files))
    out.mkdir(parents=True, exist_ok=True)
    written = [tenant_rules.write(tenants, out, [str(RULES_GLOB)])]
    # Relative to the written file, as in the source: compose mounts deploy/tenants beside alerts/.
    # abspath, not resolve: a symlinked layout keeps its shape (the path must hold inside the containers).
    templates = [os.path.abspath(source.parent / t) for t in config.get("templates", [])]
    config["templates"] = [os.path.relpath(t, os.path.abspath(out)) for t in templates]
    written.append(yamlfile.dump(config, out / "alertmanager.yml"))
    collector = yamlfile.dump(
        tenant_collector.render(yamlfile.load(tenant_collector.BASE), logins), out / tenant_collector.CONFIG_NAME
    )
    retention = {t.id: {"retention_period": loki_retention(t)} for t in tenants if t.retention_days is not None}
    written += [collector, yamlfile.dump({"overrides": retention}, out / LOKI_OVERRIDES)]
    # The gateway reads the same file (BOTWATCH_GATEWAY_TENANTS in compose); tokens stay in their variables.
    written.append(Path(shutil.copyfile(tenants_path, out / "tenants.toml")))
    written += tenant_grafana.write(tenants, out)
    return tenants, written
