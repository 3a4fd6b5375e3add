"""Retention: drop content older than the cutoff, and the oldest rows while over size.

Deletes run in short chunks, each its own transaction, so a big first prune
never holds the write lock long enough to stall the bots writing beside it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from botwatch.journal.config import JournalSettings, journal_path
from botwatch.journal.schema import connect

CHUNK_ROWS = 5_000
SIZE_TARGET = 0.9  # when over the bound, shrink to this share of it
MAX_SIZE_ROUNDS = 64

# table -> its time column
CONTENT_TABLES = {"spans": "start_ns", "logs": "time_ns", "funnel": "time_ns"}
METRIC_TABLES = {"metrics": "time_ns"}


@dataclass(frozen=True)
class PruneResult:
    spans: int = 0
    logs: int = 0
    funnel: int = 0
    metrics: int = 0
    bytes_before: int = 0
    bytes_after: int = 0

    @property
    def rows(self) -> int:
        return self.spans + self.logs + self.funnel + self.metrics


def prune(
    path: str | os.PathLike[str] | None = None,
    settings: JournalSettings | None = None,
    *,
    now: datetime | None = None,
) -> PruneResult:
    """Apply retention to the journal at ``path`` (default: ``$BOTWATCH_JOURNAL``).

    Raises JournalError if the file is missing, foreign or unwritable.
    """
    conn = connect(journal_path(path), create=False)
    try:
        return prune_connection(conn, settings or JournalSettings.from_env(), now=now)
    finally:
        conn.close()


def prune_connection(
    conn: sqlite3.Connection,
    settings: JournalSettings,
    *,
    now: datetime | None = None,
) -> PruneResult:
    now_ns = int(now.timestamp() * 1e9) if now is not None else time.time_ns()
    before = live_bytes(conn)
    deleted = dict.fromkeys([*CONTENT_TABLES, *METRIC_TABLES], 0)
    content_cutoff = now_ns - _ns(settings.retention)
    metrics_cutoff = now_ns - _ns(settings.metrics_retention)
    for table, column in CONTENT_TABLES.items():
        deleted[table] += _delete_before(conn, table, column, content_cutoff)
    for table, column in METRIC_TABLES.items():
        deleted[table] += _delete_before(conn, table, column, metrics_cutoff)
    for _ in range(MAX_SIZE_ROUNDS):
        size = live_bytes(conn)
        if size <= settings.max_bytes:
            break
        cutoff = _size_cutoff(conn, share=1 - settings.max_bytes * SIZE_TARGET / size)
        if cutoff is None:
            break
        removed = 0
        for table, column in (CONTENT_TABLES | METRIC_TABLES).items():
            count = _delete_before(conn, table, column, cutoff)
            deleted[table] += count
            removed += count
        conn.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page per call
        if removed == 0:
            break
    return PruneResult(
        spans=deleted["spans"],
        logs=deleted["logs"],
        funnel=deleted["funnel"],
        metrics=deleted["metrics"],
        bytes_before=before,
        bytes_after=live_bytes(conn),
    )


def live_bytes(conn: sqlite3.Connection) -> int:
    """Bytes held by live pages (free pages excluded: they are reused or vacuumed)."""
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


def _ns(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1e9)


def _delete_before(conn: sqlite3.Connection, table: str, column: str, cutoff_ns: int) -> int:
    total = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {column} < ? LIMIT {CHUNK_ROWS})",
                (cutoff_ns,),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        total += cursor.rowcount
        if cursor.rowcount < CHUNK_ROWS:
            return total


def _size_cutoff(conn: sqlite3.Connection, share: float) -> int | None:
    """A time before which roughly ``share`` of the content rows lie (the oldest first)."""
    share = min(1.0, max(share, 0.01))
    cutoffs = []
    for table, column in CONTENT_TABLES.items():
        if table == "funnel":
            continue
        rows = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        if rows == 0:
            continue
        rank = min(rows - 1, max(1, int(rows * share)))
        found = conn.execute(f"SELECT {column} FROM {table} ORDER BY {column} LIMIT 1 OFFSET ?", (rank,)).fetchone()
        if found is not None:
            cutoffs.append(int(found[0]) + 1)  # inclusive: progress even when many rows share a time
    if not cutoffs:
        oldest = conn.execute("SELECT MIN(time_ns) FROM metrics").fetchone()[0]
        return None if oldest is None else int(oldest) + 1
    return max(cutoffs)
