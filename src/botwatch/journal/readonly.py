"""Opening a journal for reading only: audit commands never write to it, and work on a read-only mount.

``mode=ro`` reads a journal in WAL mode as long as SQLite can open (or create)
its ``-shm`` beside it.  Where it cannot (a read-only directory or mount)
and there is no ``-wal`` with records in it, everything is in the main file:
``immutable=1`` reads it without the ``-shm`` (nobody can be writing there).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from botwatch.journal.journal_error import JournalError, explain
from botwatch.journal.schema import BUSY_TIMEOUT_MS, check_journal


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the journal at ``path``; JournalError naming the fix otherwise."""
    if not path.exists():
        raise JournalError(
            path,
            "no journal there yet",
            "Run `botwatch demo` or a bot with botwatch.init(), or set BOTWATCH_JOURNAL to the journal's path.",
        )
    try:
        return _open(path, immutable=False)
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorname", "") != "SQLITE_CANTOPEN":
            raise explain(path, error) from error
        first = error
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise JournalError(
            path,
            f"its newest records are in {wal.name}, and reading them needs {path.name}-shm, "
            "which cannot be created in this directory",
            f"Copy {path.name} and {wal.name} to a writable directory and pass the copy with --journal.",
        ) from first
    try:
        return _open(path, immutable=True)
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorname", "") == "SQLITE_CANTOPEN":
            raise JournalError(
                path, f"cannot open the file for reading ({error})", "Make the file readable for this user."
            ) from error
        raise explain(path, error) from error


def _open(path: Path, *, immutable: bool) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.absolute()))}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        check_journal(conn, path)  # the first read: opening -shm fails here, not in connect()
    except BaseException:
        conn.close()
        raise
    return conn
