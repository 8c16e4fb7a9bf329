"""A write that loses a race for its memory: ``PUT`` / ``DELETE /v1/memories/{id}`` when another client retires the
memory while the request is being handled.

Found by the load test (a 422 among 960 operations on PostgreSQL). docs/server.md promises 404 when the id "is not
a live memory of the namespace"; the server answers 422 ``InvalidOperation`` ("unknown or deleted memory id")
instead, because the route checks that the memory is live (``Memory.get``) and then ``Memory.update`` /
``Memory.delete`` re-read the state and hand the now-missing id to ``core.apply``. A client cannot tell that 422
from a malformed request. The race is made deterministic here with a store that lets a second writer retire the
memory right after the route's check (a real SQLite store and a real second ``Memory``; nothing is mocked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deltamem.core import MemoryState
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.server import ServerConfig, create_app
from deltamem.server.keys import KeyStore
from deltamem.server.state import StateDB
from deltamem.stores.sqlite import SqliteStore


class RacingStore:
    """A SQLite store that runs ``action(namespace, id)`` once, right after the first read of an armed id."""

    def __init__(self, inner: SqliteStore) -> None:
        self._inner = inner
        self._armed: tuple[str, Callable[[str, str], object]] | None = None

    @property
    def armed(self) -> bool:
        """Whether the action is still waiting for its read."""
        return self._armed is not None

    def arm(self, memory_id: str, action: Callable[[str, str], object]) -> None:
        self._armed = (memory_id, action)

    def get(self, namespace: str, ids: Sequence[str]) -> MemoryState:
        state = self._inner.get(namespace, ids)
        if self._armed is not None and self._armed[0] in ids:
            memory_id, action = self._armed
            self._armed = None
            action(namespace, memory_id)  # another writer commits between this read and the caller's write
        return state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def racing(tmp_path: Path) -> Iterator[tuple[TestClient, RacingStore, Memory, str]]:
    inner = SqliteStore(tmp_path / "m.db")
    store = RacingStore(inner)
    embedder = HashingEmbedder(dim=64)
    memory = Memory(store=store, embedder=embedder)
    other = Memory(store=inner, embedder=embedder)  # the concurrent writer
    db = StateDB(tmp_path / "server.db")
    app = create_app(ServerConfig(state_path=tmp_path / "server.db", rate_per_s=0), memory=memory, db=db)
    _, key = KeyStore(db).create(tenant="acme")
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, store, other, key
    inner.close()
    db.close()


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_write_to_a_memory_retired_concurrently_answers_404(
        racing: tuple[TestClient, RacingStore, Memory, str], method: str) -> None:
    client, store, other, _ = racing
    r = client.post("/v1/memories", params={"user_id": "alice"}, json={"facts": ["Alice lives in Paris"]})
    assert r.status_code == 201, r.text
    memory_id = r.json()["changes"][0]["memory_id"]
    store.arm(memory_id, lambda ns, mid: other.delete(mid, namespace=ns))
    body = {"text": "Alice lives in Lyon"} if method == "PUT" else None
    r = client.request(method, f"/v1/memories/{memory_id}", params={"user_id": "alice"}, json=body)
    assert not store.armed, "the race was not staged"
    assert client.get(f"/v1/memories/{memory_id}", params={"user_id": "alice"}).status_code == 404  # retired
    assert r.status_code == 404, f"{method} answered {r.status_code}: {r.text}"
    assert r.json()["error"]["type"] == "NotFoundError"
