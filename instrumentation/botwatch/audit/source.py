"""One read interface, two sources: the embedded journal and the stack (Loki, Tempo, Prometheus).

``--source journal|stack`` (or ``BOTWATCH_SOURCE``) picks one; every audit
command talks to a :class:`Source` and never to a backend directly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from botwatch.journal import Kpi, ReplayEntry
from botwatch.journal.sessions import LogLine, LowConfidenceTurn, SessionFilter, SessionSummary

ENV_SOURCE = "BOTWATCH_SOURCE"
ENV_LOKI = "BOTWATCH_LOKI_URL"
ENV_TEMPO = "BOTWATCH_TEMPO_URL"
ENV_PROMETHEUS = "BOTWATCH_PROMETHEUS_URL"
ENV_SERVICE = "BOTWATCH_AUDIT_SERVICE"
SOURCES = ("journal", "stack")
# Where `botwatch stack up` records what runs (botwatch.stack.launcher writes it; read here as plain JSON so
# the audit layer does not import the stack launcher).
ENV_STACK_DIR = "BOTWATCH_STACK_DIR"
DEFAULT_STACK_DIR = Path.home() / ".local" / "share" / "botwatch" / "stack"


def native_stack() -> dict[str, dict[str, str]]:
    """URLs of the components a native stack started, by name; empty when there is none."""
    directory = Path(os.environ.get(ENV_STACK_DIR) or DEFAULT_STACK_DIR)
    try:
        state = json.loads((directory / "stack.json").read_text())
        components = state["components"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {c["name"]: dict(c.get("urls") or {}) for c in components if c.get("state") == "started"}


class Source(Protocol):
    description: str

    def sessions(
        self, flt: SessionFilter, since: datetime, until: datetime, *, limit: int, offset: int = 0
    ) -> list[SessionSummary]: ...

    def session(self, conversation_id: str) -> SessionSummary | None: ...

    def replay(self, conversation_id: str) -> list[ReplayEntry]: ...

    def conversation_ids(self, since: datetime, until: datetime) -> Iterator[str]: ...

    def low_confidence_turns(self, since: datetime, until: datetime) -> list[LowConfidenceTurn]: ...

    def count_log_lines(self, since: datetime, until: datetime) -> int | None: ...

    def log_lines(self, since: datetime, until: datetime) -> Iterator[LogLine]: ...

    def client_phone(self, conversation_id: str) -> str | None: ...

    def turn_of(self, conversation_id: str, turn_index: int) -> tuple[str | None, float | None] | None: ...

    def kpi(self, since: timedelta, until: datetime) -> Kpi: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceOptions:
    kind: str = "journal"
    journal: Path | None = None
    loki_url: str | None = None
    tempo_url: str | None = None
    prometheus_url: str | None = None
    lookback: timedelta = timedelta(days=30)  # how far back the stack looks for one conversation
    service: str | None = None  # stack: only this service.name (Prometheus job)
    tenant: str | None = None  # journal: only this tenant's records (botwatch.tenant)

    @classmethod
    def resolve(
        cls,
        kind: str | None = None,
        journal: Path | None = None,
        loki_url: str | None = None,
        tempo_url: str | None = None,
        prometheus_url: str | None = None,
        service: str | None = None,
        tenant: str | None = None,
        **extra: timedelta,
    ) -> SourceOptions:
        return cls(
            kind=(kind or os.environ.get(ENV_SOURCE) or "journal").strip().lower(),
            journal=journal,
            loki_url=loki_url or os.environ.get(ENV_LOKI) or None,
            tempo_url=tempo_url or os.environ.get(ENV_TEMPO) or None,
            prometheus_url=prometheus_url or os.environ.get(ENV_PROMETHEUS) or None,
            service=service or os.environ.get(ENV_SERVICE) or None,
            tenant=tenant,
            **extra,
        )


def open_source(options: SourceOptions) -> Source:
    """The source ``options`` name; raises UsageError for an unknown kind or missing URLs."""
    from botwatch.audit.errors import UsageError

    if options.kind == "journal":
        from botwatch.audit.journal_source import JournalSource

        return JournalSource(options.journal, tenant=options.tenant)
    if options.kind == "stack":
        from botwatch.audit.stack_source import StackSource

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
