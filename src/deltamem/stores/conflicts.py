"""Checks every store runs before writing, so all backends refuse the same bad writes with the same errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from deltamem.core import ChangeSet, ConflictError, CorruptDataError, EmbeddingDimensionError, MemoryEntry
from deltamem.stores.base import ChangeSetRecord, DumpRecord, StoredMemory


def check_live(change_set: ChangeSet, live: Mapping[str, MemoryEntry], all_ids: set[str] | None = None) -> None:
    """Refuse a change set computed from a stale view: each ``before`` must equal the live row, each ADD be new."""
    for c in change_set.changes:
        current = live.get(c.memory_id)
        if c.before is None:
            if current is not None:
                raise ConflictError(f"memory {c.memory_id!r} already exists in {change_set.namespace!r}")
        elif current != c.before:
            state = "was deleted" if current is None else "was changed"
            raise ConflictError(
                f"memory {c.memory_id!r} {state} after this change set was computed; re-read and apply again"
            )


def check_load(
    items: Sequence[DumpRecord],
    dim: int | None,
    existing: set[tuple[str, str]],
    known_change_sets: set[str],
) -> int | None:
    """Validate records for :meth:`ArchiveStore.load` before anything is written; returns the vector dimension."""
    new_cs = {r.id for r in items if isinstance(r, ChangeSetRecord)}
    clash = new_cs & known_change_sets
    if clash:
        raise ConflictError(f"change set(s) already present: {sorted(clash)[:3]}")
    seen: set[tuple[str, str]] = set()
    for rec in items:
        if isinstance(rec, StoredMemory):
            key = (rec.entry.namespace, rec.entry.id)
            if key in existing or key in seen:
                raise ConflictError(f"memory {rec.entry.id!r} already exists in namespace {rec.entry.namespace!r}")
            seen.add(key)
            vec = np.asarray(rec.vector)
            if vec.ndim != 1 or not np.all(np.isfinite(vec)):
                raise CorruptDataError(f"memory {rec.entry.id!r} has a malformed vector")
            if dim is None:
                dim = int(vec.shape[0])
            elif vec.shape[0] != dim:
                raise EmbeddingDimensionError(
                    f"memory {rec.entry.id!r} has a {vec.shape[0]}-d vector but the store holds {dim}-d vectors"
                )
        elif not isinstance(rec, ChangeSetRecord) and rec.change_set_id not in new_cs | known_change_sets:
            raise CorruptDataError(f"history record {rec.seq} names unknown change set {rec.change_set_id!r}")
    return dim
