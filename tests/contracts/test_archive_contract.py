"""The Archive contract (whole namespaces: list, dump, load, purge) on every backend: in-process, SQLite, PostgreSQL.

Also that every backend offers the capabilities the facade takes (``ArchiveStore`` = Store + Archive + count /
close, and the review queue).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from deltamem.core import Add, ConflictError, CorruptDataError, Delete, EmbeddingDimensionError, Update, apply
from deltamem.embed.hashing import HashingEmbedder
from deltamem.stores.base import Archive, ArchiveStore, ChangeSetRecord, HistoryRecord, Store, StoredMemory
from deltamem.stores.review import ReviewQueue

EMB = HashingEmbedder(dim=64)
T = datetime(2024, 5, 1, tzinfo=UTC)


def commit(store: ArchiveStore, ns: str, ops: list, *, minutes: int = 0) -> object:
    ids = [o.id for o in ops if isinstance(o, Update | Delete)]
    cs = apply(store.get(ns, ids), ops, now=T + timedelta(minutes=minutes))  # type: ignore[arg-type]
    store.commit(cs, {c.memory_id: EMB.embed([c.after.text])[0] for c in cs.changes if c.after})
    return cs


def test_every_backend_has_every_capability(store: ArchiveStore) -> None:
    for capability in (Store, Archive, ArchiveStore, ReviewQueue):
        assert isinstance(store, capability), capability.__name__


def test_a_fresh_store_is_empty(store: ArchiveStore) -> None:
    assert store.embedding_dim is None
    assert store.namespaces() == []
    assert list(store.dump("user:a")) == []
    assert store.count("user:a") == 0
    assert store.purge("user:a") == 0


def test_namespaces_lists_every_namespace_with_records_in_order(store: ArchiveStore) -> None:
    for ns in ("user:b", "agent:x", "user:a"):
        commit(store, ns, [Add(text=f"fact of {ns}")])
    assert store.namespaces() == ["agent:x", "user:a", "user:b"]
    only = store.list_entries("user:b")[0].id
    commit(store, "user:b", [Delete(id=only)])  # no live memory left, but its history is kept
    assert store.count("user:b") == 0 and "user:b" in store.namespaces()
    store.purge("agent:x")
    assert store.namespaces() == ["user:a", "user:b"]


def test_dump_holds_memories_then_change_sets_then_history_in_order(store: ArchiveStore) -> None:
    cs1 = commit(store, "user:a", [Add(text="one"), Add(text="two")], minutes=1)
    one = store.list_entries("user:a")[0].id
    cs2 = commit(store, "user:a", [Update(id=one, text="uno")], minutes=2)
    cs3 = commit(store, "user:a", [Delete(id=one)], minutes=3)
    commit(store, "user:b", [Add(text="elsewhere")], minutes=4)
    records = list(store.dump("user:a"))
    kinds = [type(r).__name__ for r in records]
    assert kinds == ["StoredMemory"] * 2 + ["ChangeSetRecord"] * 3 + ["HistoryRecord"] * 4
    mems = [r for r in records if isinstance(r, StoredMemory)]
    assert [m.entry.text for m in mems] == ["uno", "two"]  # oldest first, the deleted one with its last version
    assert mems[0].deleted_at is not None and mems[1].deleted_at is None
    assert all(np.asarray(m.vector).shape == (64,) for m in mems)
    assert [r.id for r in records if isinstance(r, ChangeSetRecord)] == [cs.id for cs in (cs1, cs2, cs3)]  # type: ignore[attr-defined]
    hist = [r for r in records if isinstance(r, HistoryRecord)]
    assert [h.kind for h in hist] == ["ADD", "ADD", "UPDATE", "DELETE"]
    assert [h.seq for h in hist] == sorted(h.seq for h in hist)
    assert hist == store.history("user:a")


def test_dump_load_round_trip_and_refusals(store: ArchiveStore, store_factory: Callable[[], ArchiveStore]) -> None:
    commit(store, "user:a", [Add(text=t) for t in ("Caroline lives in Boston", "Caroline works as a nurse",
                                                     "Rex is a dog", "Melanie paints", "Gina runs")])
    commit(store, "user:b", [Add(text="another namespace")])
    ids = {e.text: e.id for e in store.list_entries("user:a")}
    commit(store, "user:a", [Delete(id=ids["Caroline works as a nurse"])])
    records = list(store.dump("user:a"))
    assert sum(1 for r in records if isinstance(r, StoredMemory) and r.deleted_at is not None) == 1
    other = store_factory()
    assert other.load(records) == len(records)
    assert other.embedding_dim == 64 and other.namespaces() == ["user:a"]
    assert other.list_entries("user:a") == store.list_entries("user:a")
    assert other.change_sets("user:a") == store.change_sets("user:a")
    assert [h.change_set_id for h in other.history("user:a")] == [h.change_set_id for h in store.history("user:a")]
    q = "Caroline Boston"
    assert [h.entry.id for h in other.search("user:a", vector=EMB.embed([q])[0], text=q, k=3)] == [
        h.entry.id for h in store.search("user:a", vector=EMB.embed([q])[0], text=q, k=3)]
    with pytest.raises(ConflictError):
        other.load(records)  # same ids again: refused, nothing written
    assert len(other.list_entries("user:a")) == 4
    bad = [StoredMemory(r.entry.evolve(id="fresh-" + r.entry.id), np.ones(8, dtype=np.float32))
           for r in records if isinstance(r, StoredMemory)]
    with pytest.raises(EmbeddingDimensionError):
        other.load(bad)
    assert len(other.list_entries("user:a")) == 4


def test_load_is_all_or_nothing(store: ArchiveStore, store_factory: Callable[[], ArchiveStore]) -> None:
    commit(store, "user:a", [Add(text="kept"), Add(text="also kept")])
    records = list(store.dump("user:a"))
    orphan = next(r for r in records if isinstance(r, HistoryRecord))
    broken = [*records, HistoryRecord(0, "no-such-change-set", "user:a", orphan.memory_id, "UPDATE", orphan.after,
                                      orphan.after, None, "user", T)]
    other = store_factory()
    with pytest.raises(CorruptDataError):
        other.load(broken)
    assert other.namespaces() == [] and other.embedding_dim is None and list(other.dump("user:a")) == []


def test_purge_erases_one_namespace_only(store: ArchiveStore) -> None:
    commit(store, "user:a", [Add(text="Caroline lives in Boston"), Add(text="Rex is a dog")])
    commit(store, "user:b", [Add(text="Caroline from user b lives in Boston too")])
    assert store.purge("user:a") == 5  # two memories, two history rows, one change set
    assert store.list_entries("user:a") == [] and store.history("user:a") == [] and store.change_sets("user:a") == []
    assert list(store.dump("user:a")) == []
    q = "Caroline"
    assert store.search("user:a", vector=EMB.embed([q])[0], text=q, k=5) == []
    assert len(store.list_entries("user:b")) == 1
    assert store.namespaces() == ["user:b"]
    commit(store, "user:a", [Add(text="after purge")])
    assert [h.entry.text for h in store.search("user:a", vector=EMB.embed(["after purge"])[0], text="purge")] == [
        "after purge"]
