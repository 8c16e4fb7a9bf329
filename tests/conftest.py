"""Shared fixtures: stores and a memory facade on the hashing embedder (no model needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deltamem.api import Memory
from deltamem.embed.hashing import HashingEmbedder
from deltamem.stores.base import ArchiveStore
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

StoreFactory = Callable[[], ArchiveStore]


def _sqlite(tmp_path: Path) -> StoreFactory:
    counter = iter(range(1000))
    return lambda: SqliteStore(tmp_path / f"store{next(counter)}.db")


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes fresh stores of each backend; every contract test runs once per backend."""
    made: list[ArchiveStore] = []
    base: StoreFactory = InMemoryStore if request.param == "memory" else _sqlite(tmp_path)

    def make() -> ArchiveStore:
        s = base()
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> ArchiveStore:
    return store_factory()


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dim=64)


@pytest.fixture
def memory(store: ArchiveStore, embedder: HashingEmbedder) -> Memory:
    return Memory(store=store, embedder=embedder)
