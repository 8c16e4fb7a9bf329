"""SQLite schema, migrations and value encoding for :mod:`deltamem.stores.sqlite`."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

import numpy as np

from deltamem.core import StoreError, to_iso
from deltamem.core.model import Vectors

SCHEMA_VERSION = 3

# Each migration takes the database from version i to i+1; MIGRATIONS[0] creates version 1 from nothing.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS namespaces (namespace TEXT PRIMARY KEY, epoch INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS memories (
        rowid INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL,
        id TEXT NOT NULL,
        text TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        session_id TEXT,
        message_indices TEXT NOT NULL,
        keywords TEXT NOT NULL,
        metadata TEXT NOT NULL,
        vector BLOB NOT NULL,
        deleted_at TEXT,
        UNIQUE (namespace, id)
    );
    CREATE INDEX IF NOT EXISTS memories_live ON memories (namespace, deleted_at, created_at);
    CREATE INDEX IF NOT EXISTS memories_time ON memories (namespace, timestamp);
    CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5 (text, tokenize = 'porter unicode61 remove_diacritics 2');
    CREATE TABLE IF NOT EXISTS change_sets (
        id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        created_at TEXT NOT NULL,
        session_id TEXT,
        actor TEXT NOT NULL,
        ops TEXT NOT NULL,
        counts TEXT NOT NULL,
        reverts TEXT,
        reverted_by TEXT,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS change_sets_ns ON change_sets (namespace, created_at);
    CREATE TABLE IF NOT EXISTS history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        change_set_id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        memory_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        before TEXT,
        after TEXT,
        session_id TEXT,
        actor TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS history_ns ON history (namespace, seq);
    CREATE INDEX IF NOT EXISTS history_memory ON history (namespace, memory_id);
    """,
    # v2: the review queue for change sets held back by the guard rails.
    """
    CREATE TABLE IF NOT EXISTS review_queue (
        id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        item TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS review_queue_ns ON review_queue (namespace, status, created_at);
    """,
    # v3: change-set ids are unique per namespace, not per store, so that an import cannot learn whether an id exists
    # in another namespace. SQLite cannot change a primary key in place: the table is copied (rowids kept, so the
    # commit order that breaks created_at ties stays).
    """
    CREATE TABLE change_sets_v3 (
        id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        created_at TEXT NOT NULL,
        session_id TEXT,
        actor TEXT NOT NULL,
        ops TEXT NOT NULL,
        counts TEXT NOT NULL,
        reverts TEXT,
        reverted_by TEXT,
        note TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (namespace, id)
    );
    INSERT INTO change_sets_v3 (rowid, id, namespace, created_at, session_id, actor, ops, counts, reverts,
                                reverted_by, note)
        SELECT rowid, id, namespace, created_at, session_id, actor, ops, counts, reverts, reverted_by, note
        FROM change_sets ORDER BY rowid;
    DROP TABLE change_sets;
    ALTER TABLE change_sets_v3 RENAME TO change_sets;
    CREATE INDEX IF NOT EXISTS change_sets_ns ON change_sets (namespace, created_at);
    """,
]


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION`; call inside a write transaction."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"this database has schema version {version}; this deltamem understands up to {SCHEMA_VERSION}. "
            "Upgrade deltamem."
        )
    for v in range(version, SCHEMA_VERSION):
        for statement in MIGRATIONS[v].split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


def vector_blob(vector: Vectors) -> bytes:
    """float32 little-endian bytes of a vector."""
    return np.asarray(vector, dtype="<f4").tobytes()


def blob_vector(blob: bytes) -> Vectors:
    """The inverse of :func:`vector_blob`."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


#: At most this many ids in one ``IN (...)`` list: well under SQLite's bound-parameter limit.
CHUNK = 500


class SqliteValues:
    """How SQLite holds values: times as fixed-width ISO text (string order is time order), JSON as text, vectors
    as float32 blobs (:class:`~deltamem.stores.sql.rows.Values`)."""

    def time(self, value: datetime) -> str:
        return to_iso(value)

    def json(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def vector(self, value: Vectors) -> bytes:
        return vector_blob(value)

    def read_json(self, raw: Any) -> Any:
        return json.loads(raw)

    def read_vector(self, raw: Any) -> Vectors:
        return blob_vector(raw)
