"""The connection plumbing of :class:`~deltamem.stores.sqlite.SqliteStore`: one connection, one lock, and
``BEGIN IMMEDIATE`` write / snapshot read transactions with retry on ``SQLITE_BUSY``."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any


class SqliteConnection:
    """Base of the SQLite store: owns ``_conn`` and ``_lock``; subclasses open the connection."""

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _busy_timeout_s: float

    def _retry(self, fn: Any) -> Any:
        # busy_timeout covers lock waits; this also covers the rare SQLITE_BUSY that bypasses the busy handler
        # (e.g. a WAL-mode switch or a read-to-write upgrade race between processes).
        deadline = time.monotonic() + self._busy_timeout_s
        delay = 0.01
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._retry(lambda: self._conn.execute("BEGIN IMMEDIATE"))
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._retry(lambda: self._conn.execute("COMMIT"))

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One read transaction gives a consistent snapshot across several SELECTs (WAL readers never block).
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")
