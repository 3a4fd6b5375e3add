"""The read side: what ``botwatch kpi``, ``replay`` and audit commands ask the journal."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from botwatch.journal import session_queries as audit_queries
from botwatch.journal.facts import ConversationFacts, read_facts
from botwatch.journal.journal_error import explain
from botwatch.journal.journal_settings import JournalSettings, journal_path
from botwatch.journal.kpi import Kpi, compute_kpi
from botwatch.journal.readonly import connect_read_only
from botwatch.journal.replay import ReplayEntry, build_replay
from botwatch.journal.retention import PruneResult, prune_connection
from botwatch.journal.rows import FAMILY_CONVERSATION
from botwatch.journal.schema import connect
from botwatch.journal.session_queries import LogLine, LowConfidenceTurn, SessionFilter, SessionSummary
from botwatch.journal.tenant_scope import restrict

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
READ_CACHE_KIB = 65_536  # page cache of a reader connection (bounded; SQLite default is 2 MiB)


@dataclass(frozen=True)
class ConversationSummary:
    conversation_id: str
    started: datetime
    channel: str | None


class Journal:
    """An existing journal file, opened read-only for queries (it may sit on a read-only mount).

    Raises JournalError (naming the file and the fix) when the file is
    missing, foreign, damaged or unreadable, also from any query.  With
    ``tenant`` every query sees only that tenant's records (journal.tenant_scope).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, tenant: str | None = None) -> None:
        self.path: Path = journal_path(path)
        self.tenant = tenant
        self._conn = connect_read_only(self.path)
        self._conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
        self._conn.execute("PRAGMA temp_store = FILE")  # big sorts spill to disk, not RAM
        if tenant is not None:
            try:
                restrict(self._conn, tenant)
            except sqlite3.Error as error:
                self._conn.close()
                raise explain(self.path, error) from error

    def kpi(self, since: timedelta, until: datetime | None = None) -> Kpi:
        """KPIs over [until - since, until); ``until`` defaults to now."""
        end = until if until is not None else datetime.now(UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        return self._query(lambda conn: compute_kpi(conn, end - since, end))

    def facts(
        self, since: datetime, until: datetime, progress: Callable[[str], None] | None = None
    ) -> list[ConversationFacts]:
        """One row of facts per conversation started in [since, until): what insights and change impact compare."""
        return self._query(lambda conn: read_facts(conn, _ns(since), _ns(until), progress))

    def replay(self, conversation_id: str) -> list[ReplayEntry]:
        """Everything recorded for one conversation, in time order ([] if unknown)."""
        return self._query(lambda conn: build_replay(conn, conversation_id))

    def conversations(
        self,
        since: timedelta | None = None,
        *,
        until: datetime | None = None,
        stage: str | None = None,
        limit: int | None = 50,
    ) -> Iterator[ConversationSummary]:
        """Conversations by start time, newest first, streamed.

        ``since`` limits to conversations started in [until - since, until);
        ``stage`` to those that reached that funnel stage (e.g. semconv.ESCALATED).
        """
        end = until if until is not None else datetime.now(UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        start_ns = _ns(end - since) if since is not None else 0
        sql = (
            "SELECT conversation_id, start_ns, channel FROM spans s WHERE family = ? AND start_ns >= ? AND start_ns < ?"
        )
        params: list[object] = [FAMILY_CONVERSATION, start_ns, _ns(end)]
        if stage is not None:
            sql += " AND EXISTS (SELECT 1 FROM funnel f WHERE f.conversation_id = s.conversation_id AND f.stage = ?)"
            params.append(stage)
        sql += " ORDER BY start_ns DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        try:
            for conversation_id, started_ns, channel in self._conn.execute(sql, params):
                yield ConversationSummary(conversation_id, _EPOCH + timedelta(microseconds=started_ns // 1000), channel)
        except sqlite3.Error as error:
            raise explain(self.path, error) from error

    # -- audit ----------------------------------------------------------------
    def sessions(
        self, flt: SessionFilter, since: datetime, until: datetime, *, limit: int = 20, offset: int = 0
    ) -> list[SessionSummary]:
        """Conversations started in [since, until) matching ``flt``, newest first, one page."""
        return self._query(lambda c: audit_queries.find_sessions(c, flt, _ns(since), _ns(until), limit, offset))

    def session(self, conversation_id: str) -> SessionSummary | None:
        return self._query(lambda c: audit_queries.conversation_start(c, conversation_id))

    def conversation_ids(self, since: datetime, until: datetime) -> Iterator[str]:
        try:
            yield from audit_queries.conversation_ids(self._conn, _ns(since), _ns(until))
        except sqlite3.Error as error:
            raise explain(self.path, error) from error

    def low_confidence_turns(self, since: datetime, until: datetime, limit: int = 1000) -> list[LowConfidenceTurn]:
        return self._query(lambda c: audit_queries.low_confidence_turns(c, _ns(since), _ns(until), limit))

    def count_log_lines(self, since: datetime, until: datetime) -> int:
        return self._query(lambda c: audit_queries.count_log_lines(c, _ns(since), _ns(until)))

    def log_lines(self, since: datetime, until: datetime) -> Iterator[LogLine]:
        """Log records in [since, until), time order, streamed; uses its own cursor."""
        try:
            yield from audit_queries.log_lines(self._conn, _ns(since), _ns(until))
        except sqlite3.Error as error:
            raise explain(self.path, error) from error

    def client_phone(self, conversation_id: str) -> str | None:
        return self._query(lambda c: audit_queries.client_phone(c, conversation_id))

    def turn_of(self, conversation_id: str, turn_index: int) -> tuple[str | None, float | None] | None:
        return self._query(lambda c: audit_queries.turn_of(c, conversation_id, turn_index))

    def counts(self) -> dict[str, int]:
        """Rows per table (spans, logs, funnel, metrics)."""

        def count(conn: sqlite3.Connection) -> dict[str, int]:
            tables = ("spans", "logs", "funnel", "metrics")
            return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables}

        return self._query(count)

    def prune(self, settings: JournalSettings | None = None, *, now: datetime | None = None) -> PruneResult:
        """Apply retention now (settings default to the BOTWATCH_* environment), on a writable connection."""
        chosen = settings or JournalSettings.from_env()
        writer = connect(self.path, create=False)
        try:
            return self._query(lambda _reader: prune_connection(writer, chosen, now=now))
        finally:
            writer.close()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _query(self, run: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return run(self._conn)
        except sqlite3.Error as error:
            raise explain(self.path, error) from error


def _ns(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000
