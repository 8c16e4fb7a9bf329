"""Shared fixtures: stores and a memory facade on the hashing embedder (no model needed), and a real PostgreSQL
server for the suites that need one (``pg_server`` / ``pg_dsn``)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.timeout_watchdog import pytest_configure, pytest_runtest_protocol  # noqa: F401  (the watchdog hooks)

from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
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
    server = pgserver.get_server(Path(tempfile.gettempdir()) / f"deltamem-pgtest-{os.getpid()}", cleanup_mode="delete")
    # pgserver 0.1.4 bundles pgvector 0.6.2, whose HNSW vacuum can break inserts running at the same time (fixed in
    # pgvector 0.8.3-0.8.4): seen once in five suite runs as "different vector dimensions 64 and 0" answered with 500
    # by the PostgreSQL load test. Autovacuum is off on this throwaway test server; docs/server.md says which
    # pgvector to run in production.
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as c:
        c.execute("ALTER SYSTEM SET autovacuum = off")
        c.execute("SELECT pg_reload_conf()")
    return server


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
