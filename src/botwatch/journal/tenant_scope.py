"""One tenant's part of a journal: a read connection on which ``spans``, ``funnel``, ``logs`` and ``metrics``
hold only that tenant's rows.

A row is the tenant's when its resource says so (``botwatch.tenant``: a bot's
``init(tenant=)``) or its own attributes do (the webhook gateway records many
tenants in one process and names the tenant on each event's main span).  The
other rows the same process recorded for the same conversation (the root, log
records, funnel spans) follow: a gateway's conversation ids are its tenant's
own ("<tenant>:<id>").  Funnel rows follow their span.

The rows are picked once, into temporary tables, and TEMP views with the
tables' names stand in front of them: SQLite resolves an unqualified name in
``temp`` first, so every read query (kpi, sessions, replay, export, facts) sees
only the tenant without a change, and the journal file is not written.
"""

from __future__ import annotations

import sqlite3

from botwatch import semconv

_ATTRIBUTE = f'$."{semconv.TENANT}"'
# A cheap substring test before parsing JSON: rows without the key are most of a journal.
_HAS_KEY = f"instr(attributes, '\"{semconv.TENANT}\"') > 0"


def restrict(conn: sqlite3.Connection, tenant: str) -> None:
    """Make ``conn``'s unqualified journal tables show only ``tenant``'s rows (for the connection's life)."""
    conn.execute("CREATE TEMP TABLE tenant_resources (id INTEGER PRIMARY KEY)")
    conn.execute(
        f"INSERT INTO temp.tenant_resources SELECT id FROM main.resources "
        f"WHERE {_HAS_KEY} AND json_extract(attributes, ?) = ?",
        (_ATTRIBUTE, tenant),
    )
    _pick(conn, "spans", tenant)
    # (conversation, process) pairs where a shared process (the gateway) named the tenant on a span.
    conn.execute("CREATE TEMP TABLE tenant_pairs (conversation_id TEXT, resource_id INTEGER)")
    conn.execute(
        """INSERT INTO temp.tenant_pairs SELECT DISTINCT conversation_id, resource_id FROM main.spans
           WHERE id IN (SELECT id FROM temp.tenant_spans) AND conversation_id IS NOT NULL
             AND resource_id NOT IN (SELECT id FROM temp.tenant_resources)"""
    )
    conn.execute("CREATE INDEX temp.tenant_pairs_index ON tenant_pairs (conversation_id, resource_id)")
    _pick(conn, "logs", tenant)
    for table in ("spans", "logs"):
        conn.execute(
            f"""INSERT OR IGNORE INTO temp.tenant_{table} SELECT id FROM main.{table}
                WHERE (conversation_id, resource_id) IN (SELECT conversation_id, resource_id FROM temp.tenant_pairs)
                  AND NOT ({_HAS_KEY})"""
        )
    conn.execute("CREATE TEMP VIEW spans AS SELECT * FROM main.spans WHERE id IN (SELECT id FROM temp.tenant_spans)")
    conn.execute(
        "CREATE TEMP VIEW funnel AS SELECT * FROM main.funnel WHERE span_row IN (SELECT id FROM temp.tenant_spans)"
    )
    conn.execute("CREATE TEMP VIEW logs AS SELECT * FROM main.logs WHERE id IN (SELECT id FROM temp.tenant_logs)")
    conn.execute(
        f"""CREATE TEMP VIEW metrics AS SELECT * FROM main.metrics
            WHERE resource_id IN (SELECT id FROM temp.tenant_resources)
               OR ({_HAS_KEY} AND json_extract(attributes, '{_ATTRIBUTE}') = '{_sql_string(tenant)}')"""
    )


def _pick(conn: sqlite3.Connection, table: str, tenant: str) -> None:
    """temp.tenant_<table>: ids of the rows whose resource or own attributes name ``tenant``."""
    conn.execute(f"CREATE TEMP TABLE tenant_{table} (id INTEGER PRIMARY KEY)")
    conn.execute(
        f"""INSERT INTO temp.tenant_{table} SELECT id FROM main.{table}
            WHERE resource_id IN (SELECT id FROM temp.tenant_resources)
               OR ({_HAS_KEY} AND json_extract(attributes, ?) = ?)""",
        (_ATTRIBUTE, tenant),
    )


def _sql_string(value: str) -> str:
    """``value`` inside a single-quoted SQL literal (views cannot take parameters)."""
    return value.replace("'", "''")
