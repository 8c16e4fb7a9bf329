"""A Store on PostgreSQL + pgvector: HNSW cosine search, full-text keyword search, one transaction per change set.

Semantics follow :class:`~deltamem.stores.sqlite.SqliteStore` exactly; the choices particular to PostgreSQL:

- Concurrency: every change set is one transaction that first takes ``pg_advisory_xact_lock`` on (schema,
  namespace), so writers of one namespace queue (across processes and hosts) while other namespaces proceed; then
  the ``before`` entries are checked against the live rows (ConflictError on a stale view, like SQLite).
- Vector search: an HNSW index (``vector_cosine_ops``) over live rows, queried with ``hnsw.ef_search`` =
  max(40, 2k) (the 40 is the ``hnsw_ef_search`` option). HNSW is approximate, and pgvector 0.6 filters *after* the
  index scan (no iterative scan), so a search with time or metadata filters, or one for which the index returned
  fewer than k rows (a small namespace in a shared table), is answered by an exact ``ORDER BY distance`` over the
  filtered rows instead.
- Keyword search: a generated ``tsvector`` (Snowball English stemmer, no stopword list; see ``postgres_schema``)
  with a GIN index; the query is the OR of ``plainto_tsquery`` over :func:`~deltamem.stores.text.query_terms`, the
  same terms FTS5 gets, ranked by ``ts_rank`` (normalised by log document length). PostgreSQL has no BM25, so
  scores (and the order of near-ties) differ from SQLite's; which rows match does not.
- Hybrid: reciprocal-rank fusion of the two rankings, as in SQLite.

One store holds one connection (guarded by a lock, so threads may share it; open one store per worker for
parallel writes). A connection that broke is replaced on the next call. A write retried after a lost race runs
inside :meth:`~deltamem.stores.postgres_conn.PostgresConnection.exclusive`, which holds the namespace's lock from
its read to its commit (see ``postgres_conn``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence

from psycopg.types.json import Jsonb

from deltamem.core import (
    ChangeSet,
    ConfigError,
    ConflictError,
    EmbeddingDimensionError,
    MemoryEntry,
    MemoryState,
    NotFoundError,
    StoreError,
    utcnow,
)
from deltamem.core.codec import ops_to_list
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
    rrf_fuse,
)
from deltamem.stores.conflicts import check_live, check_load
from deltamem.stores.integrity import namespace_of
from deltamem.stores.postgres_conn import Conn, PostgresConnection
from deltamem.stores.postgres_schema import (
    CS_COLS,
    HIST_COLS,
    HNSW_MAX_DIM,
    INSERT_CHANGE_SET,
    INSERT_HISTORY,
    MEMORY_COLUMNS,
    TS_CONFIG,
    UPSERT_MEMORY,
    bulk_insert,
    check_schema_name,
    entry_json,
    entry_params,
    filter_sql,
    fix_dimension,
    namespace_lock,
    row_change_set,
    row_entry,
    row_history,
    row_stored,
    store_lock,
    vec_param,
)
from deltamem.stores.review import PendingChangeSet, ReviewStatus
from deltamem.stores.review_codec import item_to_json, json_to_item
from deltamem.stores.text import query_terms


class PostgresStore(PostgresConnection):
    """A Store (and ArchiveStore and ReviewQueue) in one schema of a PostgreSQL database with pgvector."""

    def __init__(self, dsn: str, *, schema: str = "deltamem", hnsw_ef_search: int = 40,
                 connect_timeout_s: int = 10) -> None:
        """Open (creating or migrating) the store in ``schema``. A vector search for k uses an HNSW candidate list of
        max(``hnsw_ef_search``, 2k), at most 1000: raise the floor for better recall at some latency."""
        if not 1 <= hnsw_ef_search <= 1000:
            raise ConfigError(f"hnsw_ef_search must be between 1 and 1000, not {hnsw_ef_search}")
        self.schema = check_schema_name(schema)
        self._ef_search = hnsw_ef_search
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.RLock()
        self._dim: int | None = None
        self._conn = self._connect()

    # -- plumbing (connection, transactions, exclusive: postgres_conn) -----------------------------------------
    def _read_dim(self, c: Conn) -> int | None:
        if self._dim is None:  # never changes once set, so only re-read while unknown
            row = c.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
            self._dim = int(row[0]) if row else None
        return self._dim

    def _fix_dim(self, c: Conn, dim: int) -> None:
        got = fix_dimension(c, self.schema, dim)
        if got != dim:
            raise EmbeddingDimensionError(f"the store holds {got}-d vectors; these are {dim}-d")

    @property
    def embedding_dim(self) -> int | None:
        with self._tx() as c:
            return self._read_dim(c)

    def meta(self, key: str) -> str | None:
        """A value from the store's meta table (e.g. ``embedder``)."""
        with self._tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Record a value in the meta table."""
        with self._tx() as c:
            c.execute("INSERT INTO meta (key, value) VALUES (%s, %s)"
                      " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # -- writes ---------------------------------------------------------------------------------------------------
    def commit(self, change_set: ChangeSet, vectors: Mapping[str, Vectors]) -> None:
        ns = change_set.namespace
        with self._tx() as c:
            known = self._read_dim(c)
            if known is None:  # the first write fixes the dimension: store lock first (see postgres_schema)
                store_lock(c, self.schema)
            namespace_lock(c, self.schema, ns)
            dim = check_vectors(change_set, vectors, known)
            check_live(change_set, self._live_entries(c, ns, [ch.memory_id for ch in change_set.changes]))
            if c.execute("SELECT 1 FROM change_sets WHERE namespace = %s AND id = %s", (ns, change_set.id)).fetchone():
                raise ConflictError(f"change set {change_set.id} is already committed")
            if known is None and dim is not None:
                self._fix_dim(c, dim)
            now = utcnow()
            with c.cursor() as cur:
                deleted = [(now, ns, ch.memory_id) for ch in change_set.changes if ch.after is None]
                if deleted:
                    cur.executemany("UPDATE memories SET deleted_at = %s WHERE namespace = %s AND id = %s", deleted)
                upserts = [(*entry_params(ch.after), vec_param(vectors[ch.memory_id]), None)
                           for ch in change_set.changes if ch.after is not None]
                if upserts:
                    cur.executemany(UPSERT_MEMORY, upserts)
                cur.executemany(INSERT_HISTORY, [
                    (change_set.id, ns, ch.memory_id, ch.kind, entry_json(ch.before), entry_json(ch.after),
                     change_set.session_id, change_set.actor, change_set.created_at) for ch in change_set.changes])
            c.execute(INSERT_CHANGE_SET, (
                change_set.id, ns, change_set.created_at, change_set.session_id, change_set.actor,
                Jsonb(ops_to_list(change_set)), Jsonb(change_set.counts()), change_set.reverts, None, change_set.note))
            if change_set.reverts:
                c.execute("UPDATE change_sets SET reverted_by = %s WHERE id = %s AND namespace = %s",
                          (change_set.id, change_set.reverts, ns))

    # -- reads ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _live_entries(c: Conn, namespace: str, ids: Sequence[str]) -> MemoryState:
        found: dict[str, MemoryEntry] = {}
        if ids:
            for row in c.execute(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = %s"
                                 " AND deleted_at IS NULL AND id = ANY(%s)", (namespace, list(dict.fromkeys(ids)))):
                found[row[0]] = row_entry(row)
        return MemoryState(namespace, found)

    def get(self, namespace: str, ids: Sequence[str]) -> MemoryState:
        with self._tx() as c:
            return self._live_entries(c, namespace, ids)

    def list_entries(self, namespace: str, *, filters: Filters | None = None, limit: int | None = None,
                     offset: int = 0) -> list[MemoryEntry]:
        where, params = filter_sql(filters)
        sql = (f"SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = %(ns)s AND deleted_at IS NULL{where}"
               " ORDER BY created_at, rowid LIMIT %(limit)s OFFSET %(offset)s")
        with self._tx() as c:
            rows = c.execute(sql, {"ns": namespace, "limit": limit, "offset": offset, **params}).fetchall()
        return [row_entry(r) for r in rows]

    def count(self, namespace: str) -> int:
        """Number of live memories."""
        with self._tx() as c:
            row = c.execute("SELECT count(*) FROM memories WHERE namespace = %s AND deleted_at IS NULL",
                            (namespace,)).fetchone()
        return int(row[0]) if row else 0

    def search(self, namespace: str, *, vector: Vectors | None = None, text: str | None = None,
               mode: SearchMode = "hybrid", k: int = 10, filters: Filters | None = None) -> list[SearchHit]:
        if k <= 0:
            return []
        pool = k if mode != "hybrid" else max(k * 4, 50)
        with self._tx() as c:
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

    def _vector_search(self, c: Conn, namespace: str, vector: Vectors, k: int,
                       filters: Filters | None) -> list[tuple[str, float]]:
        dim = self._read_dim(c)
        if dim is None:
            return []
        q = vec_param(vector)
        if q.ndim != 1 or q.shape[0] != dim:
            raise StoreError(f"query vector has shape {q.shape}; the store holds {dim}-d vectors")
        where, params = filter_sql(filters)
        params.update(q=q, ns=namespace, k=k)
        if not where and dim <= HNSW_MAX_DIM:
            c.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(self._ef_search, 2 * k))),))
            rows = c.execute("SELECT id, vector <=> %(q)s AS d FROM memories WHERE namespace = %(ns)s"
                             " AND deleted_at IS NULL ORDER BY d LIMIT %(k)s", params).fetchall()
            if len(rows) >= k:
                return [(r[0], 1.0 - float(r[1])) for r in rows]
        # Exact: the MATERIALIZED CTE keeps the planner off the HNSW index, which would filter after the scan.
        rows = c.execute("WITH c AS MATERIALIZED (SELECT id, rowid, vector <=> %(q)s AS d FROM memories"
                         f" WHERE namespace = %(ns)s AND deleted_at IS NULL{where})"
                         " SELECT id, d FROM c ORDER BY d, rowid LIMIT %(k)s", params).fetchall()
        return [(r[0], 1.0 - float(r[1])) for r in rows]

    def _keyword_search(self, c: Conn, namespace: str, text: str, k: int,
                        filters: Filters | None) -> list[tuple[str, float]]:
        terms = query_terms(text)
        if not terms:
            return []
        where, params = filter_sql(filters, "m.")
        params.update({f"t{i}": t for i, t in enumerate(terms)}, ns=namespace, k=k)
        # Constant-folded at plan time (plainto_tsquery with a fixed config is immutable), so the GIN index applies.
        tsq = "(" + " || ".join(f"plainto_tsquery('{TS_CONFIG}', %(t{i})s)" for i in range(len(terms))) + ")"
        rows = c.execute(
            f"SELECT m.id, ts_rank(m.tsv, {tsq}, 1) AS s FROM memories m WHERE m.namespace = %(ns)s"
            f" AND m.deleted_at IS NULL AND m.tsv @@ {tsq}{where}"
            " ORDER BY s DESC, m.created_at, m.rowid LIMIT %(k)s", params,
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def history(self, namespace: str, *, memory_id: str | None = None,
                change_set_id: str | None = None) -> list[HistoryRecord]:
        sql = f"SELECT {HIST_COLS} FROM history WHERE namespace = %(ns)s"
        if memory_id is not None:
            sql += " AND memory_id = %(mid)s"
        if change_set_id is not None:
            sql += " AND change_set_id = %(cs)s"
        with self._tx() as c:
            rows = c.execute(sql + " ORDER BY seq", {"ns": namespace, "mid": memory_id, "cs": change_set_id})
            return [row_history(r) for r in rows]

    def change_sets(self, namespace: str, *, limit: int | None = None) -> list[ChangeSetRecord]:
        with self._tx() as c:
            rows = c.execute(f"SELECT {CS_COLS} FROM change_sets WHERE namespace = %s"
                             " ORDER BY created_at DESC, rowid DESC LIMIT %s", (namespace, limit)).fetchall()
        return [row_change_set(r) for r in rows]

    # -- maintenance ----------------------------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        with self._tx() as c:
            return [r[0] for r in c.execute(
                "SELECT namespace FROM memories UNION SELECT namespace FROM change_sets ORDER BY 1")]

    def dump(self, namespace: str) -> Iterator[DumpRecord]:
        with self._tx(snapshot=True) as c:
            mems = c.execute(f"SELECT {MEMORY_COLUMNS}, vector, deleted_at FROM memories WHERE namespace = %s"
                             " ORDER BY created_at, rowid", (namespace,)).fetchall()
            sets = c.execute(f"SELECT {CS_COLS} FROM change_sets WHERE namespace = %s ORDER BY created_at, rowid",
                             (namespace,)).fetchall()
            hist = c.execute(f"SELECT {HIST_COLS} FROM history WHERE namespace = %s ORDER BY seq",
                             (namespace,)).fetchall()
        for r in mems:
            yield row_stored(r)
        for r in sets:
            yield row_change_set(r)
        for r in hist:
            yield row_history(r)

    def load(self, records: Iterable[DumpRecord]) -> int:
        items = list(records)
        mems = [r for r in items if isinstance(r, StoredMemory)]
        sets = [r for r in items if isinstance(r, ChangeSetRecord)]
        hist = [r for r in items if isinstance(r, HistoryRecord)]
        with self._tx() as c:
            known_dim = self._read_dim(c)
            if known_dim is None:
                store_lock(c, self.schema)
            for ns in sorted({namespace_of(r) for r in items}):  # sorted: loaders never wait in a cycle
                namespace_lock(c, self.schema, ns)
            existing = {(r[0], r[1]) for r in c.execute(
                "SELECT m.namespace, m.id FROM memories m JOIN unnest(%s::text[], %s::text[]) AS u(ns, id)"
                " ON m.namespace = u.ns AND m.id = u.id",
                ([r.entry.namespace for r in mems], [r.entry.id for r in mems]))}
            wanted = list({r.id for r in sets} | {h.change_set_id for h in hist})
            known = {(r[0], r[1]) for r in c.execute("SELECT namespace, id FROM change_sets WHERE id = ANY(%s)",
                                                     (wanted,))}
            dim = check_load(items, known_dim, existing, known)
            if known_dim is None and dim is not None:
                self._fix_dim(c, dim)
            bulk_insert(c, mems, sets, hist, dim=dim)
        return len(items)

    def purge(self, namespace: str) -> int:
        with self._tx() as c:
            namespace_lock(c, self.schema, namespace)
            return sum(c.execute(f"DELETE FROM {table} WHERE namespace = %s", (namespace,)).rowcount
                       for table in ("memories", "history", "change_sets", "review_queue"))

    # -- review queue ---------------------------------------------------------------------------------------------
    def queue_put(self, item: PendingChangeSet) -> None:
        """Hold a change set for review."""
        with self._tx() as c:
            c.execute("INSERT INTO review_queue (id, namespace, item, status, created_at)"
                      " VALUES (%s, %s, %s, %s, %s)",
                      (item.id, item.namespace, item_to_json(item), item.status, item.created_at))

    def queue_list(self, namespace: str, *, status: ReviewStatus | None = "pending") -> list[PendingChangeSet]:
        """Queued change sets of a namespace, oldest first."""
        sql = "SELECT item FROM review_queue WHERE namespace = %(ns)s" + (" AND status = %(st)s" if status else "")
        with self._tx() as c:
            rows = c.execute(sql + " ORDER BY created_at, rowid", {"ns": namespace, "st": status}).fetchall()
        return [json_to_item(r[0]) for r in rows]

    def queue_get(self, namespace: str, item_id: str) -> PendingChangeSet:
        """One queued change set (NotFoundError if not in this namespace)."""
        with self._tx() as c:
            row = c.execute("SELECT item FROM review_queue WHERE namespace = %s AND id = %s",
                            (namespace, item_id)).fetchone()
        if row is None:
            raise NotFoundError(f"no queued change set {item_id!r} in {namespace!r}")
        return json_to_item(row[0])

    def queue_update(self, item: PendingChangeSet) -> None:
        """Replace a queued item (edited ops, or its resolution)."""
        with self._tx() as c:
            n = c.execute("UPDATE review_queue SET item = %s, status = %s WHERE namespace = %s AND id = %s",
                          (item_to_json(item), item.status, item.namespace, item.id)).rowcount
        if n == 0:
            raise NotFoundError(f"no queued change set {item.id!r} in {item.namespace!r}")


