"""What a SQL database must say for :class:`~deltamem.stores.sql.core.SqlStore`: the dialect.

The store's logic (commit, reads, search fusion, history, export, review queue) is written once in ``core.py``
against these Protocols; ``stores/sqlite.py`` and ``stores/postgres.py`` each implement them:

- :class:`Transactions`: a snapshot read, and a write that holds what a write of some namespaces needs (SQLite:
  ``BEGIN IMMEDIATE``; PostgreSQL: advisory locks). Both yield a :class:`Tx` that takes ``?`` placeholders.
- :class:`Search`: metadata/time filters as SQL, id lists, and the two rankings (SQLite: exact cosine over a cached
  matrix and FTS5 BM25; PostgreSQL: pgvector HNSW or exact distance, and ``ts_rank`` full-text search).
- :class:`Upkeep`: what the shared statements leave to the database (the vector dimension, SQLite's FTS table and
  cache epochs, PostgreSQL's bulk COPY).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from deltamem.core.model import Vectors
from deltamem.stores.base import ChangeSetRecord, Filters, HistoryRecord, StoredMemory
from deltamem.stores.sql.rows import Values

#: (id, score) rankings, best first.
Hits = list[tuple[str, float]]


class Cursor(Protocol):
    """The part of a DB-API cursor the core uses."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """A connection inside one transaction. Statements use ``?`` placeholders, whatever the driver's own style."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> object: ...


class Transactions(Protocol):
    """Transactions on the store's one connection (a lock keeps threads apart)."""

    def read(self, *, snapshot: bool = False) -> AbstractContextManager[Tx]:
        """A read-only transaction; ``snapshot``: one consistent view across all its SELECTs (``dump``)."""
        ...

    def write(self, namespaces: Sequence[str]) -> AbstractContextManager[Tx]:
        """A write transaction that no other writer of ``namespaces`` interleaves with; committed when the block
        ends, rolled back (nothing written) when it raises."""
        ...

    def close(self) -> None:
        """Close the connection and drop caches."""
        ...


class Search(Protocol):
    """Filters and the two rankings the hybrid search fuses."""

    #: The LIMIT that means "no limit" (SQLite -1, PostgreSQL NULL).
    no_limit: int | None
    #: The live-row condition of a lookup by id (SQLite writes ``+deleted_at`` to keep its (namespace, id) index).
    live_by_id: str
    #: SELECT of the namespaces that hold any memory or change set, in order.
    namespaces_sql: str

    def metadata_sql(self, column: str, key: str, value: Any) -> tuple[str, list[Any]]:
        """``" AND ..."`` (and its parameters): the JSON object in ``column`` has ``key``, equal to ``value`` as Python
        compares (:meth:`Filters.matches`); ConfigError for a value that is not a string, number, boolean or null."""
        ...

    def ids_in(self, column: str, ids: Sequence[str]) -> Iterator[tuple[str, list[Any]]]:
        """Conditions ``column`` in ``ids`` with their parameters, as many as the driver needs (none if no ids)."""
        ...

    def vector_search(self, tx: Tx, namespace: str, vector: Vectors, k: int, filters: Filters | None) -> Hits:
        """The ``k`` live memories nearest ``vector`` by cosine, with the cosine."""
        ...

    def keyword_search(self, tx: Tx, namespace: str, text: str, k: int, filters: Filters | None) -> Hits:
        """The ``k`` live memories that best match the words of ``text``, with the database's relevance."""
        ...


class Upkeep(Protocol):
    """What a write needs besides the shared statements."""

    def dim(self, tx: Tx) -> int | None:
        """The vector dimension the store holds (None until the first vector)."""
        ...

    def fix_dim(self, tx: Tx, dim: int) -> None:
        """Record the dimension at the first write of vectors (EmbeddingDimensionError if another writer won)."""
        ...

    def indexed(self, tx: Tx, namespace: str, ids: Sequence[str], *, reload: bool) -> None:
        """Memory rows of ``ids`` were written: bring side indexes up to date; ``reload``: they were loaded, not
        committed, so caches of the namespace are stale."""
        ...

    def forget(self, tx: Tx, namespace: str) -> None:
        """The namespace is about to be purged: drop what the dialect keeps of it besides the shared tables."""
        ...

    def insert(self, tx: Tx, mems: Sequence[StoredMemory], sets: Sequence[ChangeSetRecord],
               hist: Sequence[HistoryRecord], *, dim: int | None) -> None:
        """Write loaded records (already checked), in order within each kind."""
        ...


class Dialect(Transactions, Search, Upkeep, Protocol):
    """Everything :class:`~deltamem.stores.sql.core.SqlStore` asks of a database."""

    @property
    def values(self) -> Values:
        """How the database takes and gives back times, JSON and vectors."""
        ...


def filter_sql(dialect: Dialect, filters: Filters | None, alias: str = "") -> tuple[str, list[Any]]:
    """``" AND ..."`` conditions (and their parameters) for :meth:`Filters.matches`; ``alias`` qualifies columns."""
    if filters is None or filters.empty:
        return "", []
    p = f"{alias}." if alias else ""
    sql = ""
    params: list[Any] = []
    if filters.since is not None:
        sql += f" AND {p}timestamp >= ?"
        params.append(dialect.values.time(filters.since))
    if filters.until is not None:
        sql += f" AND {p}timestamp <= ?"
        params.append(dialect.values.time(filters.until))
    for key, value in filters.metadata.items():
        cond, args = dialect.metadata_sql(f"{p}metadata", str(key), value)
        sql += cond
        params += args
    return sql, params
