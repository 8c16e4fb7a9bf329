"""The connection plumbing of :class:`~deltamem.stores.postgres.PostgresStore`: one connection behind one lock,
transactions that turn psycopg errors into ours and take the SQL core's ``?`` placeholders (:class:`PgTx`), and
:meth:`PostgresConnection.exclusive`, which keeps other writers out of a namespace across several calls.

Why ``exclusive``: every commit takes the namespace's advisory transaction lock and then checks its ``before``
entries against the live rows, so a writer that read before another one committed gets ConflictError. The facade
then reads and recomputes (:func:`deltamem.facade.writer.commit_fresh`). Under contention, retrying without a lock
lost again and again: with 8 writers on one memory, 10-36 % of the writes failed after 8 immediate tries, and a
jittered backoff alone saved them all but with a long tail (docs/results/load_fault.md). A retry inside
``exclusive`` holds the same advisory lock, at session level, from its read to its commit: no other commit to the
namespace can come in between, so it cannot lose again. Only retries take it, so writers that do not collide keep
running in parallel.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from pgvector.psycopg import register_vector

from deltamem.core import ConflictError, StoreError, ValidationError
from deltamem.stores.postgres_schema import ensure_extension, migrate, open_schema

Conn = psycopg.Connection[Any]


class PgTx:
    """A psycopg connection inside a transaction that takes the core's ``?`` placeholders (:class:`Tx`)."""

    __slots__ = ("conn",)

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self.conn.execute(_placeholders(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_placeholders(sql), rows)


@functools.lru_cache(maxsize=1024)
def _placeholders(sql: str) -> str:
    # The SQL of the stores has no literal "?" and no "%" (psycopg would read either).
    return sql.replace("?", "%s")


class PostgresConnection:
    """One connection behind one lock; a connection that broke is replaced on the next call."""

    def __init__(self, dsn: str, *, schema: str, connect_timeout_s: int) -> None:
        self.schema = schema
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.RLock()
        self.conn = self._connect()

    def _connect(self) -> Conn:
        try:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout_s)
        except psycopg.Error as e:
            raise StoreError(f"cannot connect to PostgreSQL: {e}") from e
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            ensure_extension(conn)
            register_vector(conn)
            open_schema(conn, self.schema)
            migrate(conn, self.schema)
        except psycopg.Error as e:
            conn.close()
            raise StoreError(f"cannot open schema {self.schema!r} as a deltamem store: {e}") from e
        except BaseException:  # e.g. a newer schema version: close, then let it through
            conn.close()
            raise
        return conn

    def _live_conn(self) -> Conn:
        if self.conn.closed or self.conn.broken:
            self.conn = self._connect()
        return self.conn

    @contextlib.contextmanager
    def transaction(self, *, snapshot: bool = False) -> Iterator[PgTx]:
        """One transaction; psycopg errors become StoreError (ConflictError for a unique-key clash)."""
        with self._lock:
            conn = self._live_conn()
            try:
                with conn.transaction():
                    if snapshot:  # one consistent view across several SELECTs (dump)
                        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield PgTx(conn)
            except psycopg.errors.UniqueViolation as e:
                raise ConflictError(f"a record with this id already exists: {e.diag.message_detail or e}") from e
            except psycopg.Error as e:
                raise _error(e) from e

    @contextlib.contextmanager
    def exclusive(self, namespace: str) -> Iterator[None]:
        """Hold ``namespace``'s write lock while the block runs: this thread's reads and commit through this store
        see no other writer's commit to it (those wait). Holds the store's thread lock too, so keep the block short.
        """
        with self._lock:
            conn = self._live_conn()
            key = ("deltamem:" + self.schema, namespace)  # the key of postgres_schema.namespace_lock
            try:
                conn.execute("SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", key)
            except psycopg.Error as e:
                raise _error(e) from e
            try:
                yield
            finally:
                try:
                    if not conn.closed and not conn.broken:  # a lost connection took its session lock with it
                        conn.execute("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", key)
                except psycopg.Error:
                    conn.close()  # never keep the lock: ending the session releases it

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()


def _error(e: psycopg.Error) -> StoreError | ValidationError:
    """Ours for a psycopg error. A NUL character in a string parameter (an id, a namespace, a session id) or in
    JSON is the caller's input, which PostgreSQL cannot hold (SQLite can): a ValidationError, not a store failure."""
    if isinstance(e, psycopg.errors.UntranslatableCharacter) or (isinstance(e, psycopg.DataError) and "NUL" in str(e)):
        return ValidationError(f"PostgreSQL cannot store or look up a string with a NUL character (\\x00): {e}")
    return StoreError(f"PostgreSQL error: {e}")
