"""The idempotency store of a gateway without Redis: a small SQLite file that survives restarts.

Event ids (hashed: an id may carry personal data) and the conversations'
event numbers live in two tables keyed by tenant, with an expiry time on
the wall clock, so a restart remembers them: a signed request captured
before a restart and replayed inside its signature window is a duplicate
(``idempotency_ttl`` must be longer than ``signature_window``).

Each tenant has its own capacity (``ids_per_tenant``): past it, that
tenant's expired entries go first, then its oldest; another tenant's never.
Every claim is committed (WAL, ``synchronous=NORMAL``: a crash of the
process loses nothing, a power cut at most the last moments) before the
gateway answers.  SQLite runs on one worker thread, so the event loop keeps
serving while it writes.  Rate budgets stay in memory: one process.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from botwatch.gateway.limits import RateLimiter

T = TypeVar("T")
PURGE_EVERY = 600.0  # seconds between sweeps of expired entries

_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_ids (
    tenant TEXT NOT NULL, id BLOB NOT NULL, expires REAL NOT NULL, PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_ids_age ON event_ids (tenant, expires);
CREATE TABLE IF NOT EXISTS conversations (
    tenant TEXT NOT NULL, id BLOB NOT NULL, events INTEGER NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversations_age ON conversations (tenant, expires);
"""
_CLAIM = (
    "INSERT INTO event_ids VALUES (?, ?, ?) ON CONFLICT (tenant, id) "
    "DO UPDATE SET expires = excluded.expires WHERE event_ids.expires < ?"
)
_COUNT = (
    "INSERT INTO conversations VALUES (?, ?, 1, ?) ON CONFLICT (tenant, id) DO UPDATE SET "
    "events = CASE WHEN conversations.expires < ? THEN 1 ELSE conversations.events + 1 END, "
    "expires = excluded.expires RETURNING events"
)
TABLES = ("event_ids", "conversations")


def _hash(value: str) -> bytes:
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class SqliteStore:
    def __init__(
        self,
        path: str | Path,
        *,
        ttl: float,
        conversation_ttl: float,
        per_tenant: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl, self._conversation_ttl, self._cap, self._clock = ttl, conversation_ttl, per_tenant, clock
        self._limiters: dict[str, RateLimiter] = {}
        self._path = str(path)
        self._thread: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = self._open()
        self._purged = clock()

    def _open(self) -> sqlite3.Connection:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        # Entries per (table, tenant): an upper bound, made exact when a tenant reaches its capacity.
        self._sizes: dict[tuple[str, str], int] = {}
        for table in TABLES:
            for tenant, count in db.execute(f"SELECT tenant, COUNT(*) FROM {table} GROUP BY tenant"):
                self._sizes[(table, tenant)] = count
        return db

    async def _run(self, work: Callable[[], T]) -> T:
        if self._thread is None:  # first use, or used again after close()
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="botwatch-gateway-state")
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            self._db = self._open()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    # -- the Store protocol ----------------------------------------------------
    async def claim_events(self, tenant: str, event_ids: Sequence[str]) -> list[bool]:
        return await self._run(lambda: self._transaction(lambda db: self._claim(db, tenant, event_ids)))

    async def claim_and_count(self, tenant: str, events: Sequence[tuple[str, str]]) -> list[int]:
        """Both in one transaction on the worker thread: a request pays one hop, not two."""

        def work(db: sqlite3.Connection) -> list[int]:
            fresh = self._claim(db, tenant, [event_id for event_id, _ in events])
            conversations = [c for (_, c), ok in zip(events, fresh, strict=True) if ok]
            numbers = iter(self._count(db, tenant, conversations))
            return [next(numbers) if ok else 0 for ok in fresh]

        return await self._run(lambda: self._transaction(work))

    def _claim(self, db: sqlite3.Connection, tenant: str, event_ids: Sequence[str]) -> list[bool]:
        now = self._clock()
        expires = now + self._ttl
        fresh = [db.execute(_CLAIM, (tenant, _hash(e), expires, now)).rowcount == 1 for e in event_ids]
        self._grew(db, "event_ids", tenant, sum(fresh), now)
        return fresh

    def _count(self, db: sqlite3.Connection, tenant: str, conversations: Sequence[str]) -> list[int]:
        now = self._clock()
        expires = now + self._conversation_ttl
        numbers = [int(db.execute(_COUNT, (tenant, _hash(c), expires, now)).fetchone()[0]) for c in conversations]
        self._grew(db, "conversations", tenant, sum(n == 1 for n in numbers), now)
        return numbers

    async def release_events(self, tenant: str, event_ids: Sequence[str]) -> None:
        def work(db: sqlite3.Connection) -> None:
            for event_id in event_ids:
                gone = db.execute("DELETE FROM event_ids WHERE tenant = ? AND id = ?", (tenant, _hash(event_id)))
                self._sizes[("event_ids", tenant)] = self._sizes.get(("event_ids", tenant), 0) - gone.rowcount

        await self._run(lambda: self._transaction(work))

    async def count_events(self, tenant: str, conversations: Sequence[str]) -> list[int]:
        return await self._run(lambda: self._transaction(lambda db: self._count(db, tenant, conversations)))

    async def take_tokens(self, tenant: str, cost: int, rate: float, burst: int) -> float:
        limiter = self._limiters.get(tenant)
        if limiter is None:
            limiter = self._limiters[tenant] = RateLimiter(rate, burst)
        return limiter.take(cost)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        """Close the file (an in-memory store stays: closing it would forget every id)."""
        if self._thread is None:
            return
        if self._path != ":memory:" and self._db is not None:
            db, self._db = self._db, None
            await self._run(db.close)
        self._thread.shutdown(wait=True)
        self._thread = None

    # -- capacity ----------------------------------------------------------------
    def _grew(self, db: sqlite3.Connection, table: str, tenant: str, added: int, now: float) -> None:
        size = self._sizes[(table, tenant)] = self._sizes.get((table, tenant), 0) + added
        if size > self._cap:
            self._trim(db, table, tenant, now)
        if now - self._purged > PURGE_EVERY:
            self._purged = now
            for other_table, other in list(self._sizes):
                self._trim(db, other_table, other, now)

    def _trim(self, db: sqlite3.Connection, table: str, tenant: str, now: float) -> None:
        """Expired entries out; then, past the capacity, the oldest down to 99% of it."""
        db.execute(f"DELETE FROM {table} WHERE tenant = ? AND expires < ?", (tenant, now))
        size = int(db.execute(f"SELECT COUNT(*) FROM {table} WHERE tenant = ?", (tenant,)).fetchone()[0])
        if size > self._cap:
            excess = size - (self._cap - self._cap // 100)
            oldest = f"SELECT id FROM {table} WHERE tenant = ? ORDER BY expires LIMIT ?"
            db.execute(f"DELETE FROM {table} WHERE tenant = ? AND id IN ({oldest})", (tenant, tenant, excess))
            size -= excess
        self._sizes[(table, tenant)] = size
