"""The server's own small database: API keys, ingestion jobs and idempotency records.

It is a SQLite file next to the memory store (``<home>/server.db`` by default), separate from the store so that the
store stays a pure memory store and a Postgres-backed store can still run with a local state file in embedded mode.
One connection, one lock, WAL: the same concurrency model as :class:`deltamem.stores.sqlite.SqliteStore`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deltamem.core import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, tenant TEXT, admin INTEGER NOT NULL DEFAULT 0, label TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, namespace TEXT NOT NULL, status TEXT NOT NULL,
    request TEXT NOT NULL, result TEXT, error TEXT, session_id TEXT,
    created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs (tenant, created_at);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS idempotency (
    tenant TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status_code INTEGER,
    body TEXT, created_at REAL NOT NULL, PRIMARY KEY (tenant, key)
);
"""


class StateDB:
    """A thread-safe SQLite connection with the server tables."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 30000")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open {path} as the deltamem server database: {e}") from e

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE), committed on success, rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one SELECT."""
        with self._lock:
            return list(self._conn.execute(sql, tuple(params)).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the affected row count."""
        with self.transaction() as c:
            return int(c.execute(sql, tuple(params)).rowcount)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
