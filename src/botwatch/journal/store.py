"""One process's write connection to a journal: thread-safe, fork-aware, never raises.

The SDK calls exporters from its background threads; telemetry must never
crash the bot, so every failure becomes ``False`` plus one clear log line per
file and problem (repeated again only after the journal recovered).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.resources import Resource

from botwatch.journal.journal_error import JournalError, explain
from botwatch.journal.journal_settings import JournalSettings
from botwatch.journal.retention import prune_connection
from botwatch.journal.rows import resource_json
from botwatch.journal.schema import connect

_logger = logging.getLogger("botwatch.journal")

BUSY_ATTEMPTS = 6  # 0.05 s .. 1.6 s apart, on top of SQLite's own busy timeout
RETRY_AFTER_S = 5.0  # after a failure, drop batches this long before trying the file again
PRUNE_EVERY_S = 600.0

_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()
# Connections inherited over fork() are parked here, never used or closed in the child.
_abandoned: list[sqlite3.Connection] = []


class ResourceIds:
    """Row ids of resources already in the journal, per connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._ids: dict[str, int] = {}

    def id_for(self, resource: Resource | None) -> int:
        key = resource_json(resource)
        found = self._ids.get(key)
        if found is None:
            self._conn.execute("INSERT OR IGNORE INTO resources (attributes) VALUES (?)", (key,))
            found = int(self._conn.execute("SELECT id FROM resources WHERE attributes = ?", (key,)).fetchone()[0])
            self._ids[key] = found
        return found

    def forget_uncommitted(self) -> None:
        self._ids.clear()


Writer = Callable[[sqlite3.Connection, ResourceIds], None]


class JournalStore:
    def __init__(
        self,
        path: Path,
        settings: JournalSettings,
        *,
        prune_every_s: float = PRUNE_EVERY_S,
    ) -> None:
        self.path = path
        self.settings = settings
        self._prune_every_s = prune_every_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._resources: ResourceIds | None = None
        self._pid = os.getpid()
        self._failed_at: float | None = None
        self._next_prune = 0.0  # prune soon after the first successful open

    def write(self, writer: Writer) -> bool:
        """Run ``writer`` in one write transaction; False (and one log line) on any failure.

        A busy or locked file (another process creating the schema, switching
        to WAL or checkpointing under load) is retried a few times before the
        batch counts as failed: that is contention, not a broken journal.
        """
        with self._lock:
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_S:
                return False
            for attempt in range(BUSY_ATTEMPTS):
                try:
                    self._write_once(writer)
                    return True
                except Exception as error:  # noqa: BLE001 -- telemetry never raises into the SDK thread
                    if _is_busy(error) and attempt + 1 < BUSY_ATTEMPTS:
                        self._drop_connection()
                        time.sleep(0.05 * 2**attempt)
                        continue
                    self._fail(error)
                    return False
            return False

    def _write_once(self, writer: Writer) -> None:
        conn, resources = self._connection()
        _transaction(conn, lambda: writer(conn, resources), on_rollback=resources.forget_uncommitted)
        self._recovered()
        self._maybe_prune(conn)

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def _connection(self) -> tuple[sqlite3.Connection, ResourceIds]:
        if self._pid != os.getpid():
            if self._conn is not None:
                _abandoned.append(self._conn)
            self._conn, self._resources, self._pid = None, None, os.getpid()
            self._next_prune = 0.0
        if self._conn is None or self._resources is None:
            self._conn = connect(self.path, create=True)
            self._resources = ResourceIds(self._conn)
        return self._conn, self._resources

    def _maybe_prune(self, conn: sqlite3.Connection) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + self._prune_every_s
        try:
            prune_connection(conn, self.settings)
        except Exception as error:  # noqa: BLE001 -- the batch is written; pruning retries later
            _report_once(self.path, explain(self.path, error))

    def _fail(self, error: BaseException) -> None:
        self._failed_at = time.monotonic()
        self._drop_connection()
        problem = explain(self.path, error)
        _report_once(self.path, problem)

    def _recovered(self) -> None:
        if self._failed_at is None:
            return
        self._failed_at = None
        with _reported_lock:
            stale = {key for key in _reported if key[0] == str(self.path)}
            _reported.difference_update(stale)
        if stale:
            _logger.warning("botwatch journal %s is writable again; telemetry is being recorded", self.path)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn, self._resources = None, None


def _transaction(conn: sqlite3.Connection, body: Callable[[], None], *, on_rollback: Callable[[], None]) -> None:
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock upgrading a read lock
    try:
        body()
        conn.execute("COMMIT")
    except BaseException:
        on_rollback()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _is_busy(error: BaseException | None) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED anywhere in the error's chain."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:  # a chain may loop (``raise e from e``)
        seen.add(id(error))
        if isinstance(error, sqlite3.OperationalError) and (
            getattr(error, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
            or "locked" in str(error)
            or "busy" in str(error)
        ):
            return True
        error = error.__cause__
    return False


def _report_once(path: Path, problem: JournalError) -> None:
    key = (str(path), problem.remedy)
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    _logger.error("%s Telemetry for this file is dropped until then; the bot keeps running.", problem)
