"""PostgreSQL schema, migrations, value encoding and bulk COPY for :mod:`deltamem.stores.postgres`.

All tables live in one schema of the caller's database (``deltamem`` by default), reached through ``search_path``.

The vector column is created without a dimension, because the dimension is only known at the first commit (or
load). That first write runs :func:`fix_dimension` inside its transaction, holding the store-wide advisory lock
(taken before the namespace lock and before reading ``memories``, so that two first writers queue instead of
deadlocking on the ALTER): it changes the column to ``vector(dim)`` (instant: no vectors are stored yet) and builds
the HNSW index.
The dimension is kept in ``meta`` and never changes afterwards; a different embedder needs a new store
(export, then import into a fresh schema).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.types.json import Jsonb

from deltamem.core import ConfigError, StoreError
from deltamem.core.model import Vectors
from deltamem.stores.base import ChangeSetRecord, HistoryRecord, StoredMemory
from deltamem.stores.sql.rows import (
    CS_COLS,
    HIST_COLS,
    MEMORY_COLUMNS,
    change_set_params,
    history_params,
    memory_params,
)

SCHEMA_VERSION = 3

#: pgvector 0.6 can index at most 2,000 dimensions with HNSW; above that searches stay exact (sequential).
HNSW_MAX_DIM = 2000

#: The text-search configuration: the Snowball English stemmer (close to FTS5's porter tokenizer in SqliteStore)
#: with NO stopword list, because queries drop stopwords themselves (stores/text.py) and a document's stopwords
#: should still count toward its length, as they do in SQLite's BM25.
TS_CONFIG = "deltamem_english"

# Each migration takes the schema from version i to i+1; MIGRATIONS[0] creates version 1 from nothing.
MIGRATIONS: list[str] = [
    f"""
    CREATE TEXT SEARCH DICTIONARY deltamem_stem (TEMPLATE = pg_catalog.snowball, Language = english);
    CREATE TEXT SEARCH CONFIGURATION {TS_CONFIG} (COPY = pg_catalog.english);
    ALTER TEXT SEARCH CONFIGURATION {TS_CONFIG} ALTER MAPPING REPLACE english_stem WITH deltamem_stem;
    CREATE TABLE memories (
        rowid bigserial PRIMARY KEY,
        namespace text NOT NULL,
        id text NOT NULL,
        text text NOT NULL,
        timestamp timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        session_id text,
        message_indices jsonb NOT NULL,
        keywords jsonb NOT NULL,
        metadata jsonb NOT NULL,
        vector vector NOT NULL,
        deleted_at timestamptz,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('{TS_CONFIG}', text)) STORED,
        UNIQUE (namespace, id)
    );
    CREATE INDEX memories_live ON memories (namespace, created_at, rowid) WHERE deleted_at IS NULL;
    CREATE INDEX memories_time ON memories (namespace, timestamp) WHERE deleted_at IS NULL;
    CREATE INDEX memories_fts ON memories USING gin (tsv) WHERE deleted_at IS NULL;
    CREATE TABLE change_sets (
        rowid bigserial UNIQUE,
        id text PRIMARY KEY,
        namespace text NOT NULL,
        created_at timestamptz NOT NULL,
        session_id text,
        actor text NOT NULL,
        ops jsonb NOT NULL,
        counts jsonb NOT NULL,
        reverts text,
        reverted_by text,
        note text NOT NULL DEFAULT ''
    );
    CREATE INDEX change_sets_ns ON change_sets (namespace, created_at, rowid);
    CREATE TABLE history (
        seq bigserial PRIMARY KEY,
        change_set_id text NOT NULL,
        namespace text NOT NULL,
        memory_id text NOT NULL,
        kind text NOT NULL,
        before jsonb,
        after jsonb,
        session_id text,
        actor text NOT NULL,
        created_at timestamptz NOT NULL
    );
    CREATE INDEX history_ns ON history (namespace, seq);
    CREATE INDEX history_memory ON history (namespace, memory_id, seq);
    CREATE INDEX history_cs ON history (change_set_id);
    """,
    # v2: the review queue for change sets held back by the guard rails.
    """
    CREATE TABLE review_queue (
        rowid bigserial UNIQUE,
        id text PRIMARY KEY,
        namespace text NOT NULL,
        item text NOT NULL,
        status text NOT NULL,
        created_at timestamptz NOT NULL
    );
    CREATE INDEX review_queue_ns ON review_queue (namespace, status, created_at, rowid);
    """,
    # v3: change-set ids are unique per namespace, not per store, so that an import cannot learn whether an id exists
    # in another namespace.
    """
    ALTER TABLE change_sets DROP CONSTRAINT change_sets_pkey;
    ALTER TABLE change_sets ADD PRIMARY KEY (namespace, id);
    """,
]

_ENTRY_TYPES = ["text", "text", "text", "timestamptz", "timestamptz", "timestamptz", "text", "jsonb", "jsonb", "jsonb"]
#: Loads of at least this many memories rebuild the HNSW index instead of inserting into it (see bulk_insert).
BULK_REBUILD_MIN = 1000
ANALYZE_MIN = 1000

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    """A schema name we can splice into SQL unquoted (lower-case identifier), or ConfigError."""
    if not _IDENT.match(schema):
        raise ConfigError(f"schema must be a lower-case SQL identifier ([a-z_][a-z0-9_]*), not {schema!r}")
    return schema


def store_lock(conn: psycopg.Connection[Any], schema: str) -> None:
    """Take the store-wide transaction lock (migrations, fixing the dimension); namespace locks use 2 keys."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("deltamem:" + schema,))


def namespace_lock(conn: psycopg.Connection[Any], schema: str, namespace: str) -> None:
    """Take the transaction lock that serialises writers of one namespace (two keys: schema, namespace)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", ("deltamem:" + schema, namespace))


def open_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create the schema if needed and put it first on the session's ``search_path`` (before pgvector's)."""
    with conn.transaction():
        store_lock(conn, schema)
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute("SELECT set_config('search_path', %s || ', ' || current_setting('search_path'), false)",
                 (schema,))


def ensure_extension(conn: psycopg.Connection[Any]) -> None:
    """Make sure pgvector is installed in the database (creating it needs the right privileges)."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as e:
        raise StoreError(
            "the pgvector extension is missing and could not be created "
            f"(a superuser can run CREATE EXTENSION vector in this database): {e}"
        ) from e


def migrate(conn: psycopg.Connection[Any], schema: str, *, target: int = SCHEMA_VERSION) -> int:
    """Bring ``schema`` (opened with :func:`open_schema`) to version ``target`` in one transaction.

    Returns the version found before. Refuses a schema newer than this code understands.
    """
    with conn.transaction():
        store_lock(conn, schema)
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"schema {schema!r} has deltamem schema version {version}; this deltamem understands up to "
                f"{SCHEMA_VERSION}. Upgrade deltamem."
            )
        for v in range(version, target):
            conn.execute(MIGRATIONS[v])  # constant DDL, several statements (allowed without parameters)
        if target > version:
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                         " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(target),))
    return version


def hnsw_index_sql() -> str:
    """The HNSW index DDL (cosine distance, live rows only); the benchmark reuses it after a bulk COPY."""
    return ("CREATE INDEX IF NOT EXISTS memories_hnsw ON memories USING hnsw (vector vector_cosine_ops)"
            " WHERE deleted_at IS NULL")


def fix_dimension(conn: psycopg.Connection[Any], schema: str, dim: int) -> int:
    """Inside a transaction: record the dimension on first use, type the column and build the HNSW index.

    Returns the store's dimension (``dim``, or the one another writer fixed first, which the caller compares).
    """
    store_lock(conn, schema)
    row = conn.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
    if row is not None:
        return int(row[0])
    conn.execute(f"ALTER TABLE memories ALTER COLUMN vector TYPE vector({int(dim)})")
    if dim <= HNSW_MAX_DIM:
        conn.execute(hnsw_index_sql())
    conn.execute("INSERT INTO meta (key, value) VALUES ('embedding_dim', %s)", (str(dim),))
    return dim


def bulk_insert(conn: psycopg.Connection[Any], mems: Sequence[StoredMemory], sets: Sequence[ChangeSetRecord],
                hist: Sequence[HistoryRecord], *, dim: int | None) -> None:
    """Write loaded records with binary COPY, inside the caller's (load) transaction.

    A large load (at least :data:`BULK_REBUILD_MIN` memories, and at least a quarter of the rows the table already
    holds) drops the HNSW index and builds it again afterwards: inserting into an HNSW graph costs about 2 ms a
    384-d row here, a build about 0.25 ms a row. The price is that the table is locked for the rest of the load.
    """
    row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'memories'::regclass").fetchone()
    rebuild = (dim is not None and dim <= HNSW_MAX_DIM and len(mems) >= BULK_REBUILD_MIN
               and 4 * len(mems) >= (row[0] if row else 0))
    if rebuild:
        conn.execute("DROP INDEX IF EXISTS memories_hnsw")
    with conn.cursor() as cur:
        if mems:
            with cur.copy(f"COPY memories ({MEMORY_COLUMNS}, vector, deleted_at) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types([*_ENTRY_TYPES, "vector", "timestamptz"])
                for r in mems:
                    cp.write_row(memory_params(VALUES, r.entry, r.vector, r.deleted_at))
        if sets:
            with cur.copy(f"COPY change_sets ({CS_COLS}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["text", "text", "timestamptz", "text", "text", "jsonb", "jsonb", "text", "text", "text"])
                for s in sets:
                    cp.write_row(change_set_params(VALUES, s))
        if hist:
            with cur.copy(f"COPY history ({HIST_COLS[5:]}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["text", "text", "text", "text", "jsonb", "jsonb", "text", "text", "timestamptz"])
                for h in hist:
                    cp.write_row(history_params(VALUES, h))
    if rebuild:
        conn.execute(hnsw_index_sql())
    if len(mems) >= ANALYZE_MIN:  # fresh statistics, so the planner picks the indexes right after an import
        conn.execute("ANALYZE memories")


def vec_param(v: Vectors) -> npt.NDArray[np.float32]:
    """A vector as the float32 array pgvector's adapter sends."""
    return np.asarray(v, dtype=np.float32)


class PgValues:
    """How PostgreSQL takes values: ``timestamptz`` (aware datetimes as they are), ``jsonb``, pgvector's ``vector``
    (:class:`~deltamem.stores.sql.rows.Values`)."""

    def time(self, value: datetime) -> datetime:
        return value

    def json(self, value: Any) -> Jsonb:
        return Jsonb(value)

    def vector(self, value: Vectors) -> npt.NDArray[np.float32]:
        return vec_param(value)

    def read_json(self, raw: Any) -> Any:
        return raw  # psycopg decodes jsonb

    def read_vector(self, raw: Any) -> Vectors:
        vec = raw.to_numpy() if hasattr(raw, "to_numpy") else raw  # pgvector >= 0.3 returns Vector
        return np.asarray(vec, dtype=np.float32)


VALUES = PgValues()
