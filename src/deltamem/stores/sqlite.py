"""The default store: one SQLite file (WAL), FTS5 keyword search, exact cosine search over a cached matrix.

:class:`SqliteStore` is the shared SQL store (``stores/sql/core.py``) on :class:`SqliteDialect`. What is particular
to SQLite:

- Concurrency: every write is one ``BEGIN IMMEDIATE`` transaction; other processes wait on ``busy_timeout`` rather
  than failing with "database is locked". Reads are one deferred transaction each (a consistent WAL snapshot).
- Vector search: each process keeps a :class:`~deltamem.stores.vector_index.VectorIndex` per namespace and brings it
  up to date from the history table (``seq`` > last seen), so writes by other processes are seen without a full
  reload; a load or a purge bumps the namespace's ``epoch``, which makes every process reload it.
- Keyword search: an FTS5 table (porter stemmer) beside ``memories``, keyed by its rowid, ranked by BM25.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deltamem.core import ConfigError, StoreError
from deltamem.core.model import Vectors
from deltamem.core.timeutil import stored_time
from deltamem.stores.base import ChangeSetRecord, Filters, HistoryRecord, StoredMemory
from deltamem.stores.sql.core import SqlStore, insert_rows
from deltamem.stores.sql.dialect import Hits, Tx, filter_sql
from deltamem.stores.sqlite_schema import CHUNK, SqliteValues, blob_vector, migrate
from deltamem.stores.text import fts5_match
from deltamem.stores.vector_index import VectorIndex


class SqliteStore(SqlStore):
    """A Store (and Archive and ReviewQueue) on one SQLite file. Safe to share between threads (one lock) and
    processes (SQLite locking)."""

    dialect: SqliteDialect

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0, synchronous: str = "NORMAL") -> None:
        super().__init__(SqliteDialect(path, busy_timeout_s=busy_timeout_s, synchronous=synchronous))
        self.path = self.dialect.path


class _Cache:
    __slots__ = ("epoch", "index", "seq")

    def __init__(self, epoch: int, seq: int, index: VectorIndex) -> None:
        self.epoch, self.seq, self.index = epoch, seq, index


class SqliteDialect:
    """The SQLite side of :class:`SqliteStore`: one connection, one lock, the vector caches."""

    values = SqliteValues()
    no_limit: int | None = -1
    # "+deleted_at" keeps SQLite on the (namespace, id) index instead of scanning the live index.
    live_by_id = "+deleted_at IS NULL"
    namespaces_sql = ("SELECT namespace FROM namespaces n WHERE EXISTS (SELECT 1 FROM memories m WHERE m.namespace ="
                      " n.namespace) OR EXISTS (SELECT 1 FROM change_sets s WHERE s.namespace = n.namespace)"
                      " ORDER BY namespace")

    def __init__(self, path: str | Path, *, busy_timeout_s: float, synchronous: str) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.RLock()
        self._caches: dict[str, _Cache] = {}
        try:
            self.conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None,
                                        check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._retry(lambda: self.conn.execute("PRAGMA journal_mode = WAL"))
            self.conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            self.conn.execute("PRAGMA foreign_keys = ON")
            with self.write(()) as c:
                migrate(c)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open {path} as a deltamem SQLite store: {e}") from e

    # -- transactions ---------------------------------------------------------------------------------------------
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
    def write(self, namespaces: Sequence[str]) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: the write lock of the whole file, whatever the namespaces."""
        with self._lock:
            self._retry(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self._retry(lambda: self.conn.execute("COMMIT"))

    @contextlib.contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        """One read transaction: always a consistent snapshot across its SELECTs (WAL readers never block)."""
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._caches.clear()
            self.conn.close()

    # -- filters and search ---------------------------------------------------------------------------------------
    def metadata_sql(self, column: str, key: str, value: Any) -> tuple[str, list[Any]]:
        path = '$."' + key.replace('"', '\\"') + '"'
        if value is None:
            return f" AND json_type({column}, ?) = 'null'", [path]
        if isinstance(value, bool | int | float | str):
            return (f" AND json_type({column}, ?) IS NOT NULL AND json_extract({column}, ?) = ?",
                    [path, path, int(value) if isinstance(value, bool) else value])
        raise ConfigError(f"metadata filter {key!r} must be a string, number, boolean or null")

    def ids_in(self, column: str, ids: Sequence[str]) -> Iterator[tuple[str, list[Any]]]:
        for i in range(0, len(ids), CHUNK):  # stay well under SQLite's bound-parameter limit
            chunk = list(ids[i:i + CHUNK])
            yield f"{column} IN ({','.join('?' * len(chunk))})", chunk

    def keyword_search(self, tx: Tx, namespace: str, text: str, k: int, filters: Filters | None) -> Hits:
        match = fts5_match(text)
        if match is None:
            return []
        where, params = filter_sql(self, filters, "m")
        rows = tx.execute(
            "SELECT m.id, -bm25(memory_fts) FROM memory_fts JOIN memories m ON m.rowid = memory_fts.rowid"
            f" WHERE memory_fts MATCH ? AND m.namespace = ? AND m.deleted_at IS NULL{where}"
            " ORDER BY bm25(memory_fts), m.created_at, m.rowid LIMIT ?",
            (match, namespace, *params, k),
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def vector_search(self, tx: Tx, namespace: str, vector: Vectors, k: int, filters: Filters | None) -> Hits:
        index = self._synced_index(tx, namespace)
        if index is None:
            return []
        if len(vector) != index.dim:
            raise StoreError(f"query vector has dimension {len(vector)}; the store holds {index.dim}-d vectors")
        allowed = None
        if filters is not None and filters.metadata:
            where, params = filter_sql(self, Filters(metadata=filters.metadata))
            allowed = {r[0] for r in tx.execute(
                f"SELECT id FROM memories WHERE namespace = ? AND deleted_at IS NULL{where}", (namespace, *params))}
        since = filters.since if filters else None
        until = filters.until if filters else None
        return index.top_k(vector, k, since=since, until=until, allowed=allowed)

    def _synced_index(self, c: Tx, namespace: str) -> VectorIndex | None:
        row = c.execute("SELECT epoch FROM namespaces WHERE namespace = ?", (namespace,)).fetchone()
        if row is None:
            return None
        epoch = int(row[0])
        seq = int(c.execute("SELECT coalesce(max(seq), 0) FROM history WHERE namespace = ?",
                            (namespace,)).fetchone()[0])
        cache = self._caches.get(namespace)
        dim = self.dim(c)
        if dim is None:
            return None
        if cache is None or cache.epoch != epoch:
            index = VectorIndex(dim)
            index.bulk_load(
                (r[0], blob_vector(r[1]), stored_time(r[2], of=f"memory {r[0]!r}"))
                for r in c.execute("SELECT id, vector, timestamp FROM memories"
                                   " WHERE namespace = ? AND deleted_at IS NULL", (namespace,))
            )
            cache = self._caches[namespace] = _Cache(epoch, seq, index)
        elif seq > cache.seq:
            # No DISTINCT in SQL: it would read the whole history_memory index; dedupe here instead.
            changed = list(dict.fromkeys(r[0] for r in c.execute(
                "SELECT memory_id FROM history WHERE namespace = ? AND seq > ?", (namespace, cache.seq))))
            for cond, chunk in self.ids_in("id", changed):
                live = {r[0]: r for r in c.execute(
                    f"SELECT id, vector, timestamp FROM memories WHERE namespace = ? AND {self.live_by_id}"
                    f" AND {cond}", (namespace, *chunk))}
                for mid in chunk:
                    r = live.get(mid)
                    if r is None:
                        cache.index.remove(mid)
                    else:
                        cache.index.upsert(mid, blob_vector(r[1]), stored_time(r[2], of=f"memory {r[0]!r}"))
            cache.seq = seq
        return cache.index

    # -- upkeep ---------------------------------------------------------------------------------------------------
    def dim(self, tx: Tx) -> int | None:
        row = tx.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
        return int(row[0]) if row else None

    def fix_dim(self, tx: Tx, dim: int) -> None:
        tx.execute("INSERT INTO meta (key, value) VALUES ('embedding_dim', ?)", (str(dim),))

    def indexed(self, tx: Tx, namespace: str, ids: Sequence[str], *, reload: bool) -> None:
        """Re-index the FTS rows of ``ids`` (live rows only), and register the namespace: a load bumps its epoch,
        so that every process reloads its vectors (loaded rows need not come with history)."""
        if reload:
            tx.execute("INSERT INTO namespaces (namespace) VALUES (?)"
                       " ON CONFLICT (namespace) DO UPDATE SET epoch = epoch + 1", (namespace,))
        else:
            tx.execute("INSERT OR IGNORE INTO namespaces (namespace) VALUES (?)", (namespace,))
        for cond, chunk in self.ids_in("id", list(dict.fromkeys(ids))):
            rows = f"FROM memories WHERE namespace = ? AND {cond}"
            tx.execute(f"DELETE FROM memory_fts WHERE rowid IN (SELECT rowid {rows})", (namespace, *chunk))
            tx.execute(f"INSERT INTO memory_fts (rowid, text) SELECT rowid, text {rows} AND {self.live_by_id}",
                       (namespace, *chunk))

    def forget(self, tx: Tx, namespace: str) -> None:
        """Before a purge: drop the namespace's FTS rows and bump its epoch (every process's cache reloads)."""
        tx.execute("DELETE FROM memory_fts WHERE rowid IN (SELECT rowid FROM memories WHERE namespace = ?)",
                   (namespace,))
        tx.execute("UPDATE namespaces SET epoch = epoch + 1 WHERE namespace = ?", (namespace,))
        self._caches.pop(namespace, None)

    def insert(self, tx: Tx, mems: Sequence[StoredMemory], sets: Sequence[ChangeSetRecord],
               hist: Sequence[HistoryRecord], *, dim: int | None) -> None:
        insert_rows(tx, self.values, mems, sets, hist)
