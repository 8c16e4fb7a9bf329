"""The server's own small database: API keys, ingestion jobs, idempotency records and the inspector's sign-ins.

Embedded mode: a SQLite file next to the memory store (``<home>/server.db`` by default, :class:`StateDB`), separate
from the store so that the store stays a pure memory store and a Postgres-backed store can still run with a local
state file. One connection, one lock, WAL: the same concurrency model as :class:`deltamem.stores.sqlite.SqliteStore`.

Scaled out (``queue = "procrastinate"``): the same tables in a PostgreSQL schema (:class:`PostgresStateDB`), so every
API node and worker sees the same keys, jobs and idempotency records. Both implement :class:`ServerDB`; the SQL of
the key, job and idempotency stores is written once, in the subset both databases accept, with ``?`` placeholders.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from deltamem.core import ConfigError, StoreError

if TYPE_CHECKING:
    import psycopg

    from deltamem.server.config import ServerConfig

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
CREATE TABLE IF NOT EXISTS ui_sessions (
    token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, tenant TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    tenant TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status_code INTEGER,
    body TEXT, created_at REAL NOT NULL, PRIMARY KEY (tenant, key)
);
"""


class StateCursor(Protocol):
    """What a statement run inside :meth:`ServerDB.transaction` returns (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class StateConn(Protocol):
    """The connection a transaction yields: ``execute(sql with ? placeholders, params)``."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> StateCursor: ...


class ServerDB(Protocol):
    """The server tables (``api_keys``, ``jobs``, ``idempotency``) behind a lock, in SQLite or PostgreSQL.

    A constraint violation inside :meth:`transaction` raises :class:`sqlite3.IntegrityError` on both backends and
    leaves the transaction usable, which is what the idempotency store relies on.
    """

    def transaction(self) -> AbstractContextManager[StateConn]:
        """One write transaction, committed on success, rolled back on any exception."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one SELECT."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the affected row count."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


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


_PG_SCHEMA = _SCHEMA.replace("created_at REAL", "created_at DOUBLE PRECISION")


def _pg_sql(sql: str) -> str:
    """``?`` placeholders → psycopg's ``%s`` (the state SQL has no literal ``?`` or ``%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PgConn:
    """A psycopg connection seen through :class:`StateConn`: each statement in a savepoint, so a unique-key clash
    raises :class:`sqlite3.IntegrityError` and the surrounding transaction goes on (as it does in SQLite)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> StateCursor:
        import psycopg

        try:
            with self._conn.transaction():
                return self._conn.execute(_pg_sql(sql), tuple(parameters))
        except psycopg.errors.IntegrityError as e:
            raise sqlite3.IntegrityError(str(e)) from e


class PostgresStateDB:
    """The server tables in one schema of a PostgreSQL database (default ``deltamem_server``).

    One connection guarded by a lock, like :class:`~deltamem.stores.postgres.PostgresStore`; a connection that broke
    is replaced on the next call. psycopg errors other than constraint violations become :class:`StoreError`.
    """

    def __init__(self, dsn: str, *, schema: str = "deltamem_server", connect_timeout_s: int = 10) -> None:
        from deltamem.stores.postgres_schema import check_schema_name

        self.schema = check_schema_name(schema)
        self._dsn = dsn
        self._timeout = connect_timeout_s
        self._lock = threading.RLock()
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._timeout)
        except psycopg.Error as e:
            raise StoreError(f"cannot connect to PostgreSQL for the server tables: {e}") from e
        try:
            with conn.transaction():  # concurrent first starts of several nodes: one creates, the others wait
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("deltamem:" + self.schema,))
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
                conn.execute(f"SET LOCAL search_path TO {self.schema}")
                for stmt in filter(str.strip, _PG_SCHEMA.split(";")):
                    conn.execute(stmt)
            conn.execute(f"SET search_path TO {self.schema}")
        except psycopg.Error as e:
            conn.close()
            raise StoreError(f"cannot open schema {self.schema!r} as the deltamem server tables: {e}") from e
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StateConn]:
        """One transaction, committed on success, rolled back on any exception."""
        import psycopg

        with self._lock:
            if self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            try:
                with self._conn.transaction():
                    yield _PgConn(self._conn)
            except psycopg.Error as e:
                raise StoreError(f"PostgreSQL error in the server tables: {e}") from e

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one SELECT."""
        with self.transaction() as c:
            return [tuple(r) for r in c.execute(sql, params).fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the affected row count."""
        with self.transaction() as c:
            return int(c.execute(sql, params).rowcount)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def open_state_db(config: ServerConfig) -> ServerDB:
    """The server database a config names: PostgreSQL (the store's DSN) when jobs go through procrastinate, else the
    SQLite file :meth:`ServerConfig.state_file`."""
    if config.queue == "procrastinate":
        dsn = config.memory.store.dsn
        if not dsn:
            raise ConfigError("queue = 'procrastinate' needs the PostgreSQL store: --store postgres --dsn ...")
        return PostgresStateDB(dsn, schema=config.state_schema)
    return StateDB(config.state_file())
