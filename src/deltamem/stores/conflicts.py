"""Checks every store runs before writing, so all backends refuse the same bad writes with the same errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from deltamem.core import (
    ChangeSet,
    ConflictError,
    CorruptDataError,
    EmbeddingDimensionError,
    MemoryEntry,
    check_change_set,
)
from deltamem.stores.base import ChangeSetRecord, DumpRecord, StoredMemory
from deltamem.stores.integrity import check_record, describe


def check_live(change_set: ChangeSet, live: Mapping[str, MemoryEntry], all_ids: set[str] | None = None) -> None:
    """Refuse a change set that reaches outside its namespace (:func:`deltamem.core.check_change_set`, so every
    store's commit enforces the namespace invariant) or that was computed from a stale view: each ``before`` must
    equal the live row, each ADD be new."""
    check_change_set(change_set)
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
    known_change_sets: set[tuple[str, str]],
) -> int | None:
    """Validate records for :meth:`ArchiveStore.load` before anything is written; returns the vector dimension.

    Every record passes :func:`~deltamem.stores.integrity.check_record` (the namespace invariant of its history
    entries). Memories and change sets are keyed by (namespace, id): ids are unique per namespace only, so a load
    refuses what its own namespaces already hold and never depends on, or tells, what other namespaces hold.
    """
    new_cs: set[tuple[str, str]] = set()
    for rec in items:
        check_record(rec)
        if isinstance(rec, ChangeSetRecord):
            key = (rec.namespace, rec.id)
            if key in new_cs:
                raise CorruptDataError(f"{describe(rec)} appears twice")
            if key in known_change_sets:
                raise ConflictError(f"change set {rec.id!r} is already present in namespace {rec.namespace!r}")
            new_cs.add(key)
    seen: set[tuple[str, str]] = set()
    referable = new_cs | known_change_sets
    for rec in items:
        if isinstance(rec, StoredMemory):
            key = (rec.entry.namespace, rec.entry.id)
            if key in seen:
                raise CorruptDataError(f"{describe(rec)} appears twice")
            if key in existing:
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
        elif not isinstance(rec, ChangeSetRecord) and (rec.namespace, rec.change_set_id) not in referable:
            raise CorruptDataError(f"{describe(rec)} names a change set unknown in its namespace")
    return dim
