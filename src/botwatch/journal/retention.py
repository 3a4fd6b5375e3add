"""Retention: drop content older than the cutoff, and the oldest rows while over size.

A tenant with its own retention (the tenants file's ``retention``:
``JournalSettings.tenant_retention``) has its spans, logs and funnel rows
removed at its own cutoff, shorter or longer than the journal's; every other
row keeps the journal's.  A row is a tenant's as ``journal.tenant_scope``
decides: its resource names the tenant (a bot's ``init(tenant=)``), or its
own attributes do (the gateway's turn span), or it shares a conversation and
process with such a span (the gateway's other spans and log records); funnel
rows follow their span.  Metric snapshots keep ``metrics_retention``, and the
size bound still removes the oldest rows of anyone.

Deletes run in short chunks, each its own transaction, so a big first prune
never holds the write lock long enough to stall the bots writing beside it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from botwatch import semconv
from botwatch.journal.journal_settings import JournalSettings, journal_path
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
    if settings.tenant_retention:
        own = {tenant: now_ns - _ns(retention) for tenant, retention in settings.tenant_retention.items()}
        for table, count in _delete_by_tenant(conn, own, content_cutoff).items():
            deleted[table] += count
    else:
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


def with_tenants(settings: JournalSettings, tenants_file: str | os.PathLike[str] | None) -> JournalSettings:
    """``settings`` with the retention of each tenant that sets one in ``tenants_file`` (None: unchanged).

    Raises ``botwatch.tenants.TenantsError`` naming the file, the tenant and the key if the file is unusable.
    """
    if tenants_file is None:
        return settings
    from botwatch.tenants import load

    return replace(settings, tenant_retention=load(Path(tenants_file)).retentions())


# A cheap substring test before parsing JSON (as journal.tenant_scope): most rows carry no tenant attribute.
_ATTRIBUTE = f'$."{semconv.TENANT}"'
_KEY = f'"{semconv.TENANT}"'


def _delete_by_tenant(conn: sqlite3.Connection, own: Mapping[str, int], default_cutoff: int) -> dict[str, int]:
    """Delete content rows past their tenant's cutoff (``own``: tenant -> cutoff ns) or, for the rest, the default.

    Only rows older than the latest cutoff can go, so only those are looked at.  The tenants' rows are
    collected into temporary tables first (each with its cutoff; one pass per table for all tenants),
    then deleted in chunks.
    """
    horizon = max(default_cutoff, *own.values())
    conn.executescript(_DROP + _CREATE)
    try:
        conn.executemany("INSERT INTO temp.retention_tenants VALUES (?, ?)", sorted(own.items()))
        tenant_of = f"json_extract(x.attributes, '{_ATTRIBUTE}')"
        conn.execute(
            f"""INSERT OR IGNORE INTO temp.retention_resources
                SELECT x.id, t.cutoff FROM main.resources x JOIN temp.retention_tenants t ON t.tenant = {tenant_of}
                WHERE instr(x.attributes, ?) > 0""",
            (_KEY,),
        )
        # A shared process (the gateway) names the tenant on a span: its conversation there is the tenant's.
        conn.execute(
            f"""INSERT OR IGNORE INTO temp.retention_pairs
                SELECT x.conversation_id, x.resource_id, t.cutoff
                FROM main.spans x JOIN temp.retention_tenants t ON t.tenant = {tenant_of}
                WHERE x.conversation_id IS NOT NULL AND instr(x.attributes, ?) > 0""",
            (_KEY,),
        )
        for table, column in (("spans", "start_ns"), ("logs", "time_ns")):
            conn.execute(
                f"""INSERT OR IGNORE INTO temp.retention_{table}
                    SELECT x.id, t.cutoff FROM main.{table} x JOIN temp.retention_tenants t ON t.tenant = {tenant_of}
                    WHERE x.{column} < ? AND instr(x.attributes, ?) > 0""",
                (horizon, _KEY),
            )
            conn.execute(
                f"""INSERT OR IGNORE INTO temp.retention_{table}
                    SELECT x.id, r.cutoff FROM main.{table} x JOIN temp.retention_resources r ON r.id = x.resource_id
                    WHERE x.{column} < ?""",
                (horizon,),
            )
            conn.execute(
                f"""INSERT OR IGNORE INTO temp.retention_{table}
                    SELECT x.id, p.cutoff FROM main.{table} x JOIN temp.retention_pairs p
                      ON p.conversation_id = x.conversation_id AND p.resource_id = x.resource_id
                    WHERE x.{column} < ?""",
                (horizon,),
            )
        conn.execute(
            """INSERT OR IGNORE INTO temp.retention_funnel
               SELECT x.id, s.cutoff FROM main.funnel x JOIN temp.retention_spans s ON s.id = x.span_row
               WHERE x.time_ns < ?""",
            (horizon,),
        )
        deleted = {}
        for table, column in CONTENT_TABLES.items():
            mine = f"SELECT cutoff FROM temp.retention_{table} o WHERE o.id = {table}.id"
            condition = f"{column} < ? AND {column} < COALESCE(({mine}), ?)"
            deleted[table] = _delete_where(conn, table, condition, (horizon, default_cutoff))
        return deleted
    finally:
        conn.executescript(_DROP)


_TEMP = ("tenants", "resources", "pairs", "spans", "logs", "funnel")
_DROP = "".join(f"DROP TABLE IF EXISTS temp.retention_{name};" for name in _TEMP)
_CREATE = """
CREATE TEMP TABLE retention_tenants (tenant TEXT PRIMARY KEY, cutoff INTEGER NOT NULL);
CREATE TEMP TABLE retention_resources (id INTEGER PRIMARY KEY, cutoff INTEGER NOT NULL);
CREATE TEMP TABLE retention_pairs (conversation_id TEXT, resource_id INTEGER, cutoff INTEGER NOT NULL,
                                   PRIMARY KEY (conversation_id, resource_id));
CREATE TEMP TABLE retention_spans (id INTEGER PRIMARY KEY, cutoff INTEGER NOT NULL);
CREATE TEMP TABLE retention_logs (id INTEGER PRIMARY KEY, cutoff INTEGER NOT NULL);
CREATE TEMP TABLE retention_funnel (id INTEGER PRIMARY KEY, cutoff INTEGER NOT NULL);
"""


def _delete_where(conn: sqlite3.Connection, table: str, condition: str, params: tuple[int, ...]) -> int:
    """Delete the rows of ``table`` meeting ``condition``, in chunks, each its own transaction."""
    total = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {condition} LIMIT {CHUNK_ROWS})",
                params,
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        total += cursor.rowcount
        if cursor.rowcount < CHUNK_ROWS:
            return total


def live_bytes(conn: sqlite3.Connection) -> int:
    """Bytes held by live pages (free pages excluded: they are reused or vacuumed)."""
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


def _ns(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1e9)


def _delete_before(conn: sqlite3.Connection, table: str, column: str, cutoff_ns: int) -> int:
    return _delete_where(conn, table, f"{column} < ?", (cutoff_ns,))


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
