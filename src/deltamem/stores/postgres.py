"""A Store on PostgreSQL + pgvector: HNSW cosine search, full-text keyword search, one transaction per change set.

:class:`PostgresStore` is the shared SQL store (``stores/sql/core.py``) on :class:`PostgresDialect`, so its semantics
are :class:`~deltamem.stores.sqlite.SqliteStore`'s; the choices particular to PostgreSQL:

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
- Hybrid: reciprocal-rank fusion of the two rankings, as in SQLite (the shared core).

One store holds one connection (guarded by a lock, so threads may share it; open one store per worker for
parallel writes). A connection that broke is replaced on the next call. A write retried after a lost race runs
inside :meth:`PostgresStore.exclusive`, which holds the namespace's lock from its read to its commit (see
``postgres_conn``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from deltamem.core import ConfigError, EmbeddingDimensionError, StoreError
from deltamem.core.model import Vectors
from deltamem.stores.base import ChangeSetRecord, Filters, HistoryRecord, StoredMemory
from deltamem.stores.postgres_conn import PgTx, PostgresConnection
from deltamem.stores.postgres_schema import (
    HNSW_MAX_DIM,
    TS_CONFIG,
    VALUES,
    bulk_insert,
    check_schema_name,
    fix_dimension,
    namespace_lock,
    store_lock,
    vec_param,
)
from deltamem.stores.sql.core import SqlStore
from deltamem.stores.sql.dialect import Hits, Tx, filter_sql
from deltamem.stores.text import query_terms


class PostgresStore(SqlStore):
    """A Store (and Archive, ReviewQueue and NamespaceLock) in one schema of a PostgreSQL database with pgvector."""

    dialect: PostgresDialect

    def __init__(self, dsn: str, *, schema: str = "deltamem", hnsw_ef_search: int = 40,
                 connect_timeout_s: int = 10) -> None:
        """Open (creating or migrating) the store in ``schema``. A vector search for k uses an HNSW candidate list of
        max(``hnsw_ef_search``, 2k), at most 1000: raise the floor for better recall at some latency."""
        super().__init__(PostgresDialect(dsn, schema=schema, hnsw_ef_search=hnsw_ef_search,
                                         connect_timeout_s=connect_timeout_s))
        self.schema = self.dialect.schema

    def exclusive(self, namespace: str) -> contextlib.AbstractContextManager[None]:
        """Hold ``namespace``'s write lock while the block runs (:class:`~deltamem.stores.base.NamespaceLock`; see
        ``postgres_conn``)."""
        return self.dialect.connection.exclusive(namespace)


class PostgresDialect:
    """The PostgreSQL side of :class:`PostgresStore`: its connection, advisory locks, pgvector and text search."""

    values = VALUES
    no_limit: int | None = None
    live_by_id = "deleted_at IS NULL"
    namespaces_sql = "SELECT namespace FROM memories UNION SELECT namespace FROM change_sets ORDER BY 1"

    def __init__(self, dsn: str, *, schema: str, hnsw_ef_search: int, connect_timeout_s: int) -> None:
        if not 1 <= hnsw_ef_search <= 1000:
            raise ConfigError(f"hnsw_ef_search must be between 1 and 1000, not {hnsw_ef_search}")
        self.schema = check_schema_name(schema)
        self._ef_search = hnsw_ef_search
        self._dim: int | None = None
        self.connection = PostgresConnection(dsn, schema=self.schema, connect_timeout_s=connect_timeout_s)

    # -- transactions ---------------------------------------------------------------------------------------------
    def read(self, *, snapshot: bool = False) -> contextlib.AbstractContextManager[PgTx]:
        return self.connection.transaction(snapshot=snapshot)

    @contextlib.contextmanager
    def write(self, namespaces: Sequence[str]) -> Iterator[PgTx]:
        """One transaction holding the advisory lock of each namespace (sorted: writers never wait in a cycle); the
        store-wide lock first while no dimension is fixed (see ``postgres_schema``)."""
        with self.connection.transaction() as c:
            if namespaces:
                if self.dim(c) is None:
                    store_lock(c.conn, self.schema)
                for ns in sorted(set(namespaces)):
                    namespace_lock(c.conn, self.schema, ns)
            yield c

    def close(self) -> None:
        self.connection.close()

    # -- filters and search ---------------------------------------------------------------------------------------
    def metadata_sql(self, column: str, key: str, value: Any) -> tuple[str, list[Any]]:
        """Python equality is the reference, so ``True`` also matches ``1`` / ``1.0`` (and ``1`` matches ``true``), as
        ``Filters.matches`` and SQLite's json_extract do; ``@>`` alone would keep JSON booleans and numbers apart."""
        alts: list[Any]
        if value is None or isinstance(value, str):
            alts = [value]
        elif isinstance(value, bool):
            alts = [value, int(value)]
        elif isinstance(value, int | float):
            if not math.isfinite(value):  # NaN equals nothing; infinities cannot be stored in JSON
                return " AND FALSE", []
            alts = [value, bool(value)] if value in (0, 1) else [value]
        else:
            raise ConfigError(f"metadata filter {key!r} must be a string, number, boolean or null")
        return " AND (" + " OR ".join(f"{column} @> ?" for _ in alts) + ")", [Jsonb({key: alt}) for alt in alts]

    def ids_in(self, column: str, ids: Sequence[str]) -> Iterator[tuple[str, list[Any]]]:
        if ids:
            yield f"{column} = ANY(?)", [list(ids)]

    def vector_search(self, tx: Tx, namespace: str, vector: Vectors, k: int, filters: Filters | None) -> Hits:
        dim = self.dim(tx)
        if dim is None:
            return []
        q = vec_param(vector)
        if q.ndim != 1 or q.shape[0] != dim:
            raise StoreError(f"query vector has shape {q.shape}; the store holds {dim}-d vectors")
        where, params = filter_sql(self, filters)
        if not where and dim <= HNSW_MAX_DIM:
            tx.execute("SELECT set_config('hnsw.ef_search', ?, true)", (str(min(1000, max(self._ef_search, 2 * k))),))
            rows = tx.execute("SELECT id, vector <=> ? AS d FROM memories WHERE namespace = ?"
                              " AND deleted_at IS NULL ORDER BY d LIMIT ?", (q, namespace, k)).fetchall()
            if len(rows) >= k:
                return [(r[0], 1.0 - float(r[1])) for r in rows]
        # Exact: the MATERIALIZED CTE keeps the planner off the HNSW index, which would filter after the scan.
        rows = tx.execute("WITH c AS MATERIALIZED (SELECT id, rowid, vector <=> ? AS d FROM memories"
                          f" WHERE namespace = ? AND deleted_at IS NULL{where})"
                          " SELECT id, d FROM c ORDER BY d, rowid LIMIT ?", (q, namespace, *params, k)).fetchall()
        return [(r[0], 1.0 - float(r[1])) for r in rows]

    def keyword_search(self, tx: Tx, namespace: str, text: str, k: int, filters: Filters | None) -> Hits:
        terms = query_terms(text)
        if not terms:
            return []
        where, params = filter_sql(self, filters, "m")
        # Constant-folded at plan time (plainto_tsquery with a fixed config is immutable), so the GIN index applies.
        tsq = "(" + " || ".join(f"plainto_tsquery('{TS_CONFIG}', ?)" for _ in terms) + ")"
        rows = tx.execute(
            f"SELECT m.id, ts_rank(m.tsv, {tsq}, 1) AS s FROM memories m WHERE m.namespace = ?"
            f" AND m.deleted_at IS NULL AND m.tsv @@ {tsq}{where}"
            " ORDER BY s DESC, m.created_at, m.rowid LIMIT ?", (*terms, namespace, *terms, *params, k),
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    # -- upkeep ---------------------------------------------------------------------------------------------------
    def dim(self, tx: Tx) -> int | None:
        if self._dim is None:  # never changes once set, so only re-read while unknown
            row = tx.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
            self._dim = int(row[0]) if row else None
        return self._dim

    def fix_dim(self, tx: Tx, dim: int) -> None:
        assert isinstance(tx, PgTx)
        got = fix_dimension(tx.conn, self.schema, dim)
        if got != dim:
            raise EmbeddingDimensionError(f"the store holds {got}-d vectors; these are {dim}-d")

    def indexed(self, tx: Tx, namespace: str, ids: Sequence[str], *, reload: bool) -> None:
        """Nothing to do: the ``tsv`` column is generated, and the HNSW index is kept by PostgreSQL."""

    def forget(self, tx: Tx, namespace: str) -> None:
        """Nothing kept besides the shared tables."""

    def insert(self, tx: Tx, mems: Sequence[StoredMemory], sets: Sequence[ChangeSetRecord],
               hist: Sequence[HistoryRecord], *, dim: int | None) -> None:
        assert isinstance(tx, PgTx)
        bulk_insert(tx.conn, mems, sets, hist, dim=dim)
