"""The journal's tables, and opening a file as a journal (creating or checking it).

Rows keep the record's own timestamps (the simulator back-dates whole
conversations), plus denormalised columns for the questions ``kpi`` and
``replay`` ask, so those are index range scans and never JSON parsing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from botwatch.journal.journal_error import JournalError, explain, not_a_journal
from botwatch.private_files import create_private

APPLICATION_ID = 0x42577431  # "BWt1": marks the file as a botwatch journal
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

DDL = """
CREATE TABLE resources (
    id          INTEGER PRIMARY KEY,
    attributes  TEXT NOT NULL UNIQUE
);
CREATE TABLE spans (
    id               INTEGER PRIMARY KEY,
    trace_id         TEXT NOT NULL,
    span_id          TEXT NOT NULL,
    parent_span_id   TEXT,
    name             TEXT NOT NULL,
    family           TEXT NOT NULL,      -- conversation/turn/chat/crm/message/funnel/review/other
    kind             TEXT NOT NULL,
    start_ns         INTEGER NOT NULL,
    end_ns           INTEGER NOT NULL,
    duration_ns      INTEGER NOT NULL,
    status           TEXT NOT NULL,      -- UNSET/OK/ERROR
    status_message   TEXT,
    conversation_id  TEXT,
    channel          TEXT,
    turn_index       INTEGER,
    intent           TEXT,
    confidence       REAL,
    sla_breached     INTEGER,            -- turns: attribute or duration over the SLA
    model            TEXT,
    input_tokens     INTEGER,
    output_tokens    INTEGER,
    llm_cost         REAL,
    crm_action       TEXT,
    crm_entity_id    TEXT,
    crm_outcome      TEXT,
    error_type       TEXT,
    attributes       TEXT NOT NULL,      -- JSON
    events           TEXT,               -- JSON list, NULL when none
    resource_id      INTEGER,
    scope            TEXT
);
CREATE INDEX spans_by_time ON spans (start_ns);
CREATE INDEX spans_by_family ON spans (family, start_ns);
CREATE INDEX spans_by_conversation ON spans (conversation_id, start_ns);

CREATE TABLE funnel (
    id               INTEGER PRIMARY KEY,
    time_ns          INTEGER NOT NULL,
    stage            TEXT NOT NULL,
    conversation_id  TEXT,
    channel          TEXT,
    span_row         INTEGER NOT NULL
);
CREATE INDEX funnel_by_stage ON funnel (stage, time_ns, conversation_id);
CREATE INDEX funnel_by_conversation ON funnel (conversation_id, stage, time_ns);
CREATE INDEX funnel_by_time ON funnel (time_ns);

CREATE TABLE logs (
    id               INTEGER PRIMARY KEY,
    time_ns          INTEGER NOT NULL,
    observed_ns      INTEGER,
    trace_id         TEXT,
    span_id          TEXT,
    severity_number  INTEGER,
    severity_text    TEXT,
    event_name       TEXT,
    body             TEXT,               -- text as is; other values as JSON
    conversation_id  TEXT,
    channel          TEXT,
    turn_index       INTEGER,
    attributes       TEXT NOT NULL,
    resource_id      INTEGER,
    scope            TEXT
);
CREATE INDEX logs_by_time ON logs (time_ns);
CREATE INDEX logs_by_conversation ON logs (conversation_id, time_ns);

CREATE TABLE metrics (
    id             INTEGER PRIMARY KEY,
    time_ns        INTEGER NOT NULL,
    start_ns       INTEGER,
    name           TEXT NOT NULL,
    unit           TEXT,
    type           TEXT NOT NULL,        -- sum/gauge/histogram/exponential_histogram
    temporality    TEXT,
    monotonic      INTEGER,
    attributes     TEXT NOT NULL,
    value          REAL,                 -- sum/gauge
    count          INTEGER,              -- histograms
    sum            REAL,
    min            REAL,
    max            REAL,
    buckets        TEXT,                 -- JSON {"bounds": [...], "counts": [...]}
    resource_id    INTEGER,
    scope          TEXT
);
CREATE INDEX metrics_by_name ON metrics (name, time_ns);
CREATE INDEX metrics_by_time ON metrics (time_ns);
"""


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open ``path`` as a journal; with ``create`` make the file and schema if absent.

    Raises JournalError (naming the file and the fix) for a foreign or damaged
    file, an unwritable path, or a missing file when ``create`` is false.
    """
    if not create and not path.exists():
        raise JournalError(
            path,
            "no journal there yet",
            "Run `botwatch demo` or a bot with botwatch.init(), or set BOTWATCH_JOURNAL to the journal's path.",
        )
    conn: sqlite3.Connection | None = None
    try:
        if create:
            # 0600 in 0700 directories: the journal holds whole conversations.
            # SQLite creates -wal and -shm with the database file's mode.
            create_private(path)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_or_create(conn, path, create=create)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # in WAL: a commit survives a process crash
        return conn
    except BaseException as error:
        if conn is not None:
            conn.close()
        raise explain(path, error) from error


def check_journal(conn: sqlite3.Connection, path: Path) -> None:
    """Raise JournalError unless ``conn`` is a botwatch journal of a schema this version reads."""
    _check_or_create(conn, path, create=False)


def _check_or_create(conn: sqlite3.Connection, path: Path, *, create: bool) -> None:
    version, app_id = _identity(conn)
    if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
        return
    if app_id == APPLICATION_ID and version > SCHEMA_VERSION:
        raise not_a_journal(path, f"schema version {version} is newer than this botwatch ({SCHEMA_VERSION})")
    if app_id not in (0, APPLICATION_ID):
        raise not_a_journal(path, f"another application's SQLite file (application_id {app_id:#x})")
    if not create:
        raise not_a_journal(path, "an SQLite file without botwatch's tables")
    # Empty file (or one we half created): build the schema under the write lock,
    # re-checking inside it because another process may have won the race.
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # lets size pruning hand space back
    conn.execute("BEGIN IMMEDIATE")
    try:
        version, app_id = _identity(conn)
        if app_id == 0 and version == 0:
            if _has_tables(conn):
                raise not_a_journal(path, "an SQLite database with other tables in it")
            for statement in _statements(DDL):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    version, app_id = _identity(conn)
    if app_id != APPLICATION_ID or version != SCHEMA_VERSION:
        raise not_a_journal(path, f"unexpected schema (application_id {app_id:#x}, version {version})")


def _identity(conn: sqlite3.Connection) -> tuple[int, int]:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    return version, app_id


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
