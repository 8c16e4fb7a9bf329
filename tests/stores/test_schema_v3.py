"""Schema v3 (#19): change-set ids become unique per namespace; stores written by earlier versions migrate in place
with their change sets, their order and their revert links intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from deltamem.core import Add, ConflictError, apply
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.base import ArchiveStore
from deltamem.stores.sqlite import SqliteStore
from deltamem.stores.sqlite_schema import MIGRATIONS, SCHEMA_VERSION

EMB = HashingEmbedder(dim=64)


def history_of_an_old_store(m: Memory) -> list[tuple[str, str | None, str | None]]:
    first = m.add(["one", "two"], namespace="user:a")
    m.add("three", namespace="user:a")
    m.revert(first.id, namespace="user:a")
    m.add("bee", namespace="user:b")
    return [(c.id, c.reverts, c.reverted_by) for c in m.change_sets(namespace="user:a")]


def reuse_id_in_another_namespace(store: ArchiveStore, cs_id: str) -> None:
    cs = apply(store.get("user:b", []), [Add(text="same id, other namespace")], change_set_id=cs_id)
    store.commit(cs, {c.memory_id: EMB.embed(["x"])[0] for c in cs.changes})
    again = apply(store.get("user:a", []), [Add(text="same id, same namespace")], change_set_id=cs_id)
    with pytest.raises(ConflictError):
        store.commit(again, {c.memory_id: EMB.embed(["x"])[0] for c in again.changes})


def test_sqlite_v2_store_migrates_to_namespace_scoped_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:2]:  # the v2 schema, as deltamem before #19 created it
        con.executescript(migration)
    con.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")
    con.close()
    # fill it through a v2-compatible path: the current code writes the same rows into the same columns
    with Memory(store=SqliteStore(tmp_path / "scratch.db"), embedder=EMB) as scratch:
        expected = history_of_an_old_store(scratch)
        dump = [r for ns in scratch.store.namespaces() for r in scratch.store.dump(ns)]
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("ATTACH DATABASE ? AS scratch", (str(tmp_path / "scratch.db"),))
    for table in ("namespaces", "memories", "change_sets", "history", "meta"):
        if table == "meta":
            con.execute("INSERT INTO meta SELECT * FROM scratch.meta WHERE key = 'embedding_dim'")
        else:
            con.execute(f"INSERT INTO {table} SELECT * FROM scratch.{table}")
    con.execute("INSERT INTO memory_fts (rowid, text) SELECT rowid, text FROM memories WHERE deleted_at IS NULL")
    con.close()
    with Memory(store=SqliteStore(path), embedder=EMB) as m:
        assert [(c.id, c.reverts, c.reverted_by) for c in m.change_sets(namespace="user:a")] == expected
        assert len([r for ns in m.store.namespaces() for r in m.store.dump(ns)]) == len(dump)
        reuse_id_in_another_namespace(m.store, expected[-1][0])
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    con.close()


@pytest.mark.integration
def test_postgres_v2_schema_migrates_to_namespace_scoped_ids(pg_dsn: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    from deltamem.stores.postgres import PostgresStore
    from deltamem.stores.postgres_schema import migrate, open_schema

    with psycopg.connect(pg_dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        open_schema(c, "old")
        migrate(c, "old", target=2)  # the schema before #19
        c.execute("INSERT INTO old.change_sets (id, namespace, created_at, actor, ops, counts)"
                  " VALUES ('legacy', 'user:a', '2024-01-01', 'user', '[]', '{}')")
    with Memory(store=PostgresStore(pg_dsn, schema="old"), embedder=EMB) as m:  # migrates to v3 on open
        expected = history_of_an_old_store(m)
        assert expected[-1][0] == "legacy"  # kept by the migration (the oldest)
        reuse_id_in_another_namespace(m.store, expected[0][0])
