"""The store contract also runs on PostgreSQL: ``store_factory`` here adds a ``postgres`` backend.

A real PostgreSQL 16 + pgvector is started once per session with ``pgserver`` (a dev dependency, fixtures
``pg_server`` / ``pg_dsn`` in tests/conftest.py); each test gets a fresh database, and each store the factory makes
gets its own schema in it. Postgres runs are marked
``integration`` and skipped (with the reason) only when pgserver / psycopg are not installed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deltamem.stores.base import ArchiveStore
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

StoreFactory = Callable[[], ArchiveStore]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes fresh stores of each backend; every contract test runs once per backend."""
    counter = itertools.count()
    base: StoreFactory
    if request.param == "memory":
        base = InMemoryStore
    elif request.param == "sqlite":
        base = lambda: SqliteStore(tmp_path / f"store{next(counter)}.db")  # noqa: E731
    else:
        from deltamem.stores.postgres import PostgresStore

        dsn = request.getfixturevalue("pg_dsn")
        base = lambda: PostgresStore(dsn, schema=f"store{next(counter)}")  # noqa: E731
    made: list[ArchiveStore] = []

    def make() -> ArchiveStore:
        s = base()
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
