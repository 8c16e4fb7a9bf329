"""The namespace invariant as part of the Store contract (#19), on every backend: a commit or a load that reaches
outside its namespace is refused with nothing written, and change-set ids are unique per namespace only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deltamem.core import Add, Change, ChangeSet, ConflictError, MemoryState, NamespaceError, apply
from deltamem.embed.hashing import HashingEmbedder
from deltamem.stores.base import ArchiveStore, HistoryRecord
from deltamem.stores.review import PendingChangeSet, ReviewQueue

EMB = HashingEmbedder(dim=64)
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def add(store: ArchiveStore, ns: str, text: str, *, cs_id: str | None = None) -> ChangeSet:
    cs = apply(store.get(ns, []), [Add(text=text)], change_set_id=cs_id)
    store.commit(cs, {c.memory_id: EMB.embed([text])[0] for c in cs.changes})
    return cs


def snapshot(store: ArchiveStore) -> list[object]:
    return [(ns, [(type(r).__name__, getattr(r, "entry", None), getattr(r, "id", None), getattr(r, "seq", None))
                  for r in store.dump(ns)]) for ns in store.namespaces()]


@pytest.mark.parametrize("side", ["before", "after"])
def test_commit_refuses_an_entry_of_another_namespace(store: ArchiveStore, side: str) -> None:
    victim = add(store, "user:victim", "victim fact").changes[0].after
    assert victim is not None
    add(store, "user:mallory", "mallory fact")
    planted = victim.evolve(text="planted")
    change = (Change("DELETE", victim.id, planted, None) if side == "before"
              else Change("ADD", victim.id, None, planted))
    forged = ChangeSet(id="forged", namespace="user:mallory", ops=(), changes=(change,),
                       state=MemoryState("user:mallory"), created_at=victim.created_at)
    before = snapshot(store)
    with pytest.raises(NamespaceError):
        store.commit(forged, {victim.id: EMB.embed(["planted"])[0]})
    assert snapshot(store) == before
    assert store.get("user:victim", [victim.id])[victim.id].text == "victim fact"


def test_load_refuses_history_with_entries_of_another_namespace(store: ArchiveStore) -> None:
    cs = add(store, "user:victim", "victim fact")
    victim = cs.changes[0].after
    assert victim is not None
    forged = [HistoryRecord(1, cs.id, "user:mallory", victim.id, "ADD", None, victim.evolve(text="x"), None, "user",
                            victim.created_at)]
    before = snapshot(store)
    with pytest.raises(NamespaceError):
        store.load(forged)
    assert snapshot(store) == before


def test_change_set_ids_are_unique_per_namespace(store: ArchiveStore) -> None:
    add(store, "user:a", "a fact", cs_id="same-id")
    add(store, "user:b", "b fact", cs_id="same-id")  # another namespace: no clash, and no way to tell it exists
    assert [c.id for c in store.change_sets("user:b")] == ["same-id"]
    assert [h.change_set_id for h in store.history("user:a")] == ["same-id"]
    before = snapshot(store)
    with pytest.raises(ConflictError):
        add(store, "user:a", "again", cs_id="same-id")
    assert snapshot(store) == before


def test_a_queued_item_cannot_be_replaced_from_another_namespace(store: ArchiveStore) -> None:
    assert isinstance(store, ReviewQueue)
    mine = PendingChangeSet("q1", "user:a", ({"op": "DELETE", "id": "m1"},), "too many deletes", T0)
    store.queue_put(mine)
    with pytest.raises(ConflictError):
        store.queue_put(PendingChangeSet("q1", "user:b", ({"op": "DELETE", "id": "m2"},), "forged", T0))
    assert store.queue_get("user:a", "q1") == mine and store.queue_list("user:b") == []
