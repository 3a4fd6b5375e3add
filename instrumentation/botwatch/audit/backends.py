"""Which :class:`~botwatch.audit.source.Source` to open: the journal, or the stack's Loki, Tempo and Prometheus.

Apart from :mod:`botwatch.audit.source` (the interface) so the backends can
import the interface without an import cycle.
"""

from __future__ import annotations

import json
from dataclasses import replace

from botwatch import env
from botwatch.audit.errors import UsageError
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


def open_source(options: SourceOptions) -> Source:
    """The source ``options`` name; raises UsageError for an unknown kind or missing URLs."""
    if options.kind == "journal":
        return JournalSource(options.journal, tenant=options.tenant)
    if options.kind == "stack":
        from botwatch.audit.stack_source import StackSource  # its HTTP clients load only for --source stack

        if options.tenant is not None:
            raise UsageError(
                "--tenant reads the journal (leave out --source); with --source stack, each tenant's Loki and "
                "Tempo are its own (README, Tenants)"
            )

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
        return StackSource(options)
    raise UsageError(f"unknown source {options.kind!r}; one of: {', '.join(SOURCES)} (--source or {ENV_SOURCE})")
