"""Flat, JSON-ready rows of the synthetic data (the transition format) and their conversion to core objects.

Every row has the same columns with the same types, so ``datasets.load_dataset("json", ...)`` reads the file:

* memory: ``{"id": "m3", "text": str, "timestamp": "YYYY-MM-DD", "keywords": [str]}``
* turn:   ``{"speaker": "user" | "assistant", "text": str, "time": ISO-8601 str}``
* op:     ``{"op": "ADD" | "UPDATE" | "DELETE", "id": str, "text": str ("" for DELETE), "keywords": [str],
  "evolution": "intra" | "inter" | "padding"}``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, assert_never

from deltamem.core import Add, Delete, MemoryEntry, MemoryState, Noop, Operation, Update
from deltamem.core.errors import CorruptDataError

Evolution = Literal["intra", "inter", "padding"]

#: Namespace used for the (in-memory) states of one synthetic persona.
NAMESPACE = "synth"


def day(value: str) -> datetime:
    """A ``YYYY-MM-DD`` (or full ISO) string as midnight UTC."""
    d = date.fromisoformat(value[:10])
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def memory_row(entry: MemoryEntry) -> dict[str, Any]:
    """A memory entry as a transition row."""
    return {"id": entry.id, "text": entry.text, "timestamp": entry.timestamp.date().isoformat(),
            "keywords": list(entry.keywords)}


def state_rows(state: MemoryState) -> list[dict[str, Any]]:
    """A state as rows, ordered by numeric id (``m2`` before ``m10``) so that files diff cleanly."""
    return [memory_row(state[k]) for k in sorted(state, key=id_number)]


def id_number(mid: str) -> int:
    """The number of an ``m<N>`` id (ids of other forms sort last)."""
    return int(mid[1:]) if mid[:1] == "m" and mid[1:].isdigit() else 1 << 30


def state_from_rows(rows: Sequence[Mapping[str, Any]]) -> MemoryState:
    """Rows back to a state; raises :class:`CorruptDataError` on a malformed row or a duplicate id."""
    entries: dict[str, MemoryEntry] = {}
    for i, row in enumerate(rows):
        try:
            ts = day(str(row["timestamp"]))
            mid, text, kws = str(row["id"]), str(row["text"]), row.get("keywords", [])
            if not isinstance(kws, list):
                raise TypeError("keywords must be a list")
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptDataError(f"memory row #{i} is malformed: {e}") from e
        if mid in entries:
            raise CorruptDataError(f"memory id {mid!r} appears twice")
        entries[mid] = MemoryEntry(id=mid, namespace=NAMESPACE, text=text, timestamp=ts, created_at=ts,
                                   updated_at=ts, keywords=tuple(str(k) for k in kws))
    return MemoryState(NAMESPACE, entries)


def op_row(op: Operation, *, keywords: Sequence[str], evolution: Evolution) -> dict[str, Any]:
    """A core op (its id assigned) with its keyword labels as a transition row. Delete carries no keywords in the
    core, so the labels travel beside the op."""
    match op:
        case Add():
            return {"op": "ADD", "id": op.id or "", "text": op.text, "keywords": list(keywords),
                    "evolution": evolution}
        case Update():
            return {"op": "UPDATE", "id": op.id, "text": op.text, "keywords": list(keywords), "evolution": evolution}
        case Delete():
            return {"op": "DELETE", "id": op.id, "text": "", "keywords": list(keywords), "evolution": evolution}
        case Noop():
            raise ValueError("NOOP ops are not part of a transition")
        case _:
            assert_never(op)


def op_from_row(row: Mapping[str, Any], when: datetime) -> Operation:
    """A transition op row as the core op applied at ``when`` (the session date)."""
    kind = str(row.get("op", "")).upper()
    kws = tuple(str(k) for k in row.get("keywords") or ())
    if kind == "ADD":
        return Add(id=str(row["id"]), text=str(row["text"]), timestamp=when, keywords=kws)
    if kind == "UPDATE":
        return Update(id=str(row["id"]), text=str(row["text"]), timestamp=when, keywords=kws)
    if kind == "DELETE":
        return Delete(id=str(row["id"]))
    raise CorruptDataError(f"unknown op {kind!r} in a transition")
