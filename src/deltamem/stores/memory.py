"""An in-process store: the reference implementation of the Store contract, a test fake, and the rollout store.

Everything lives in Python dicts; search is exact cosine over a numpy matrix and BM25 over word lists. It is
thread-safe (one lock) but not shared between processes.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from deltamem.core import ChangeSet, ConflictError, MemoryEntry, MemoryState, utcnow
from deltamem.core.model import Vectors
from deltamem.stores.base import (
    ChangeSetRecord,
    DumpRecord,
    Filters,
    HistoryRecord,
    SearchHit,
    SearchMode,
    StoredMemory,
    check_vectors,
    commit_records,
    ranked,
)
from deltamem.stores.conflicts import check_live, check_load
from deltamem.stores.review import InMemoryReviewQueue
from deltamem.stores.text import doc_terms, query_terms, stem

_BM25_K1, _BM25_B = 1.2, 0.75


@dataclass
class _Namespace:
    rows: dict[str, StoredMemory] = field(default_factory=dict)
    history: list[HistoryRecord] = field(default_factory=list)
    change_sets: dict[str, ChangeSetRecord] = field(default_factory=dict)


class InMemoryStore(InMemoryReviewQueue):
    """A complete Store (and Archive and ReviewQueue) in process memory."""

    def __init__(self) -> None:
        super().__init__()
        self._ns: dict[str, _Namespace] = {}
        self._dim: int | None = None
        self._seq = 0
        self._lock = threading.RLock()

    @property
    def embedding_dim(self) -> int | None:
        return self._dim

    def _live(self, namespace: str) -> dict[str, StoredMemory]:
        ns = self._ns.get(namespace)
        return {k: r for k, r in ns.rows.items() if r.deleted_at is None} if ns else {}

    # -- writes ---------------------------------------------------------------------------------------------------
    def commit(self, change_set: ChangeSet, vectors: Mapping[str, Vectors]) -> None:
        with self._lock:
            dim = check_vectors(change_set, vectors, self._dim)
            ns = self._ns.setdefault(change_set.namespace, _Namespace())
            live = {k: r.entry for k, r in ns.rows.items() if r.deleted_at is None}
            check_live(change_set, live, set(ns.rows))
            if change_set.id in ns.change_sets:  # ids are unique per namespace (see check_load)
                raise ConflictError(f"change set {change_set.id} is already committed")
            self._dim = dim
            now = utcnow()
            record, history = commit_records(change_set, first_seq=self._seq + 1)
            self._seq += len(history)
            for c in change_set.changes:
                if c.after is None:
                    old = ns.rows[c.memory_id]
                    ns.rows[c.memory_id] = StoredMemory(old.entry, old.vector, now)
                else:
                    vec = np.asarray(vectors[c.memory_id], dtype=np.float32).copy()
                    ns.rows[c.memory_id] = StoredMemory(c.after, vec, None)
            ns.history += history
            ns.change_sets[change_set.id] = record
            if change_set.reverts and change_set.reverts in ns.change_sets:
                old_rec = ns.change_sets[change_set.reverts]
                ns.change_sets[change_set.reverts] = _with_reverted_by(old_rec, change_set.id)

    # -- reads ----------------------------------------------------------------------------------------------------
    def get(self, namespace: str, ids: Sequence[str]) -> MemoryState:
        with self._lock:
            live = self._live(namespace)
            return MemoryState(namespace, {i: live[i].entry for i in ids if i in live})

    def list_entries(self, namespace: str, *, filters: Filters | None = None, limit: int | None = None,
             offset: int = 0) -> list[MemoryEntry]:
        with self._lock:
            entries = [r.entry for r in self._live(namespace).values() if filters is None or filters.matches(r.entry)]
        entries.sort(key=lambda e: e.created_at)  # stable: ties keep insertion order, like SQLite's rowid
        end = None if limit is None else offset + limit
        return entries[offset:end]

    def deleted_entries(self, namespace: str, *, filters: Filters | None = None, limit: int | None = None,
                        offset: int = 0) -> list[tuple[MemoryEntry, datetime]]:
        with self._lock:
            ns = self._ns.get(namespace)
            rows = [(r.entry, r.deleted_at) for r in (ns.rows.values() if ns else ())
                    if r.deleted_at is not None and (filters is None or filters.matches(r.entry))]
        rows.sort(key=lambda r: (-r[1].timestamp(), r[0].id))
        end = None if limit is None else offset + limit
        return rows[offset:end]

    def count(self, namespace: str) -> int:
        """Number of live memories."""
        with self._lock:
            return len(self._live(namespace))

    def search(self, namespace: str, *, vector: Vectors | None = None, text: str | None = None,
               mode: SearchMode = "hybrid", k: int = 10, filters: Filters | None = None) -> list[SearchHit]:
        with self._lock:
            rows = [r for r in self._live(namespace).values() if filters is None or filters.matches(r.entry)]
        if k <= 0 or not rows:
            return []
        by_id = {r.entry.id: r.entry for r in rows}
        pool = max(k * 4, 50)
        vec_hits = self._vector(rows, vector, pool) if mode in ("vector", "hybrid") and vector is not None else []
        kw_hits = self._keyword(rows, text, pool) if mode in ("keyword", "hybrid") and text else []
        return [SearchHit(by_id[i], s) for i, s in ranked(mode, vec_hits, kw_hits, k)]

    @staticmethod
    def _vector(rows: list[StoredMemory], vector: Vectors, k: int) -> list[tuple[str, float]]:
        mat = np.stack([r.vector for r in rows])
        scores = mat @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(rows[i].entry.id, float(scores[i])) for i in order]

    @staticmethod
    def _keyword(rows: list[StoredMemory], text: str, k: int) -> list[tuple[str, float]]:
        terms = list(dict.fromkeys(stem(t) for t in query_terms(text)))
        docs = [Counter(doc_terms(r.entry.text)) for r in rows]
        n = len(docs)
        avg = sum(sum(d.values()) for d in docs) / n or 1.0
        df = {t: sum(1 for d in docs if t in d) for t in terms}
        scored: list[tuple[str, float]] = []
        for r, d in zip(rows, docs, strict=True):
            length = sum(d.values())
            s = 0.0
            for t in terms:
                tf = d.get(t, 0)
                if tf:
                    idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                    s += idf * tf * (_BM25_K1 + 1) / (tf + _BM25_K1 * (1 - _BM25_B + _BM25_B * length / avg))
            if s > 0:
                scored.append((r.entry.id, s))
        # ties: oldest first (rows are in insertion order and the sort is stable), as SQLite and Postgres do
        scored.sort(key=lambda kv: -kv[1])
        return scored[:k]

    def history(self, namespace: str, *, memory_id: str | None = None,
                change_set_id: str | None = None) -> list[HistoryRecord]:
        with self._lock:
            ns = self._ns.get(namespace)
            recs = list(ns.history) if ns else []
        return [h for h in recs if (memory_id is None or h.memory_id == memory_id)
                and (change_set_id is None or h.change_set_id == change_set_id)]

    def change_sets(self, namespace: str, *, limit: int | None = None) -> list[ChangeSetRecord]:
        with self._lock:
            ns = self._ns.get(namespace)
            recs = list(ns.change_sets.values()) if ns else []
        recs.reverse()
        return recs[:limit] if limit is not None else recs

    def change_set(self, namespace: str, change_set_id: str) -> ChangeSetRecord | None:
        with self._lock:
            ns = self._ns.get(namespace)
            return ns.change_sets.get(change_set_id) if ns else None

    # -- maintenance ----------------------------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        with self._lock:
            return sorted(n for n, ns in self._ns.items() if ns.rows or ns.change_sets)

    def dump(self, namespace: str) -> Iterator[DumpRecord]:
        with self._lock:
            ns = self._ns.get(namespace) or _Namespace()
            rows = sorted(ns.rows.values(), key=lambda r: r.entry.created_at)
            sets = sorted(ns.change_sets.values(), key=lambda c: c.created_at)
            records: list[DumpRecord] = [*rows, *sets, *ns.history]
        yield from records

    def load(self, records: Iterable[DumpRecord]) -> int:
        items = list(records)
        with self._lock:
            existing = {(n, i) for n, ns in self._ns.items() for i in ns.rows}
            known_cs = {(n, c) for n, ns in self._ns.items() for c in ns.change_sets}
            self._dim = check_load(items, self._dim, existing, known_cs)
            for rec in items:
                if isinstance(rec, StoredMemory):
                    self._ns.setdefault(rec.entry.namespace, _Namespace()).rows[rec.entry.id] = rec
                elif isinstance(rec, ChangeSetRecord):
                    self._ns.setdefault(rec.namespace, _Namespace()).change_sets[rec.id] = rec
                else:
                    self._seq += 1
                    ns = self._ns.setdefault(rec.namespace, _Namespace())
                    ns.history.append(_with_seq(rec, self._seq))
            return len(items)

    def purge(self, namespace: str) -> int:
        with self._lock:
            ns = self._ns.pop(namespace, None)
            queued = [i for i in self._items.values() if i.namespace == namespace]
            for item in queued:
                del self._items[item.id]
            return (len(ns.rows) + len(ns.history) + len(ns.change_sets) if ns else 0) + len(queued)

    def close(self) -> None:
        """Nothing to release."""


def _with_reverted_by(rec: ChangeSetRecord, by: str) -> ChangeSetRecord:
    return ChangeSetRecord(rec.id, rec.namespace, rec.created_at, rec.session_id, rec.actor, rec.ops, rec.counts,
                           rec.reverts, by, rec.note)


def _with_seq(rec: HistoryRecord, seq: int) -> HistoryRecord:
    return HistoryRecord(seq, rec.change_set_id, rec.namespace, rec.memory_id, rec.kind, rec.before, rec.after,
                         rec.session_id, rec.actor, rec.created_at)
