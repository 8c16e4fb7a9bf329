"""The tables both SQL stores share: their columns, the statements written once, and row <-> record mapping.

SQLite and PostgreSQL hold the same columns; only how a value travels differs (ISO text and JSON text in SQLite,
``timestamptz``, ``jsonb`` and ``vector`` in PostgreSQL). A :class:`Values` of each dialect encodes parameters and
decodes what a row holds, so the mapping below is written once. Statements use ``?`` placeholders
(:class:`~deltamem.stores.sql.dialect.Tx`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from deltamem.core import ChangeKind, CorruptDataError, MemoryEntry
from deltamem.core.codec import entry_from_dict, entry_to_dict
from deltamem.core.model import Vectors
from deltamem.core.timeutil import stored_time
from deltamem.stores.base import ChangeSetRecord, HistoryRecord, StoredMemory

MEMORY_COLUMNS = (
    "id, namespace, text, timestamp, created_at, updated_at, session_id, message_indices, keywords, metadata"
)
HIST_COLS = "seq, change_set_id, namespace, memory_id, kind, before, after, session_id, actor, created_at"
CS_COLS = "id, namespace, created_at, session_id, actor, ops, counts, reverts, reverted_by, note"

#: Insert a memory row, or replace the row of its (namespace, id): an UPDATE, or an undelete.
UPSERT_MEMORY = (
    f"INSERT INTO memories ({MEMORY_COLUMNS}, vector, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (namespace, id) DO UPDATE SET text = excluded.text, timestamp = excluded.timestamp,"
    " created_at = excluded.created_at, updated_at = excluded.updated_at, session_id = excluded.session_id,"
    " message_indices = excluded.message_indices, keywords = excluded.keywords, metadata = excluded.metadata,"
    " vector = excluded.vector, deleted_at = excluded.deleted_at"
)
MARK_DELETED = "UPDATE memories SET deleted_at = ? WHERE namespace = ? AND id = ?"
INSERT_HISTORY = f"INSERT INTO history ({HIST_COLS[5:]}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_CHANGE_SET = f"INSERT INTO change_sets ({CS_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: The tables that hold a namespace's records (what a purge erases).
NAMESPACE_TABLES = ("memories", "history", "change_sets", "review_queue")


class Values(Protocol):
    """How one database takes and gives back times, JSON and vectors."""

    def time(self, value: datetime) -> Any:
        """A time as a parameter (an aware UTC datetime comes in)."""
        ...

    def json(self, value: Any) -> Any:
        """A JSON-able value as a parameter."""
        ...

    def vector(self, value: Vectors) -> Any:
        """A vector as a parameter."""
        ...

    def read_json(self, raw: Any) -> Any:
        """The value a JSON column held (raises ValueError on malformed JSON text)."""
        ...

    def read_vector(self, raw: Any) -> Vectors:
        """The float32 vector a vector column held."""
        ...


def entry_params(v: Values, entry: MemoryEntry) -> tuple[Any, ...]:
    """Column values in :data:`MEMORY_COLUMNS` order."""
    return (entry.id, entry.namespace, entry.text, v.time(entry.timestamp), v.time(entry.created_at),
            v.time(entry.updated_at), entry.session_id, v.json(list(entry.message_indices)),
            v.json(list(entry.keywords)), v.json(dict(entry.metadata)))


def memory_params(v: Values, entry: MemoryEntry, vector: Vectors, deleted_at: datetime | None) -> tuple[Any, ...]:
    """Parameters of :data:`UPSERT_MEMORY`."""
    return (*entry_params(v, entry), v.vector(vector), v.time(deleted_at) if deleted_at is not None else None)


def entry_json(v: Values, entry: MemoryEntry | None) -> Any:
    """An entry as the JSON parameter of a history row's ``before`` / ``after``."""
    return v.json(entry_to_dict(entry)) if entry is not None else None


def history_params(v: Values, rec: HistoryRecord) -> tuple[Any, ...]:
    """Parameters of :data:`INSERT_HISTORY` (the sequence number is the database's)."""
    return (rec.change_set_id, rec.namespace, rec.memory_id, rec.kind, entry_json(v, rec.before),
            entry_json(v, rec.after), rec.session_id, rec.actor, v.time(rec.created_at))


def change_set_params(v: Values, rec: ChangeSetRecord) -> tuple[Any, ...]:
    """Parameters of :data:`INSERT_CHANGE_SET`."""
    return (rec.id, rec.namespace, v.time(rec.created_at), rec.session_id, rec.actor, v.json(list(rec.ops)),
            v.json(dict(rec.counts)), rec.reverts, rec.reverted_by, rec.note)


def row_entry(v: Values, row: Sequence[Any]) -> MemoryEntry:
    """An entry from a row selected with :data:`MEMORY_COLUMNS` first."""
    try:
        of = f"memory {row[0]!r} of {row[1]!r}"
        return MemoryEntry(
            id=row[0], namespace=row[1], text=row[2], timestamp=stored_time(row[3], what="timestamp", of=of),
            created_at=stored_time(row[4], what="created_at", of=of),
            updated_at=stored_time(row[5], what="updated_at", of=of), session_id=row[6],
            message_indices=tuple(v.read_json(row[7])), keywords=tuple(v.read_json(row[8])),
            metadata=v.read_json(row[9]),
        )
    except (ValueError, TypeError) as e:
        raise CorruptDataError(f"stored memory {row[0]!r} cannot be read: {e}") from e


def row_stored(v: Values, row: Sequence[Any]) -> StoredMemory:
    """A StoredMemory from ``MEMORY_COLUMNS, vector, deleted_at``."""
    deleted = stored_time(row[11], what="deleted_at", of=f"memory {row[0]!r}") if row[11] else None
    return StoredMemory(row_entry(v, row), v.read_vector(row[10]), deleted)


def _entry(v: Values, raw: Any) -> MemoryEntry | None:
    if raw is None:
        return None
    try:
        data = v.read_json(raw)
    except json.JSONDecodeError as e:
        raise CorruptDataError(f"history row holds malformed JSON: {e}") from e
    return entry_from_dict(data, stored=True)


def row_history(v: Values, row: Sequence[Any]) -> HistoryRecord:
    """A history record from a row selected with :data:`HIST_COLS`."""
    kind: ChangeKind = row[4]
    return HistoryRecord(int(row[0]), row[1], row[2], row[3], kind, _entry(v, row[5]), _entry(v, row[6]), row[7],
                         row[8], stored_time(row[9], what="created_at", of=f"history row {row[0]}"))


def row_change_set(v: Values, row: Sequence[Any]) -> ChangeSetRecord:
    """A change-set header from a row selected with :data:`CS_COLS`."""
    return ChangeSetRecord(row[0], row[1], stored_time(row[2], what="created_at", of=f"change set {row[0]!r}"),
                           row[3], row[4], tuple(v.read_json(row[5])), dict(v.read_json(row[6])), row[7], row[8],
                           row[9])
