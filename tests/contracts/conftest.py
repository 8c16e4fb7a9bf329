"""The store contract also runs on PostgreSQL: ``store_factory`` here adds a ``postgres`` backend.

A real PostgreSQL 16 + pgvector is started once per session with ``pgserver`` (a dev dependency); each test gets a
fresh database, and each store the factory makes gets its own schema in it. Postgres runs are marked
``integration`` and skipped (with the reason) only when pgserver / psycopg are not installed.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deltamem.stores.base import ArchiveStore
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

StoreFactory = Callable[[], ArchiveStore]


@pytest.fixture(scope="session")
def pg_server() -> Any:
    """One PostgreSQL server per test process, stopped and deleted at exit.

    The data directory is named after the process, not put under pytest's basetemp: pytest sessions running in
    parallel prune each other's old basetemps, which would pull the data directory from under a live server. Other
    suites asking for the same path get the same server (pgserver caches it per data directory).
    """
    pgserver = pytest.importorskip("pgserver", reason="PostgreSQL tests need the dev dependency pgserver")
    pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg (the 'postgres' extra)")
    pytest.importorskip("pgvector", reason="PostgreSQL tests need pgvector (the 'postgres' extra)")
    return pgserver.get_server(Path(tempfile.gettempdir()) / f"deltamem-pgtest-{os.getpid()}", cleanup_mode="delete")


@pytest.fixture
def pg_dsn(pg_server: Any) -> Iterator[str]:
    """A fresh, empty database on the session server, dropped after the test."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    yield pg_server.get_uri(database=name)
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


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
