"""What the two-tenant state machine (test_tenant_state_machine.py) found, pinned as plain tests (issue #19).

1. A NUL character (``\\x00``) in a memory's text, keywords or metadata, or in a session id, was stored by SQLite and
   refused by PostgreSQL with a raw driver error: a StoreError, answered 500 by the server. The core now refuses it
   before any store sees it, so both stores agree; a NUL that reaches PostgreSQL anyway (an id or a namespace to
   look up) is a ValidationError (422), never a 500.
2. A session id that is not valid Unicode (a lone surrogate, which JSON can carry) crashed SQLite's commit with a
   raw UnicodeEncodeError (a 500 on the server, a non-deltamem exception in Python); so did the ops of an edited
   review item with such a text, id or metadata key. Session ids, actors and reviewers' names now pass one check
   (:func:`deltamem.core.changeset.check_label`), and edited ops the field checks of apply
   (:func:`deltamem.core.changeset.check_fields`), before anything is written.
3. An ADD with an explicit id of a live memory passed ``apply`` (which read only the ids of updates and deletes) and
   failed at commit with ConflictError, which the facade retries for its whole backoff budget (10 s by default)
   before answering 409: each such request held a server thread for 10 s. It is now refused at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deltamem.core import Add, InvalidOperation, NotFoundError, ValidationError, utcnow
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.base import ArchiveStore
from deltamem.stores.review import PendingChangeSet
from deltamem.stores.sqlite import SqliteStore

NS = "tenant:a/user:x"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    store: ArchiveStore
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "m.db")
    else:
        from deltamem.stores.postgres import PostgresStore

        store = PostgresStore(request.getfixturevalue("pg_dsn"))
    with Memory(store=store, embedder=HashingEmbedder(dim=64)) as m:
        yield m


@pytest.mark.parametrize("op", [
    Add(text="nul \x00 in the text"),
    Add(text="nul in a keyword", keywords=("k\x00",)),
    Add(text="nul in a metadata value", metadata={"k": "v\x00"}),
    Add(text="nul in a metadata key", metadata={"k\x00": 1}),
    Add(text="nul in nested metadata", metadata={"k": [{"deep": "\x00"}]}),
], ids=["text", "keyword", "metadata value", "metadata key", "nested metadata"])
def test_a_nul_character_is_refused_the_same_on_every_store(memory: Memory, op: Add) -> None:
    memory.add("kept", namespace=NS)
    with pytest.raises(InvalidOperation, match="NUL"):
        memory.add([op], namespace=NS)
    assert [e.text for e in memory.get_all(namespace=NS)] == ["kept"]
    assert len(memory.history(namespace=NS)) == 1


@pytest.mark.parametrize("session_id", ["s\x00", "lone \ud800"])
def test_a_session_id_every_store_cannot_write_is_refused(memory: Memory, session_id: str) -> None:
    with pytest.raises(ValidationError, match="session"):
        memory.add("fact", namespace=NS, session_id=session_id)
    with pytest.raises(ValidationError, match="session"):
        memory.add([{"role": "user", "content": "I like tea"}], namespace=NS, session_id=session_id, infer=False)
    assert memory.get_all(namespace=NS) == [] and memory.history(namespace=NS) == []


@pytest.mark.parametrize("op", [{"op": "ADD", "text": "lone \ud800"}, {"op": "ADD", "text": "nul \x00"},
                                {"op": "DELETE", "id": "\ud800"}, {"op": "ADD", "text": "t", "metadata": {"\ud800": 1}},
                                {"op": "ADD", "text": "t", "metadata": {"k": "\x00"}}],
                         ids=["surrogate text", "nul text", "surrogate id", "surrogate metadata", "nul metadata"])
def test_an_edited_review_item_must_be_storable(memory: Memory, op: dict[str, Any]) -> None:
    item = PendingChangeSet(id="r1", namespace=NS, ops=({"op": "ADD", "text": "held"},), reason="test",
                            created_at=utcnow())
    memory.review.queue.queue_put(item)
    with pytest.raises(InvalidOperation):
        memory.review.edit("r1", [op], namespace=NS)
    with pytest.raises(ValidationError, match="by"):
        memory.review.reject("r1", by="lone \ud800", namespace=NS)
    assert memory.review.get("r1", namespace=NS) == item


def test_a_nul_character_that_reaches_postgres_is_a_validation_error(memory: Memory) -> None:
    memory.add("kept", namespace=NS)
    on_postgres = type(memory.store).__name__ == "PostgresStore"
    calls: dict[str, Callable[[], object]] = {"get": lambda: memory.get("id\x00", namespace=NS),
                                              "list": lambda: memory.get_all(namespace=NS + "\x00")}
    for name, call in calls.items():
        if on_postgres:  # PostgreSQL can neither store nor look up such a string: the caller's input is refused
            with pytest.raises(ValidationError, match="NUL"):
                call()
        elif name == "get":  # SQLite looks up any string
            with pytest.raises(NotFoundError):
                call()
        else:
            assert call() == []
    assert [e.text for e in memory.get_all(namespace=NS)] == ["kept"]


def test_an_add_with_the_id_of_a_live_memory_is_refused_at_once(memory: Memory) -> None:
    mid = memory.add("first", namespace=NS).changes[0].memory_id
    started = time.monotonic()
    with pytest.raises(InvalidOperation, match="already exists"):
        memory.add([{"op": "ADD", "id": mid, "text": "second"}], namespace=NS)
    assert time.monotonic() - started < 2  # not retried as if a concurrent writer had won a race
    assert [e.text for e in memory.get_all(namespace=NS)] == ["first"]
    memory.delete(mid, namespace=NS)  # a deleted id may be added again (the re-ADD of a retired memory)
    memory.add([{"op": "ADD", "id": mid, "text": "second"}], namespace=NS)
    assert [e.text for e in memory.get_all(namespace=NS)] == ["second"]
