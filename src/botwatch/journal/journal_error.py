"""The one exception the journal raises to its callers (the CLI side)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class JournalError(Exception):
    """The journal file cannot be used; the message names the file and the fix."""

    def __init__(self, path: Path | str, problem: str, remedy: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.remedy = remedy
        super().__init__(f"botwatch journal {self.path}: {problem}. {remedy}")


def explain(path: Path, error: BaseException) -> JournalError:
    """Turn a low-level sqlite/OS error into a JournalError a person can act on."""
    if isinstance(error, JournalError):
        return error
    name = getattr(error, "sqlite_errorname", "")
    text = str(error)
    if name == "SQLITE_FULL" or "disk is full" in text or getattr(error, "errno", None) == 28:
        return JournalError(
            path,
            "the disk is full",
            "Free space on that disk, lower BOTWATCH_JOURNAL_MAX_MB, or point BOTWATCH_JOURNAL at another disk.",
        )
    if name in ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM") or isinstance(error, PermissionError | OSError):
        return JournalError(
            path,
            f"cannot write the file ({text})",
            "Make the file and its directory writable, or set BOTWATCH_JOURNAL to a writable path.",
        )
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "not a database" in text or "malformed" in text:
        return not_a_journal(path, f"damaged or not an SQLite database ({text})")
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return JournalError(
            path,
            f"the file stayed locked by another process ({text})",
            "Check for a process holding a long transaction on it; botwatch will retry.",
        )
    if isinstance(error, sqlite3.Error):
        return JournalError(path, f"SQLite error ({text})", "Move the file aside to start a fresh journal.")
    return JournalError(path, f"unexpected error ({error!r})", "Move the file aside to start a fresh journal.")


def not_a_journal(path: Path, why: str) -> JournalError:
    return JournalError(
        path,
        f"not a botwatch journal: {why}",
        "Move the file aside (botwatch then creates a fresh journal there) or set BOTWATCH_JOURNAL to another file.",
    )
