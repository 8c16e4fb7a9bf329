"""The store capabilities, each a small Protocol: :class:`Store` (commit change sets atomically, read live memories,
search, keep full history), :class:`Archive` (whole namespaces: dump, load, purge), :class:`NamespaceLock`; the
review queue is in ``stores/review.py``. :class:`ArchiveStore` is the combination the facade takes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np

from deltamem.core import ChangeKind, ChangeSet, MemoryEntry, MemoryState, as_utc
from deltamem.core.changeset import check_label
from deltamem.core.codec import ops_to_list
from deltamem.core.model import Vectors

SearchMode = Literal["vector", "keyword", "hybrid"]

#: Reciprocal-rank-fusion constant (Cormack et al. 2009); 60 is the customary value.
RRF_K = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class Filters:
    """Restrict reads and searches: ``since <= timestamp <= until`` and metadata equality on every given key."""

    since: datetime | None = None
    until: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The one time gate: aware UTC in range, so every store compares the same instants (naive = UTC).
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, as_utc(value, what=name))
        for key in self.metadata:  # a key no store can hold (SQLite's JSON paths fail on NUL) is bad input, not a 500
            check_label(key, "metadata filter key")

    def matches(self, entry: MemoryEntry) -> bool:
        """Whether an entry passes these filters (the reference semantics every store must match)."""
        if self.since is not None and entry.timestamp < self.since:
            return False
        if self.until is not None and entry.timestamp > self.until:
            return False
        return all(k in entry.metadata and entry.metadata[k] == v for k, v in self.metadata.items())

    @property
    def empty(self) -> bool:
        """True when nothing is filtered."""
        return self.since is None and self.until is None and not self.metadata


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result. ``score``: cosine (vector), BM25 relevance (keyword, higher is better) or RRF (hybrid)."""

    entry: MemoryEntry
    score: float


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One memory's change inside one committed change set, in commit order (``seq``)."""

    seq: int
    change_set_id: str
    namespace: str
    memory_id: str
    kind: ChangeKind
    before: MemoryEntry | None
    after: MemoryEntry | None
    session_id: str | None
    actor: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChangeSetRecord:
    """A committed change set's header: who, when, which ops, and whether it was reverted."""

    id: str
    namespace: str
    created_at: datetime
    session_id: str | None
    actor: str
    ops: tuple[dict[str, Any], ...]
    counts: Mapping[str, int]
    reverts: str | None = None
    reverted_by: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class StoredMemory:
    """A memory row as kept by the store, live or deleted, with its vector: the unit of export and import."""

    entry: MemoryEntry
    vector: Vectors
    deleted_at: datetime | None = None


DumpRecord: TypeAlias = StoredMemory | ChangeSetRecord | HistoryRecord


@runtime_checkable
class Store(Protocol):
    """Namespaced memory storage. Every read and write names its namespace; nothing crosses namespaces."""

    def commit(self, change_set: ChangeSet, vectors: Mapping[str, Vectors]) -> None:
        """Write a change set atomically, with one vector per entry it adds or updates (keyed by memory id).

        Raises :class:`ConflictError` (and writes nothing) if a ``before`` entry no longer matches the stored live
        row, i.e. someone else changed the memory since the change set was computed.
        """
        ...

    def get(self, namespace: str, ids: Sequence[str]) -> MemoryState:
        """The live entries among ``ids`` (a partial state; unknown or deleted ids are absent)."""
        ...

    def list_entries(self, namespace: str, *, filters: Filters | None = None, limit: int | None = None,
             offset: int = 0) -> list[MemoryEntry]:
        """Live entries, oldest first (by created_at; ties in insertion order)."""
        ...

    def deleted_entries(self, namespace: str, *, filters: Filters | None = None, limit: int | None = None,
                        offset: int = 0) -> list[tuple[MemoryEntry, datetime]]:
        """Deleted entries as they were when deleted, with when; most recently deleted first (ties by id)."""
        ...

    def search(self, namespace: str, *, vector: Vectors | None = None, text: str | None = None,
               mode: SearchMode = "hybrid", k: int = 10, filters: Filters | None = None) -> list[SearchHit]:
        """Top-k live entries by cosine (``vector``), BM25 (``text``) or their reciprocal-rank fusion."""
        ...

    def history(self, namespace: str, *, memory_id: str | None = None,
                change_set_id: str | None = None) -> list[HistoryRecord]:
        """Every recorded change, oldest first, optionally of one memory or one change set."""
        ...

    def change_sets(self, namespace: str, *, limit: int | None = None) -> list[ChangeSetRecord]:
        """Committed change sets, newest first."""
        ...

    def change_set(self, namespace: str, change_set_id: str) -> ChangeSetRecord | None:
        """One committed change set's header, or None (an unknown id, or one of another namespace)."""
        ...


@runtime_checkable
class Archive(Protocol):
    """Whole namespaces in and out: list them, dump and load them (export / import), erase them."""

    @property
    def embedding_dim(self) -> int | None:
        """The vector dimension this store holds (None while empty)."""
        ...

    def namespaces(self) -> list[str]:
        """Namespaces that have any record."""
        ...

    def dump(self, namespace: str) -> Iterator[DumpRecord]:
        """Everything of a namespace: memories (live and deleted, with vectors), change sets, history."""
        ...

    def load(self, records: Iterable[DumpRecord]) -> int:
        """Insert dumped records in one transaction, all or nothing; refuses ids that already exist."""
        ...

    def purge(self, namespace: str) -> int:
        """Erase a namespace entirely, history included (the only destructive operation). Returns rows removed."""
        ...


@runtime_checkable
class ArchiveStore(Store, Archive, Protocol):
    """What the facade takes: a :class:`Store` with the :class:`Archive` capability, a count and a close.

    Every backend is one (in-memory, SQLite, PostgreSQL); the review queue (``stores/review.py``) and the namespace
    lock (below) are separate capabilities that a backend may have as well.
    """

    def count(self, namespace: str) -> int:
        """Number of live memories."""
        ...

    def close(self) -> None:
        """Release connections and caches."""
        ...


@runtime_checkable
class NamespaceLock(Protocol):
    """An optional capability: keep other writers out of a namespace across several calls of one store.

    The facade takes it only to retry a write that lost a race (ConflictError at commit), so that the retry, read
    to commit, cannot lose again. Stores without it (SQLite, in-memory) retry after a jittered backoff.
    """

    def exclusive(self, namespace: str) -> AbstractContextManager[None]:
        """While the block runs, no other writer commits to ``namespace``; this thread's calls proceed."""
        ...


def commit_records(change_set: ChangeSet, *, first_seq: int = 0) -> tuple[ChangeSetRecord, list[HistoryRecord]]:
    """The header and the history rows that committing ``change_set`` records, numbered from ``first_seq`` (the SQL
    stores let the database number them). ``reverted_by`` stays None until a revert commits."""
    cs = change_set
    return (ChangeSetRecord(cs.id, cs.namespace, cs.created_at, cs.session_id, cs.actor, tuple(ops_to_list(cs)),
                            cs.counts(), cs.reverts, None, cs.note),
            [HistoryRecord(first_seq + n, cs.id, cs.namespace, c.memory_id, c.kind, c.before, c.after, cs.session_id,
                           cs.actor, cs.created_at) for n, c in enumerate(cs.changes)])


def check_vectors(change_set: ChangeSet, vectors: Mapping[str, Vectors], dim: int | None) -> int | None:
    """Validate that every added/updated entry has a finite vector of one dimension (and ``dim`` if known).

    Returns the dimension seen (or ``dim``). Shared by all stores so they refuse bad vectors identically.
    """
    from deltamem.core.errors import EmbeddingDimensionError, StoreError

    seen = dim
    for c in change_set.changes:
        if c.after is None:
            continue
        v = vectors.get(c.memory_id)
        if v is None:
            raise StoreError(f"no vector given for memory {c.memory_id!r}")
        arr = np.asarray(v)
        if arr.ndim != 1:
            raise StoreError(f"vector of {c.memory_id!r} must be 1-d, got shape {arr.shape}")
        if seen is None:
            seen = int(arr.shape[0])
        elif arr.shape[0] != seen:
            raise EmbeddingDimensionError(
                f"vector of {c.memory_id!r} has dimension {arr.shape[0]} but this store holds {seen}-d vectors; "
                "use the embedder the store was created with, or export and re-import into a new store"
            )
        if not np.all(np.isfinite(arr)):
            raise StoreError(f"vector of {c.memory_id!r} has NaN or infinite values")
    return seen


def rrf_fuse(rankings: Sequence[Sequence[str]], k: int, *, rrf_k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of ranked id lists: score(id) = Σ 1 / (rrf_k + rank), rank from 1.

    Ties (common: first in one list and second in the other, or the reverse) go to the better rank in the first
    list, then to the id: ids are random uuids, so breaking ties by id alone would make results vary between two
    runs over the same data.
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, mid in enumerate(ranking, start=1):
            scores[mid] = scores.get(mid, 0.0) + 1.0 / (rrf_k + rank)
    first = {mid: rank for rank, mid in enumerate(rankings[0])} if rankings else {}
    return sorted(scores.items(), key=lambda kv: (-kv[1], first.get(kv[0], len(first)), kv[0]))[:k]


def ranked(mode: SearchMode, vector_hits: Sequence[tuple[str, float]], keyword_hits: Sequence[tuple[str, float]],
           k: int) -> list[tuple[str, float]]:
    """The top ``k`` (id, score) of a search: one ranking as it is, or both fused (:func:`rrf_fuse`) for hybrid."""
    if mode == "vector":
        return list(vector_hits[:k])
    if mode == "keyword":
        return list(keyword_hits[:k])
    return rrf_fuse([[i for i, _ in vector_hits], [i for i, _ in keyword_hits]], k)
