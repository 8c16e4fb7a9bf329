"""The ReviewQueue contract: every store that holds a review queue (in-process, SQLite, PostgreSQL) passes these."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from deltamem.core import Add, ConflictError, NotFoundError, apply
from deltamem.embed.hashing import HashingEmbedder
from deltamem.stores.base import ArchiveStore
from deltamem.stores.review import PendingChangeSet, ReviewQueue

EMB = HashingEmbedder(dim=64)
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def item(item_id: str, ns: str = "user:a", *, minutes: int = 0, **kw: object) -> PendingChangeSet:
    return PendingChangeSet(item_id, ns, ({"op": "DELETE", "id": f"m-{item_id}"},), "deletes 60 % of memories",
                            T0 + timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]


@pytest.fixture
def queue(store: ArchiveStore) -> ReviewQueue:
    assert isinstance(store, ReviewQueue)
    return store


def test_an_item_comes_back_as_it_was_put(queue: ReviewQueue) -> None:
    full = PendingChangeSet("q1", "user:a", ({"op": "UPDATE", "id": "m1", "text": "Zoë wohnt in Köln"},),
                            "überschreibt 3 von 4", T0, session_id="s-1", actor="agent")
    queue.queue_put(full)
    assert queue.queue_get("user:a", "q1") == full
    assert queue.queue_list("user:a") == [full]


def test_list_is_oldest_first_and_filters_by_status(queue: ReviewQueue) -> None:
    late, early, tie = item("late", minutes=5), item("early", minutes=1), item("tie", minutes=5)
    for it in (late, early, tie):
        queue.queue_put(it)
    assert [i.id for i in queue.queue_list("user:a")] == ["early", "late", "tie"]  # ties in the order put
    resolved = replace(early, status="rejected", resolved_at=T0 + timedelta(hours=1), resolved_by="alice")
    queue.queue_update(resolved)
    assert [i.id for i in queue.queue_list("user:a")] == ["late", "tie"]  # pending, the default
    assert queue.queue_list("user:a", status="rejected") == [resolved]
    assert queue.queue_list("user:a", status="approved") == []
    assert [i.id for i in queue.queue_list("user:a", status=None)] == ["early", "late", "tie"]


def test_update_replaces_ops_and_records_the_resolution(queue: ReviewQueue) -> None:
    queue.queue_put(item("q1"))
    edited = replace(item("q1"), ops=({"op": "DELETE", "id": "m-other"},), reason="edited",
                     status="approved", resolved_at=T0 + timedelta(days=1), resolved_by="bob", change_set_id="cs-9")
    queue.queue_update(edited)
    assert queue.queue_get("user:a", "q1") == edited


def test_namespaces_are_isolated(queue: ReviewQueue) -> None:
    queue.queue_put(item("q1", "user:a"))
    queue.queue_put(item("q2", "user:b"))
    assert [i.id for i in queue.queue_list("user:b")] == ["q2"]
    with pytest.raises(NotFoundError):
        queue.queue_get("user:b", "q1")
    with pytest.raises(NotFoundError):  # an update cannot move or touch another namespace's item
        queue.queue_update(replace(item("q1", "user:b"), reason="forged"))
    assert queue.queue_get("user:a", "q1") == item("q1", "user:a")


def test_unknown_items_and_duplicate_ids_are_refused(queue: ReviewQueue) -> None:
    with pytest.raises(NotFoundError):
        queue.queue_get("user:a", "missing")
    with pytest.raises(NotFoundError):
        queue.queue_update(item("missing"))
    queue.queue_put(item("q1"))
    with pytest.raises(ConflictError):
        queue.queue_put(replace(item("q1"), reason="again"))
    assert queue.queue_get("user:a", "q1").reason == item("q1").reason
    assert queue.queue_list("user:a", status=None) == [item("q1")]


def test_purge_drops_the_namespaces_queue_only(store: ArchiveStore, queue: ReviewQueue) -> None:
    cs = apply(store.get("user:a", []), [Add(text="x")])
    store.commit(cs, {c.memory_id: EMB.embed(["x"])[0] for c in cs.changes})
    queue.queue_put(item("q1", "user:a"))
    queue.queue_put(item("q2", "user:b"))
    assert store.purge("user:a") == 4  # the memory, its history row, its change set, the queued item
    assert queue.queue_list("user:a", status=None) == []
    assert [i.id for i in queue.queue_list("user:b")] == ["q2"]
