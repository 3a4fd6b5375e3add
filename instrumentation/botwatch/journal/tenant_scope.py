"""One tenant's part of a journal: a read connection on which ``spans``, ``funnel``, ``logs`` and ``metrics``
hold only that tenant's rows.

A row is the tenant's when its resource says so (``botwatch.tenant``: a bot's
``init(tenant=)``) or its own attributes do (the webhook gateway records many
tenants in one process and names the tenant on everything it records, the
conversation's root span aside; that root joins its conversation's tenant
through the same gateway resource).  Funnel rows follow their span.

The rows are picked once, into temporary tables, and TEMP views with the
tables' names stand in front of them: SQLite resolves an unqualified name in
``temp`` first, so every read query (kpi, sessions, replay, export, facts) sees
only the tenant without a change, and the journal file is not written.
"""

from __future__ import annotations

import sqlite3

from botwatch import semconv
from botwatch.journal.rows import FAMILY_CONVERSATION

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
    conn.execute("CREATE TEMP TABLE tenant_spans (id INTEGER PRIMARY KEY)")
    conn.execute(
        f"""INSERT INTO temp.tenant_spans SELECT id FROM main.spans
            WHERE resource_id IN (SELECT id FROM temp.tenant_resources)
               OR ({_HAS_KEY} AND json_extract(attributes, ?) = ?)""",
        (_ATTRIBUTE, tenant),
    )
    # A gateway conversation's root span carries no tenant: it is the tenant's when the same
    # process recorded the tenant's spans of the same conversation.
    conn.execute(
        """INSERT OR IGNORE INTO temp.tenant_spans
           SELECT r.id FROM main.spans r
           WHERE r.family = ? AND r.resource_id NOT IN (SELECT id FROM temp.tenant_resources)
             AND (r.conversation_id, r.resource_id) IN (
                 SELECT s.conversation_id, s.resource_id FROM main.spans s
                 WHERE s.id IN (SELECT id FROM temp.tenant_spans) AND s.conversation_id IS NOT NULL)
             AND NOT (instr(r.attributes, ?) > 0)""",
        (FAMILY_CONVERSATION, f'"{semconv.TENANT}"'),
    )
    conn.execute("CREATE TEMP TABLE tenant_logs (id INTEGER PRIMARY KEY)")
    conn.execute(
        f"""INSERT INTO temp.tenant_logs SELECT id FROM main.logs
            WHERE resource_id IN (SELECT id FROM temp.tenant_resources)
               OR ({_HAS_KEY} AND json_extract(attributes, ?) = ?)""",
        (_ATTRIBUTE, tenant),
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


def _sql_string(value: str) -> str:
    """``value`` inside a single-quoted SQL literal (views cannot take parameters)."""
    return value.replace("'", "''")
