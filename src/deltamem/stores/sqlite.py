"""The default store: one SQLite file (WAL), FTS5 keyword search, exact cosine search over a cached matrix.

Concurrency: every write is one ``BEGIN IMMEDIATE`` transaction; other processes wait on ``busy_timeout`` rather
than failing with "database is locked". Each process keeps its own vector cache per namespace and brings it up to
date from the history table (``seq`` > last seen), so writes by other processes are seen without a full reload.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deltamem.core import (
    ChangeSet,
    ConfigError,
    ConflictError,
    MemoryEntry,
    MemoryState,
    StoreError,
    to_iso,
    utcnow,
)
from deltamem.core.codec import ops_to_list
from deltamem.core.model import Vectors
from deltamem.core.timeutil import stored_time
from deltamem.stores.base import (
    ChangeSetRecord,
    Filters,
    HistoryRecord,
    SearchHit,
    SearchMode,
    check_vectors,
    rrf_fuse,
)
from deltamem.stores.conflicts import check_live
from deltamem.stores.sqlite_archive import SqliteArchive
from deltamem.stores.sqlite_review import SqliteReviewQueue
from deltamem.stores.sqlite_schema import (
    CHUNK,
    CS_COLS,
    HIST_COLS,
    MEMORY_COLUMNS,
    blob_vector,
    entry_json,
    migrate,
    row_change_set,
    row_entry,
    row_history,
    upsert_memory,
)
from deltamem.stores.text import fts5_match
from deltamem.stores.vector_index import VectorIndex


class _Cache:
    __slots__ = ("epoch", "index", "seq")

    def __init__(self, epoch: int, seq: int, index: VectorIndex) -> None:
        self.epoch, self.seq, self.index = epoch, seq, index


class SqliteStore(SqliteArchive, SqliteReviewQueue):
    """A Store on one SQLite file. Safe to share between threads (one lock) and processes (SQLite locking)."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.RLock()
        self._caches: dict[str, _Cache] = {}
        try:
            self._conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
            self._conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            with self._write():
                migrate(self._conn)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open {path} as a deltamem SQLite store: {e}") from e

    @property
    def embedding_dim(self) -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
        return int(row[0]) if row else None

    def meta(self, key: str) -> str | None:
        """A value from the store's meta table (e.g. ``embedder``)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Record a value in the meta table."""
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- writes ---------------------------------------------------------------------------------------------------
    def commit(self, change_set: ChangeSet, vectors: Mapping[str, Vectors]) -> None:
        ns = change_set.namespace
        ids = [c.memory_id for c in change_set.changes]
        with self._write() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
            dim = check_vectors(change_set, vectors, int(row[0]) if row else None)
            check_live(change_set, self._live_entries(c, ns, ids))
            if c.execute("SELECT 1 FROM change_sets WHERE namespace = ? AND id = ?", (ns, change_set.id)).fetchone():
                raise ConflictError(f"change set {change_set.id} is already committed")
            if row is None and dim is not None:
                c.execute("INSERT INTO meta (key, value) VALUES ('embedding_dim', ?)", (str(dim),))
            c.execute("INSERT OR IGNORE INTO namespaces (namespace) VALUES (?)", (ns,))
            now = to_iso(utcnow())
            for ch in change_set.changes:
                if ch.after is None:
                    rowid = c.execute("SELECT rowid FROM memories WHERE namespace = ? AND id = ?",
                                      (ns, ch.memory_id)).fetchone()[0]
                    c.execute("UPDATE memories SET deleted_at = ? WHERE rowid = ?", (now, rowid))
                    c.execute("DELETE FROM memory_fts WHERE rowid = ?", (rowid,))
                else:
                    rowid = upsert_memory(c, ch.after, vectors[ch.memory_id])
                    c.execute("DELETE FROM memory_fts WHERE rowid = ?", (rowid,))
                    c.execute("INSERT INTO memory_fts (rowid, text) VALUES (?, ?)", (rowid, ch.after.text))
                c.execute(
                    f"INSERT INTO history ({HIST_COLS[5:]}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (change_set.id, ns, ch.memory_id, ch.kind, entry_json(ch.before), entry_json(ch.after),
                     change_set.session_id, change_set.actor, to_iso(change_set.created_at)),
                )
            c.execute(
                f"INSERT INTO change_sets ({CS_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (change_set.id, ns, to_iso(change_set.created_at), change_set.session_id, change_set.actor,
                 json.dumps(ops_to_list(change_set), ensure_ascii=False), json.dumps(change_set.counts()),
                 change_set.reverts, change_set.note),
            )
            if change_set.reverts:
                c.execute("UPDATE change_sets SET reverted_by = ? WHERE id = ? AND namespace = ?",
                          (change_set.id, change_set.reverts, ns))

    # -- reads ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _live_entries(c: sqlite3.Connection, namespace: str, ids: Sequence[str]) -> MemoryState:
        found: dict[str, MemoryEntry] = {}
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), CHUNK):
            chunk = unique[i:i + CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in c.execute(
                # "+deleted_at" keeps SQLite on the (namespace, id) index instead of scanning the live index.
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = ? AND +deleted_at IS NULL"
                f" AND id IN ({marks})",
                (namespace, *chunk),
            ):
                found[row[0]] = row_entry(row)
        return MemoryState(namespace, found)

    def get(self, namespace: str, ids: Sequence[str]) -> MemoryState:
        with self._read() as c:
            return self._live_entries(c, namespace, ids)

    @staticmethod
    def _filter_sql(filters: Filters | None, alias: str = "") -> tuple[str, list[Any]]:
        if filters is None or filters.empty:
            return "", []
        p = f"{alias}." if alias else ""
        sql = ""
        params: list[Any] = []
        if filters.since is not None:
            sql += f" AND {p}timestamp >= ?"
            params.append(to_iso(filters.since))
        if filters.until is not None:
            sql += f" AND {p}timestamp <= ?"
            params.append(to_iso(filters.until))
        for key, value in filters.metadata.items():
            path = '$."' + str(key).replace('"', '\\"') + '"'
            if value is None:
                sql += f" AND json_type({p}metadata, ?) = 'null'"
                params.append(path)
            elif isinstance(value, bool | int | float | str):
                sql += f" AND json_type({p}metadata, ?) IS NOT NULL AND json_extract({p}metadata, ?) = ?"
                params += [path, path, int(value) if isinstance(value, bool) else value]
            else:
                raise ConfigError(f"metadata filter {key!r} must be a string, number, boolean or null")
        return sql, params

    def list_entries(self, namespace: str, *, filters: Filters | None = None, limit: int | None = None,
             offset: int = 0) -> list[MemoryEntry]:
        where, params = self._filter_sql(filters)
        sql = (f"SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = ? AND deleted_at IS NULL{where}"
               " ORDER BY created_at, rowid LIMIT ? OFFSET ?")
        with self._read() as c:
            rows = c.execute(sql, (namespace, *params, -1 if limit is None else limit, offset)).fetchall()
        return [row_entry(r) for r in rows]

    def count(self, namespace: str) -> int:
        """Number of live memories."""
        with self._read() as c:
            return int(c.execute("SELECT count(*) FROM memories WHERE namespace = ? AND deleted_at IS NULL",
                                 (namespace,)).fetchone()[0])

    def search(self, namespace: str, *, vector: Vectors | None = None, text: str | None = None,
               mode: SearchMode = "hybrid", k: int = 10, filters: Filters | None = None) -> list[SearchHit]:
        if k <= 0:
            return []
        pool = k if mode != "hybrid" else max(k * 4, 50)
        with self._read() as c:
            vec_hits: list[tuple[str, float]] = []
            kw_hits: list[tuple[str, float]] = []
            if mode in ("vector", "hybrid") and vector is not None:
                vec_hits = self._vector_search(c, namespace, vector, pool, filters)
            if mode in ("keyword", "hybrid") and text:
                kw_hits = self._keyword_search(c, namespace, text, pool, filters)
            if mode == "vector":
                ranked = vec_hits
            elif mode == "keyword":
                ranked = kw_hits
            else:
                ranked = rrf_fuse([[i for i, _ in vec_hits], [i for i, _ in kw_hits]], k)
            ranked = ranked[:k]
            found = self._live_entries(c, namespace, [i for i, _ in ranked])
        return [SearchHit(found[i], s) for i, s in ranked if i in found]

    def _keyword_search(self, c: sqlite3.Connection, namespace: str, text: str, k: int,
                        filters: Filters | None) -> list[tuple[str, float]]:
        match = fts5_match(text)
        if match is None:
            return []
        where, params = self._filter_sql(filters, "m")
        rows = c.execute(
            "SELECT m.id, -bm25(memory_fts) FROM memory_fts JOIN memories m ON m.rowid = memory_fts.rowid"
            f" WHERE memory_fts MATCH ? AND m.namespace = ? AND m.deleted_at IS NULL{where}"
            " ORDER BY bm25(memory_fts), m.created_at, m.rowid LIMIT ?",
            (match, namespace, *params, k),
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def _vector_search(self, c: sqlite3.Connection, namespace: str, vector: Vectors, k: int,
                       filters: Filters | None) -> list[tuple[str, float]]:
        index = self._synced_index(c, namespace)
        if index is None:
            return []
        if len(vector) != index.dim:
            raise StoreError(f"query vector has dimension {len(vector)}; the store holds {index.dim}-d vectors")
        allowed = None
        if filters is not None and filters.metadata:
            where, params = self._filter_sql(Filters(metadata=filters.metadata))
            allowed = {r[0] for r in c.execute(
                f"SELECT id FROM memories WHERE namespace = ? AND deleted_at IS NULL{where}", (namespace, *params))}
        since = filters.since if filters else None
        until = filters.until if filters else None
        return index.top_k(vector, k, since=since, until=until, allowed=allowed)

    def _synced_index(self, c: sqlite3.Connection, namespace: str) -> VectorIndex | None:
        row = c.execute("SELECT epoch FROM namespaces WHERE namespace = ?", (namespace,)).fetchone()
        if row is None:
            return None
        epoch = int(row[0])
        seq = int(c.execute("SELECT coalesce(max(seq), 0) FROM history WHERE namespace = ?",
                            (namespace,)).fetchone()[0])
        cache = self._caches.get(namespace)
        dim_row = c.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
        if dim_row is None:
            return None
        if cache is None or cache.epoch != epoch:
            index = VectorIndex(int(dim_row[0]))
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
            for i in range(0, len(changed), CHUNK):
                chunk = changed[i:i + CHUNK]
                marks = ",".join("?" * len(chunk))
                live = {r[0]: r for r in c.execute(
                    f"SELECT id, vector, timestamp FROM memories WHERE namespace = ? AND +deleted_at IS NULL"
                    f" AND id IN ({marks})", (namespace, *chunk))}
                for mid in chunk:
                    r = live.get(mid)
                    if r is None:
                        cache.index.remove(mid)
                    else:
                        cache.index.upsert(mid, blob_vector(r[1]), stored_time(r[2], of=f"memory {r[0]!r}"))
            cache.seq = seq
        return cache.index

    def history(self, namespace: str, *, memory_id: str | None = None,
                change_set_id: str | None = None) -> list[HistoryRecord]:
        sql, params = f"SELECT {HIST_COLS} FROM history WHERE namespace = ?", [namespace]
        if memory_id is not None:
            sql += " AND memory_id = ?"
            params.append(memory_id)
        if change_set_id is not None:
            sql += " AND change_set_id = ?"
            params.append(change_set_id)
        with self._read() as c:
            return [row_history(r) for r in c.execute(sql + " ORDER BY seq", params)]

    def change_sets(self, namespace: str, *, limit: int | None = None) -> list[ChangeSetRecord]:
        with self._read() as c:
            rows = c.execute(f"SELECT {CS_COLS} FROM change_sets WHERE namespace = ?"
                             " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                             (namespace, -1 if limit is None else limit)).fetchall()
        return [row_change_set(r) for r in rows]

    # -- maintenance ----------------------------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        with self._read() as c:
            return [r[0] for r in c.execute(
                "SELECT namespace FROM namespaces n WHERE EXISTS (SELECT 1 FROM memories m WHERE m.namespace ="
                " n.namespace) OR EXISTS (SELECT 1 FROM change_sets s WHERE s.namespace = n.namespace)"
                " ORDER BY namespace")]

    def purge(self, namespace: str) -> int:
        with self._write() as c:
            c.execute("DELETE FROM memory_fts WHERE rowid IN (SELECT rowid FROM memories WHERE namespace = ?)",
                      (namespace,))
            removed = 0
            for table in ("memories", "history", "change_sets", "review_queue"):
                removed += c.execute(f"DELETE FROM {table} WHERE namespace = ?", (namespace,)).rowcount
            c.execute("UPDATE namespaces SET epoch = epoch + 1 WHERE namespace = ?", (namespace,))
        self._caches.pop(namespace, None)
        return removed

    def close(self) -> None:
        with self._lock:
            self._caches.clear()
            self._conn.close()
