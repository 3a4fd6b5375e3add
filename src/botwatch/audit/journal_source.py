"""The embedded journal as an audit source."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from botwatch.journal import Journal, JournalError, Kpi, ReplayEntry, journal_path
from botwatch.journal.session_queries import LogLine, LowConfidenceTurn, SessionFilter, SessionSummary

CLIENT_CACHE = 4096  # conversations whose masked phone export remembers


class JournalSource:
    def __init__(self, path: Path | None = None, tenant: str | None = None) -> None:
        resolved = journal_path(path)
        if not resolved.exists():
            raise JournalError(
                resolved, "there is no journal here yet", "Run `botwatch demo` or a bot with botwatch.init() first."
            )
        self.journal = Journal(resolved, tenant=tenant)
        self.description = f"journal {resolved}" + (f", tenant {tenant}" if tenant else "")
        self.client_phone = lru_cache(maxsize=CLIENT_CACHE)(self.journal.client_phone)

    def sessions(
        self, flt: SessionFilter, since: datetime, until: datetime, *, limit: int, offset: int = 0
    ) -> list[SessionSummary]:
        return self.journal.sessions(flt, since, until, limit=limit, offset=offset)

    def session(self, conversation_id: str) -> SessionSummary | None:
        return self.journal.session(conversation_id)

    def replay(self, conversation_id: str) -> list[ReplayEntry]:
        return self.journal.replay(conversation_id)

    def conversation_ids(self, since: datetime, until: datetime) -> Iterator[str]:
        return self.journal.conversation_ids(since, until)

    def low_confidence_turns(self, since: datetime, until: datetime) -> list[LowConfidenceTurn]:
        return self.journal.low_confidence_turns(since, until)

    def count_log_lines(self, since: datetime, until: datetime) -> int | None:
        return self.journal.count_log_lines(since, until)

    def log_lines(self, since: datetime, until: datetime) -> Iterator[LogLine]:
        return self.journal.log_lines(since, until)

    def turn_of(self, conversation_id: str, turn_index: int) -> tuple[str | None, float | None] | None:
        return self.journal.turn_of(conversation_id, turn_index)

    def kpi(self, since: timedelta, until: datetime) -> Kpi:
        return self.journal.kpi(since, until)

    def close(self) -> None:
        self.journal.close()
