"""Which :class:`~botwatch.audit.source.Source` to open: the journal, or the stack's Loki, Tempo and Prometheus.

Apart from :mod:`botwatch.audit.source` (the interface) so the backends can
import the interface without an import cycle.
"""

from __future__ import annotations

import json
from dataclasses import replace

from botwatch import env
from botwatch.audit.audit_errors import UsageError
from botwatch.audit.journal_source import JournalSource
from botwatch.audit.source import ENV_LOKI, ENV_PROMETHEUS, ENV_SOURCE, ENV_TEMPO, SOURCES, Source, SourceOptions


def native_stack() -> dict[str, dict[str, str]]:
    """URLs of the components a native stack started, by name; empty when there is none.

    ``stack.json`` in the stack directory is read as plain JSON, so the audit
    layer does not import the stack launcher that writes it.
    """
    try:
        state = json.loads((env.stack_dir() / env.STACK_STATE_FILE).read_text())
        components = state["components"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {c["name"]: dict(c.get("urls") or {}) for c in components if c.get("state") == "started"}


INTEGRATOR_ORG = "_integrator"  # Loki/Tempo tenant of records no tenant claimed (deploy/README.md, Tenants)


def stack_org_id(tenant: str | None) -> str | None:
    """X-Scope-OrgID for the compose stack's Loki and Tempo: the tenant of ``--tenant``; without it every
    tenant of the tenants file ($BOTWATCH_TENANTS), ``_integrator|a|b`` (a multi-tenant query); None when
    there is no tenants file (a single-tenant stack; a multi-tenant one answers 401 and the error asks for
    ``--tenant``)."""
    if tenant is not None:
        return tenant
    path = env.TENANTS.path()
    if path is None:
        return None
    from botwatch.tenants import TenantsError, load

    try:
        ids = load(path).ids
    except TenantsError as error:
        raise UsageError(f"{error} (${env.TENANTS.name}: read for the tenants of --source stack)") from error
    return "|".join((INTEGRATOR_ORG, *ids))


def open_source(options: SourceOptions) -> Source:
    """The source ``options`` name; raises UsageError for an unknown kind or missing URLs."""
    if options.kind == "journal":
        return JournalSource(options.journal, tenant=options.tenant)
    if options.kind == "stack":
        from botwatch.audit.stack_source import StackSource  # its HTTP clients load only for --source stack

        native = native_stack()
        if not options.prometheus_url and "prometheus" in native:
            options = replace(options, prometheus_url=native["prometheus"].get("UI"))
        missing = [
            flag
            for flag, value in (
                (f"--loki-url / {ENV_LOKI}", options.loki_url),
                (f"--tempo-url / {ENV_TEMPO}", options.tempo_url),
                (f"--prometheus-url / {ENV_PROMETHEUS}", options.prometheus_url),
            )
            if not value
        ]
        if missing and "journal" in native:
            raise UsageError(
                f"--source stack reads Loki and Tempo of a docker compose stack (give {', '.join(missing)}); "
                f"the native stack keeps traces and logs in the journal {native['journal'].get('journal')}: "
                "leave out --source (the journal is the default)"
            )
        if missing:
            raise UsageError(f"--source stack needs {', '.join(missing)}")
        return StackSource(options, stack_org_id(options.tenant))
    raise UsageError(f"unknown source {options.kind!r}; one of: {', '.join(SOURCES)} (--source or {ENV_SOURCE})")
