"""One SQL store: the Store, Archive and ReviewQueue logic of SQLite and PostgreSQL, written once over a Dialect.

Both databases hold the same tables (``memories``, ``change_sets``, ``history``, ``review_queue``, ``meta``) with
the same columns; a :class:`~deltamem.stores.sql.dialect.Dialect` supplies transactions, value encoding, filters,
the two search rankings and the upkeep the shared statements leave out. What the stores guarantee, and that they
refuse bad writes alike, is checked by the contract suites (tests/contracts) on all backends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime

from deltamem.core import ChangeSet, ConflictError, MemoryEntry, MemoryState, NotFoundError, utcnow
from deltamem.core.model import Vectors
from deltamem.stores.base import (
    ChangeSetRecord,
    DumpRecord,
    Filters,
    HistoryRecord,
    SearchHit,
    SearchMode,
    StoredMemory,
    check_vectors,
    commit_records,
    ranked,
)
from deltamem.stores.conflicts import check_live, check_load
from deltamem.stores.integrity import namespace_of
from deltamem.stores.review import PendingChangeSet, ReviewStatus
from deltamem.stores.review_codec import item_to_json, json_to_item
from deltamem.stores.sql.dialect import Dialect, Tx, filter_sql
from deltamem.stores.sql.rows import (
    CS_COLS,
    HIST_COLS,
    INSERT_CHANGE_SET,
    INSERT_HISTORY,
    MARK_DELETED,
    MEMORY_COLUMNS,
    NAMESPACE_TABLES,
    UPSERT_MEMORY,
    Values,
    change_set_params,
    history_params,
    memory_params,
    row_change_set,
    row_entry,
    row_history,
    row_stored,
)


class SqlStore:
    """A Store, Archive and ReviewQueue on a SQL database; the dialect says how that database is spoken to."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    @property
    def embedding_dim(self) -> int | None:
        with self.dialect.read() as c:
            return self.dialect.dim(c)

    def meta(self, key: str) -> str | None:
        """A value from the store's meta table (e.g. ``embedder``)."""
        with self.dialect.read() as c:
            row = c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Record a value in the meta table."""
        with self.dialect.write(()) as c:
            c.execute("INSERT INTO meta (key, value) VALUES (?, ?)"
                      " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # -- writes ---------------------------------------------------------------------------------------------------
    def commit(self, change_set: ChangeSet, vectors: Mapping[str, Vectors]) -> None:
        d, v, ns = self.dialect, self.dialect.values, change_set.namespace
        ids = [ch.memory_id for ch in change_set.changes]
        with d.write([ns]) as c:
            known = d.dim(c)
            dim = check_vectors(change_set, vectors, known)
            check_live(change_set, self._live_entries(c, ns, ids))
            if c.execute("SELECT 1 FROM change_sets WHERE namespace = ? AND id = ?", (ns, change_set.id)).fetchone():
                raise ConflictError(f"change set {change_set.id} is already committed")
            if known is None and dim is not None:
                d.fix_dim(c, dim)
            now = v.time(utcnow())
            _many(c, MARK_DELETED, [(now, ns, ch.memory_id) for ch in change_set.changes if ch.after is None])
            _many(c, UPSERT_MEMORY, [memory_params(v, ch.after, vectors[ch.memory_id], None)
                                     for ch in change_set.changes if ch.after is not None])
            d.indexed(c, ns, ids, reload=False)
            record, history = commit_records(change_set)
            _many(c, INSERT_HISTORY, [history_params(v, h) for h in history])
            c.execute(INSERT_CHANGE_SET, change_set_params(v, record))
            if change_set.reverts:
                c.execute("UPDATE change_sets SET reverted_by = ? WHERE id = ? AND namespace = ?",
                          (change_set.id, change_set.reverts, ns))

    def load(self, records: Iterable[DumpRecord]) -> int:
        d = self.dialect
        items = list(records)
        mems = [r for r in items if isinstance(r, StoredMemory)]
        sets = [r for r in items if isinstance(r, ChangeSetRecord)]
        hist = [r for r in items if isinstance(r, HistoryRecord)]
        spaces = sorted({namespace_of(r) for r in items})  # sorted: loaders never wait for each other in a cycle
        with d.write(spaces) as c:
            known_dim = d.dim(c)
            # Ids are unique per namespace: only the load's own namespaces are asked about, and only its own ids.
            existing: set[tuple[str, str]] = set()
            known: set[tuple[str, str]] = set()
            for ns in spaces:
                existing |= {(ns, i) for i in self._present(c, "memories", ns,
                                                            [m.entry.id for m in mems if m.entry.namespace == ns])}
                known |= {(ns, i) for i in self._present(c, "change_sets", ns, sorted(
                    {s.id for s in sets if s.namespace == ns} | {h.change_set_id for h in hist if h.namespace == ns}))}
            dim = check_load(items, known_dim, existing, known)
            if known_dim is None and dim is not None:
                d.fix_dim(c, dim)
            d.insert(c, mems, sets, hist, dim=dim)
            for ns in spaces:
                d.indexed(c, ns, [m.entry.id for m in mems if m.entry.namespace == ns], reload=True)
        return len(items)

    def purge(self, namespace: str) -> int:
        with self.dialect.write([namespace]) as c:
            self.dialect.forget(c, namespace)
            return sum(c.execute(f"DELETE FROM {table} WHERE namespace = ?", (namespace,)).rowcount
                       for table in NAMESPACE_TABLES)

    # -- reads ----------------------------------------------------------------------------------------------------
    def _live_entries(self, c: Tx, namespace: str, ids: Sequence[str]) -> MemoryState:
        d = self.dialect
        found: dict[str, MemoryEntry] = {}
        for cond, params in d.ids_in("id", list(dict.fromkeys(ids))):
            for row in c.execute(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = ? AND {d.live_by_id}"
                                 f" AND {cond}", (namespace, *params)):
                found[row[0]] = row_entry(d.values, row)
        return MemoryState(namespace, found)

    def _present(self, c: Tx, table: str, namespace: str, ids: Sequence[str]) -> set[str]:
        return {r[0] for cond, params in self.dialect.ids_in("id", ids)
                for r in c.execute(f"SELECT id FROM {table} WHERE namespace = ? AND {cond}", (namespace, *params))}

    def get(self, namespace: str, ids: Sequence[str]) -> MemoryState:
        with self.dialect.read() as c:
            return self._live_entries(c, namespace, ids)

    def list_entries(self, namespace: str, *, filters: Filters | None = None, limit: int | None = None,
                     offset: int = 0) -> list[MemoryEntry]:
        d = self.dialect
        where, params = filter_sql(d, filters)
        sql = (f"SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = ? AND deleted_at IS NULL{where}"
               " ORDER BY created_at, rowid LIMIT ? OFFSET ?")
        with d.read() as c:
            rows = c.execute(sql, (namespace, *params, d.no_limit if limit is None else limit, offset)).fetchall()
        return [row_entry(d.values, r) for r in rows]

    def deleted_entries(self, namespace: str, *, filters: Filters | None = None, limit: int | None = None,
                        offset: int = 0) -> list[tuple[MemoryEntry, datetime]]:
        d = self.dialect
        where, params = filter_sql(d, filters)
        sql = (f"SELECT {MEMORY_COLUMNS}, vector, deleted_at FROM memories WHERE namespace = ?"
               f" AND deleted_at IS NOT NULL{where} ORDER BY deleted_at DESC, id LIMIT ? OFFSET ?")
        with d.read() as c:
            rows = c.execute(sql, (namespace, *params, d.no_limit if limit is None else limit, offset)).fetchall()
        out = []
        for r in rows:
            stored = row_stored(d.values, r)
            assert stored.deleted_at is not None
            out.append((stored.entry, stored.deleted_at))
        return out

    def count(self, namespace: str) -> int:
        """Number of live memories."""
        with self.dialect.read() as c:
            row = c.execute("SELECT count(*) FROM memories WHERE namespace = ? AND deleted_at IS NULL",
                            (namespace,)).fetchone()
        return int(row[0]) if row else 0

    def search(self, namespace: str, *, vector: Vectors | None = None, text: str | None = None,
               mode: SearchMode = "hybrid", k: int = 10, filters: Filters | None = None) -> list[SearchHit]:
        if k <= 0:
            return []
        d = self.dialect
        pool = k if mode != "hybrid" else max(k * 4, 50)
        with d.read() as c:
            vec_hits = (d.vector_search(c, namespace, vector, pool, filters)
                        if mode in ("vector", "hybrid") and vector is not None else [])
            kw_hits = (d.keyword_search(c, namespace, text, pool, filters)
                       if mode in ("keyword", "hybrid") and text else [])
            top = ranked(mode, vec_hits, kw_hits, k)
            found = self._live_entries(c, namespace, [i for i, _ in top])
        return [SearchHit(found[i], s) for i, s in top if i in found]

    def history(self, namespace: str, *, memory_id: str | None = None,
                change_set_id: str | None = None) -> list[HistoryRecord]:
        sql, params = f"SELECT {HIST_COLS} FROM history WHERE namespace = ?", [namespace]
        if memory_id is not None:
            sql += " AND memory_id = ?"
            params.append(memory_id)
        if change_set_id is not None:
            sql += " AND change_set_id = ?"
            params.append(change_set_id)
        with self.dialect.read() as c:
            return [row_history(self.dialect.values, r) for r in c.execute(sql + " ORDER BY seq", params)]

    def change_sets(self, namespace: str, *, limit: int | None = None) -> list[ChangeSetRecord]:
        d = self.dialect
        with d.read() as c:
            rows = c.execute(f"SELECT {CS_COLS} FROM change_sets WHERE namespace = ?"
                             " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                             (namespace, d.no_limit if limit is None else limit)).fetchall()
        return [row_change_set(d.values, r) for r in rows]

    def change_set(self, namespace: str, change_set_id: str) -> ChangeSetRecord | None:
        d = self.dialect
        with d.read() as c:
            row = c.execute(f"SELECT {CS_COLS} FROM change_sets WHERE namespace = ? AND id = ?",
                            (namespace, change_set_id)).fetchone()
        return row_change_set(d.values, row) if row else None

    # -- archive --------------------------------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        with self.dialect.read() as c:
            return [r[0] for r in c.execute(self.dialect.namespaces_sql)]

    def dump(self, namespace: str) -> Iterator[DumpRecord]:
        v = self.dialect.values
        with self.dialect.read(snapshot=True) as c:
            mems = c.execute(f"SELECT {MEMORY_COLUMNS}, vector, deleted_at FROM memories WHERE namespace = ?"
                             " ORDER BY created_at, rowid", (namespace,)).fetchall()
            sets = c.execute(f"SELECT {CS_COLS} FROM change_sets WHERE namespace = ? ORDER BY created_at, rowid",
                             (namespace,)).fetchall()
            hist = c.execute(f"SELECT {HIST_COLS} FROM history WHERE namespace = ? ORDER BY seq",
                             (namespace,)).fetchall()
        for r in mems:
            yield row_stored(v, r)
        for r in sets:
            yield row_change_set(v, r)
        for r in hist:
            yield row_history(v, r)

    def close(self) -> None:
        self.dialect.close()

    # -- review queue (table review_queue) --------------------------------------------------------------------------
    def queue_put(self, item: PendingChangeSet) -> None:
        """Hold a change set for review (ConflictError if its id is queued already, in any namespace)."""
        with self.dialect.write(()) as c:
            if c.execute("SELECT 1 FROM review_queue WHERE id = ?", (item.id,)).fetchone():
                raise ConflictError(f"queued change set {item.id} already exists")
            c.execute("INSERT INTO review_queue (id, namespace, item, status, created_at) VALUES (?, ?, ?, ?, ?)",
                      (item.id, item.namespace, item_to_json(item), item.status,
                       self.dialect.values.time(item.created_at)))

    def queue_list(self, namespace: str, *, status: ReviewStatus | None = "pending") -> list[PendingChangeSet]:
        """Queued change sets of a namespace, oldest first."""
        sql = "SELECT item FROM review_queue WHERE namespace = ?" + (" AND status = ?" if status else "")
        with self.dialect.read() as c:
            rows = c.execute(sql + " ORDER BY created_at, rowid",
                             (namespace, status) if status else (namespace,)).fetchall()
        return [json_to_item(r[0]) for r in rows]

    def queue_get(self, namespace: str, item_id: str) -> PendingChangeSet:
        """One queued change set (NotFoundError if not in this namespace)."""
        with self.dialect.read() as c:
            row = c.execute("SELECT item FROM review_queue WHERE namespace = ? AND id = ?",
                            (namespace, item_id)).fetchone()
        if row is None:
            raise NotFoundError(f"no queued change set {item_id!r} in {namespace!r}")
        return json_to_item(row[0])

    def queue_update(self, item: PendingChangeSet) -> None:
        """Replace a queued item (edited ops, or its resolution)."""
        with self.dialect.write(()) as c:
            n = c.execute("UPDATE review_queue SET item = ?, status = ? WHERE namespace = ? AND id = ?",
                          (item_to_json(item), item.status, item.namespace, item.id)).rowcount
        if n == 0:
            raise NotFoundError(f"no queued change set {item.id!r} in {item.namespace!r}")


def insert_rows(c: Tx, v: Values, mems: Sequence[StoredMemory], sets: Sequence[ChangeSetRecord],
                hist: Sequence[HistoryRecord]) -> None:
    """Write loaded records with the shared statements (a dialect without a faster bulk path uses this)."""
    _many(c, UPSERT_MEMORY, [memory_params(v, m.entry, m.vector, m.deleted_at) for m in mems])
    _many(c, INSERT_CHANGE_SET, [change_set_params(v, s) for s in sets])
    _many(c, INSERT_HISTORY, [history_params(v, h) for h in hist])


def _many(c: Tx, sql: str, rows: Sequence[Sequence[object]]) -> None:
    if rows:
        c.executemany(sql, rows)
