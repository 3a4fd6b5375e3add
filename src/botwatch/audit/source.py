"""One read interface, two sources: the embedded journal and the stack (Loki, Tempo, Prometheus).

``--source journal|stack`` (or ``BOTWATCH_SOURCE``) picks one; every audit
command talks to a :class:`Source` and never to a backend directly.  This
module is the interface; :mod:`botwatch.audit.backends` opens one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from botwatch import env
from botwatch.journal import Kpi, ReplayEntry
from botwatch.journal.session_queries import LogLine, LowConfidenceTurn, SessionFilter, SessionSummary

ENV_SOURCE = env.SOURCE.name
ENV_LOKI = env.LOKI_URL.name
ENV_TEMPO = env.TEMPO_URL.name
ENV_PROMETHEUS = env.PROMETHEUS_URL.name
ENV_SERVICE = env.AUDIT_SERVICE.name
SOURCES = env.SOURCE.choices


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
            kind=(kind or env.SOURCE.text() or "journal").strip().lower(),
            journal=journal,
            loki_url=loki_url or env.LOKI_URL.text(),
            tempo_url=tempo_url or env.TEMPO_URL.text(),
            prometheus_url=prometheus_url or env.PROMETHEUS_URL.text(),
            service=service or env.AUDIT_SERVICE.text(),
            tenant=tenant,
            **extra,
        )
