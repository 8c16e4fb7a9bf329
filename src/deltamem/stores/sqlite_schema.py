"""SQLite schema, migrations and row <-> entry mapping for :mod:`deltamem.stores.sqlite`."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import numpy as np

from deltamem.core import ChangeKind, CorruptDataError, MemoryEntry, StoreError, to_iso
from deltamem.core.codec import entry_from_dict, entry_to_dict
from deltamem.core.model import Vectors
from deltamem.core.timeutil import stored_time
from deltamem.stores.base import ChangeSetRecord, HistoryRecord, StoredMemory

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

MEMORY_COLUMNS = (
    "id, namespace, text, timestamp, created_at, updated_at, session_id, message_indices, keywords, metadata"
)


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


def entry_params(entry: MemoryEntry) -> tuple[Any, ...]:
    """Column values in :data:`MEMORY_COLUMNS` order."""
    return (
        entry.id, entry.namespace, entry.text, to_iso(entry.timestamp), to_iso(entry.created_at),
        to_iso(entry.updated_at), entry.session_id, json.dumps(list(entry.message_indices)),
        json.dumps(list(entry.keywords), ensure_ascii=False), json.dumps(dict(entry.metadata), ensure_ascii=False),
    )


def row_entry(row: sqlite3.Row | tuple[Any, ...]) -> MemoryEntry:
    """An entry from a row selected with :data:`MEMORY_COLUMNS` first."""
    try:
        of = f"memory {row[0]!r} of {row[1]!r}"
        return MemoryEntry(
            id=row[0], namespace=row[1], text=row[2], timestamp=stored_time(row[3], what="timestamp", of=of),
            created_at=stored_time(row[4], what="created_at", of=of),
            updated_at=stored_time(row[5], what="updated_at", of=of), session_id=row[6],
            message_indices=tuple(json.loads(row[7])),
            keywords=tuple(json.loads(row[8])), metadata=json.loads(row[9]),
        )
    except (ValueError, TypeError) as e:
        raise CorruptDataError(f"stored memory {row[0]!r} cannot be read: {e}") from e


def row_stored(row: sqlite3.Row | tuple[Any, ...]) -> StoredMemory:
    """A StoredMemory from ``MEMORY_COLUMNS, vector, deleted_at``."""
    deleted = stored_time(row[11], what="deleted_at", of=f"memory {row[0]!r}") if row[11] else None
    return StoredMemory(row_entry(row), blob_vector(row[10]), deleted)


def entry_json(entry: MemoryEntry | None) -> str | None:
    """An entry as JSON text for the history table."""
    return json.dumps(entry_to_dict(entry), ensure_ascii=False) if entry is not None else None


def json_entry(text: str | None) -> MemoryEntry | None:
    """The inverse of :func:`entry_json`."""
    if text is None:
        return None
    try:
        return entry_from_dict(json.loads(text), stored=True)
    except json.JSONDecodeError as e:
        raise CorruptDataError(f"history row holds malformed JSON: {e}") from e


def row_history(row: sqlite3.Row | tuple[Any, ...]) -> HistoryRecord:
    """seq, change_set_id, namespace, memory_id, kind, before, after, session_id, actor, created_at."""
    kind: ChangeKind = row[4]
    return HistoryRecord(int(row[0]), row[1], row[2], row[3], kind, json_entry(row[5]), json_entry(row[6]), row[7],
                         row[8], stored_time(row[9], what="created_at", of=f"history row {row[0]}"))


def row_change_set(row: sqlite3.Row | tuple[Any, ...]) -> ChangeSetRecord:
    """id, namespace, created_at, session_id, actor, ops, counts, reverts, reverted_by, note."""
    return ChangeSetRecord(row[0], row[1], stored_time(row[2], what="created_at", of=f"change set {row[0]!r}"),
                           row[3], row[4], tuple(json.loads(row[5])),
                           json.loads(row[6]), row[7], row[8], row[9])


CHUNK = 500  # stay well under SQLite's bound-parameter limit
HIST_COLS = "seq, change_set_id, namespace, memory_id, kind, before, after, session_id, actor, created_at"
CS_COLS = "id, namespace, created_at, session_id, actor, ops, counts, reverts, reverted_by, note"


def upsert_memory(c: sqlite3.Connection, entry: MemoryEntry, vector: Vectors) -> int:
    """Insert or replace a live memory row (undeleting it); returns its rowid (the FTS key)."""
    params = (*entry_params(entry), vector_blob(vector))
    c.execute(
        f"INSERT INTO memories ({MEMORY_COLUMNS}, vector, deleted_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
        " ON CONFLICT (namespace, id) DO UPDATE SET text = excluded.text, timestamp = excluded.timestamp,"
        " created_at = excluded.created_at, updated_at = excluded.updated_at, session_id = excluded.session_id,"
        " message_indices = excluded.message_indices, keywords = excluded.keywords,"
        " metadata = excluded.metadata, vector = excluded.vector, deleted_at = NULL",
        params,
    )
    return int(c.execute("SELECT rowid FROM memories WHERE namespace = ? AND id = ?",
                         (entry.namespace, entry.id)).fetchone()[0])
