"""The Store contract: every backend (in-process, SQLite, PostgreSQL) must pass all of these.

The other capabilities have their own suites: test_archive_contract.py, test_review_queue_contract.py,
test_namespace_lock_contract.py."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from deltamem.core import (
    Add,
    ConflictError,
    Delete,
    EmbeddingDimensionError,
    MemoryState,
    StoreError,
    Update,
    apply,
)
from deltamem.embed.hashing import HashingEmbedder
from deltamem.stores.base import ArchiveStore, Filters

EMB = HashingEmbedder(dim=64)
T = datetime(2024, 5, 1, tzinfo=UTC)


def commit(store: ArchiveStore, ns: str, ops: list, **kw: object) -> object:
    ids = [o.id for o in ops if isinstance(o, Update | Delete)]
    cs = apply(store.get(ns, ids), ops, **kw)  # type: ignore[arg-type]
    store.commit(cs, {c.memory_id: EMB.embed([c.after.text])[0] for c in cs.changes if c.after})
    return cs


FACTS = [
    ("Caroline lives in Boston", T, {"topic": "home"}),
    ("Caroline works as a nurse at Mass General", T + timedelta(days=1), {"topic": "work"}),
    ("Caroline has a five year old dog named Rex", T + timedelta(days=2), {"topic": "pets"}),
    ("Melanie paints landscapes on weekends", T + timedelta(days=3), {"topic": "hobby", "private": True}),
    ("Melanie's daughter starts school in September", T + timedelta(days=4), {"topic": "family", "n": 3}),
]


@pytest.fixture
def filled(store: ArchiveStore) -> ArchiveStore:
    commit(store, "user:a", [Add(text=t, timestamp=ts, metadata=md) for t, ts, md in FACTS])
    commit(store, "user:b", [Add(text="Caroline from user b lives in Boston too")])
    return store


def ids_of(store: ArchiveStore, ns: str) -> dict[str, str]:
    return {e.text: e.id for e in store.list_entries(ns)}


def test_list_get_and_order(filled: ArchiveStore) -> None:
    entries = filled.list_entries("user:a")
    assert [e.text for e in entries] == [f[0] for f in FACTS]
    assert filled.list_entries("user:a", limit=2, offset=1)[0].text == FACTS[1][0]
    assert len(filled.list_entries("user:a", limit=2, offset=1)) == 2
    one = entries[2]
    got = filled.get("user:a", [one.id, "missing"])
    assert list(got) == [one.id] and got[one.id] == one
    assert dict(got[one.id].metadata) == {"topic": "pets"}


def test_namespaces_are_isolated(filled: ArchiveStore) -> None:
    a_ids = list(ids_of(filled, "user:a").values())
    assert len(filled.get("user:b", a_ids)) == 0
    assert all(e.namespace == "user:b" for e in filled.list_entries("user:b"))
    q = "Caroline Boston"
    hits = filled.search("user:b", vector=EMB.embed([q])[0], text=q, k=10)
    assert [h.entry.namespace for h in hits] == ["user:b"]
    assert all(h.namespace == "user:b" for h in filled.history("user:b"))
    assert all(c.namespace == "user:b" for c in filled.change_sets("user:b"))
    assert filled.list_entries("user:nobody") == [] and filled.history("user:nobody") == []


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_search_finds_the_relevant_memory(filled: ArchiveStore, mode: str) -> None:
    q = "Rex the dog"
    hits = filled.search("user:a", vector=EMB.embed([q])[0], text=q, mode=mode, k=2)  # type: ignore[arg-type]
    assert hits and hits[0].entry.text == FACTS[2][0]
    assert len(hits) <= 2
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_keyword_search_matches_names_and_ignores_fts_syntax(filled: ArchiveStore) -> None:
    hits = filled.search("user:a", text='Melanie AND "OR paints* (', mode="keyword", k=5)
    assert {h.entry.text for h in hits} >= {FACTS[3][0]}
    assert all("Melanie" in h.entry.text for h in hits[:2])
    assert filled.search("user:a", text="the of and", mode="keyword", k=5) == []


def test_search_never_returns_deleted_or_stale_text(filled: ArchiveStore) -> None:
    ids = ids_of(filled, "user:a")
    commit(filled, "user:a",
           [Delete(id=ids[FACTS[2][0]]), Update(id=ids[FACTS[0][0]], text="Caroline moved to Seattle")])
    for mode in ("vector", "keyword", "hybrid"):
        for q in ("dog named Rex", "Boston"):
            hits = filled.search("user:a", vector=EMB.embed([q])[0], text=q, mode=mode, k=10)  # type: ignore[arg-type]
            texts = [h.entry.text for h in hits]
            assert FACTS[2][0] not in texts and FACTS[0][0] not in texts
    hits = filled.search("user:a", vector=EMB.embed(["Seattle"])[0], text="Seattle", mode="keyword", k=1)
    assert hits[0].entry.text == "Caroline moved to Seattle"


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_search_filters(filled: ArchiveStore, mode: str) -> None:
    q = "Caroline Melanie dog nurse Boston paints daughter"
    vec = EMB.embed([q])[0]
    f = Filters(since=T + timedelta(days=1), until=T + timedelta(days=3))
    got = {h.entry.text for h in filled.search("user:a", vector=vec, text=q, mode=mode, k=10, filters=f)}  # type: ignore[arg-type]
    assert got and got <= {FACTS[1][0], FACTS[2][0], FACTS[3][0]}
    f = Filters(metadata={"topic": "pets"})
    got = {h.entry.text for h in filled.search("user:a", vector=vec, text=q, mode=mode, k=10, filters=f)}  # type: ignore[arg-type]
    assert got == {FACTS[2][0]}
    for md, expect in (({"private": True}, FACTS[3][0]), ({"n": 3}, FACTS[4][0])):
        got = {h.entry.text for h in filled.search("user:a", vector=vec, text=q, mode=mode, k=10,  # type: ignore[arg-type]
                                                  filters=Filters(metadata=md))}
        assert got == {expect}


def test_list_filters_match_reference_semantics(filled: ArchiveStore) -> None:
    for f in (Filters(since=T + timedelta(days=2)), Filters(until=T + timedelta(days=1)),
              Filters(metadata={"topic": "work"}), Filters(metadata={"private": False}),
              Filters(metadata={"missing": "x"}), Filters(since=T, metadata={"topic": "family"})):
        expected = [e.text for e in filled.list_entries("user:a") if f.matches(e)]
        assert [e.text for e in filled.list_entries("user:a", filters=f)] == expected


def test_deleted_entries_newest_deletion_first_as_they_were(filled: ArchiveStore) -> None:
    ids = ids_of(filled, "user:a")
    assert filled.deleted_entries("user:a") == []
    commit(filled, "user:a", [Update(id=ids[FACTS[0][0]], text="Caroline lives in Denver")])
    start = datetime.now(UTC)
    commit(filled, "user:a", [Delete(id=ids[FACTS[0][0]])])
    commit(filled, "user:a", [Delete(id=ids[FACTS[3][0]])])
    gone = filled.deleted_entries("user:a")
    assert [e.text for e, _ in gone] == [FACTS[3][0], "Caroline lives in Denver"]  # as deleted, newest first
    assert all(start <= when <= datetime.now(UTC) for _, when in gone)
    assert [e.text for e, _ in filled.deleted_entries("user:a", limit=1, offset=1)] == ["Caroline lives in Denver"]
    assert [e.text for e, _ in filled.deleted_entries("user:a", filters=Filters(metadata={"topic": "hobby"}))] == [
        FACTS[3][0]]
    assert filled.deleted_entries("user:b") == [] and len(filled.list_entries("user:a")) == 3


def test_stale_write_is_refused_and_nothing_written(filled: ArchiveStore) -> None:
    ids = ids_of(filled, "user:a")
    mid = ids[FACTS[0][0]]
    stale_view = filled.get("user:a", [mid])
    commit(filled, "user:a", [Update(id=mid, text="Caroline lives in Denver")])
    stale = apply(stale_view, [Update(id=mid, text="Caroline lives in Austin"), Add(text="unrelated new fact")])
    n_hist = len(filled.history("user:a"))
    with pytest.raises(ConflictError):
        filled.commit(stale, {c.memory_id: EMB.embed([c.after.text])[0] for c in stale.changes if c.after})
    assert filled.get("user:a", [mid])[mid].text == "Caroline lives in Denver"
    assert "unrelated new fact" not in [e.text for e in filled.list_entries("user:a")]
    assert len(filled.history("user:a")) == n_hist


def test_same_change_set_cannot_commit_twice(store: ArchiveStore) -> None:
    cs = apply(MemoryState("user:a"), [Add(text="x")])
    vec = {c.memory_id: EMB.embed(["x"])[0] for c in cs.changes}
    store.commit(cs, vec)
    with pytest.raises(ConflictError):
        store.commit(cs, vec)


def test_vector_dimension_is_enforced(filled: ArchiveStore) -> None:
    assert filled.embedding_dim == 64
    cs = apply(MemoryState("user:c"), [Add(text="x")])
    with pytest.raises(EmbeddingDimensionError, match="dimension 32"):
        filled.commit(cs, {c.memory_id: np.ones(32, dtype=np.float32) / 32**0.5 for c in cs.changes})
    with pytest.raises(StoreError, match="no vector"):
        filled.commit(cs, {})
    assert filled.list_entries("user:c") == []


def test_history_and_change_sets_record_everything(store: ArchiveStore) -> None:
    cs1 = commit(store, "user:a", [Add(text="one"), Add(text="two")], session_id="s1", actor="agent")
    mid = cs1.changes[0].memory_id  # type: ignore[attr-defined]
    cs2 = commit(store, "user:a", [Update(id=mid, text="uno")], session_id="s2")
    cs3 = commit(store, "user:a", [Delete(id=mid)])
    hist = store.history("user:a", memory_id=mid)
    assert [(h.kind, h.before and h.before.text, h.after and h.after.text) for h in hist] == [
        ("ADD", None, "one"), ("UPDATE", "one", "uno"), ("DELETE", "uno", None)]
    assert [h.change_set_id for h in hist] == [cs1.id, cs2.id, cs3.id]  # type: ignore[attr-defined]
    assert hist[0].session_id == "s1" and hist[0].actor == "agent"
    assert [h.seq for h in hist] == sorted(h.seq for h in hist)
    sets = store.change_sets("user:a")
    assert [s.id for s in sets] == [cs3.id, cs2.id, cs1.id]  # type: ignore[attr-defined]
    assert dict(sets[2].counts) == {"ADD": 2, "UPDATE": 0, "DELETE": 0}
    assert sets[2].ops[0]["op"] == "ADD"
    assert len(store.change_sets("user:a", limit=1)) == 1
    assert len(store.history("user:a", change_set_id=cs1.id)) == 2  # type: ignore[attr-defined]
    # One header by id, only inside its namespace.
    assert [store.change_set("user:a", r.id) for r in sets] == sets
    assert store.change_set("user:b", cs1.id) is None  # type: ignore[attr-defined]
    assert store.change_set("user:a", "no-such-id") is None
