"""JSON-ready (de)serialisation of entries and change sets: used by export/import and stores. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deltamem.core.changeset import Change, ChangeSet
from deltamem.core.errors import CorruptDataError
from deltamem.core.model import MemoryEntry
from deltamem.core.ops import op_from_dict, op_to_dict
from deltamem.core.timeutil import stored_time, to_iso

ENTRY_FIELDS = ("id", "namespace", "text", "timestamp", "created_at", "updated_at")


def entry_to_dict(entry: MemoryEntry) -> dict[str, Any]:
    """A JSON-ready dict of an entry (times as fixed-width UTC ISO-8601)."""
    return {
        "id": entry.id,
        "namespace": entry.namespace,
        "text": entry.text,
        "timestamp": to_iso(entry.timestamp),
        "created_at": to_iso(entry.created_at),
        "updated_at": to_iso(entry.updated_at),
        "session_id": entry.session_id,
        "message_indices": list(entry.message_indices),
        "keywords": list(entry.keywords),
        "metadata": dict(entry.metadata),
    }


def entry_from_dict(data: Mapping[str, Any], *, stored: bool = False) -> MemoryEntry:
    """Parse an entry written by :func:`entry_to_dict`; raises :class:`CorruptDataError` on anything malformed.

    ``stored``: the dict is a store's own row (history), not input, so a time outside the gate is read clamped
    (:func:`~deltamem.core.timeutil.stored_time`) instead of making the row, and its namespace, unreadable.
    """
    if not isinstance(data, Mapping):
        raise CorruptDataError(f"a memory must be an object, got {type(data).__name__}")
    missing = [f for f in ENTRY_FIELDS if f not in data]
    if missing:
        raise CorruptDataError(f"memory record lacks {missing}")
    try:
        if not isinstance(data["text"], str) or not isinstance(data["id"], str):
            raise TypeError("id and text must be strings")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise TypeError("metadata must be an object")
        times = {f: stored_time(data[f], what=f, of=f"memory {data['id']!r}") if stored else data[f]
                 for f in ("timestamp", "created_at", "updated_at")}
        return MemoryEntry(
            id=data["id"], namespace=str(data["namespace"]), text=data["text"], timestamp=times["timestamp"],
            created_at=times["created_at"], updated_at=times["updated_at"], session_id=data.get("session_id"),
            message_indices=tuple(data.get("message_indices") or ()), keywords=tuple(data.get("keywords") or ()),
            metadata=metadata,
        )
    except (TypeError, ValueError) as e:
        raise CorruptDataError(f"bad memory record {data.get('id')!r}: {e}") from e


def change_to_dict(change: Change) -> dict[str, Any]:
    """A JSON-ready dict of one change."""
    return {
        "kind": change.kind,
        "memory_id": change.memory_id,
        "before": entry_to_dict(change.before) if change.before else None,
        "after": entry_to_dict(change.after) if change.after else None,
    }


def change_from_dict(data: Mapping[str, Any]) -> Change:
    """Parse a change written by :func:`change_to_dict`."""
    kind = data.get("kind")
    if kind not in ("ADD", "UPDATE", "DELETE"):
        raise CorruptDataError(f"bad change kind {kind!r}")
    before = entry_from_dict(data["before"]) if data.get("before") else None
    after = entry_from_dict(data["after"]) if data.get("after") else None
    if (kind == "ADD") != (before is None) or (kind == "DELETE") != (after is None):
        raise CorruptDataError(f"{kind} change of {data.get('memory_id')!r} has inconsistent before/after")
    return Change(kind, str(data["memory_id"]), before, after)


def ops_to_list(change_set: ChangeSet) -> list[dict[str, Any]]:
    """The change set's submitted operations as JSON-ready dicts."""
    return [op_to_dict(op) for op in change_set.ops]


def ops_from_list(items: Any) -> tuple[Any, ...]:
    """Parse the stored operations list (validated; raises CorruptDataError)."""
    if not isinstance(items, list):
        raise CorruptDataError("ops must be a list")
    try:
        return tuple(op_from_dict(o, index=i) for i, o in enumerate(items))
    except Exception as e:  # InvalidOperation: stored data no longer parses
        raise CorruptDataError(f"stored operations do not parse: {e}") from e
