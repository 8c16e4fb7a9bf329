"""PostgresStore beyond the shared contract: concurrency, persistence, migrations, index use and SQLite migration.

Runs against a real PostgreSQL 16 + pgvector 0.6 started by ``pgserver`` (dev dependency); skipped only when
pgserver / psycopg / pgvector are not installed.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deltamem.core import (
    Add,
    ConfigError,
    ConflictError,
    Delete,
    MemoryState,
    NotFoundError,
    StoreError,
    Update,
    apply,
)
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.base import Filters, HistoryRecord, StoredMemory
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.review import PendingChangeSet
from deltamem.stores.sqlite import SqliteStore

pytestmark = pytest.mark.integration
psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg (the 'postgres' extra)")
pytest.importorskip("pgvector", reason="PostgreSQL tests need pgvector (the 'postgres' extra)")
pytest.importorskip("pgserver", reason="PostgreSQL tests need the dev dependency pgserver")

from deltamem.stores.postgres import PostgresStore  # noqa: E402
from deltamem.stores.postgres_schema import SCHEMA_VERSION, migrate, open_schema  # noqa: E402

EMB = HashingEmbedder(dim=64)
NS = "user:pg"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def dsn(pg_dsn: str) -> str:
    return pg_dsn


@pytest.fixture
def store(dsn: str) -> Iterator[PostgresStore]:
    s = PostgresStore(dsn)
    yield s
    s.close()


def commit(store: PostgresStore, ns: str, ops: list[Any], vecs: dict[str, Any] | None = None) -> Any:
    cs = apply(store.get(ns, [o.id for o in ops if isinstance(o, Update | Delete)]), ops)
    store.commit(cs, vecs or {c.memory_id: EMB.embed([c.after.text])[0] for c in cs.changes if c.after})
    return cs


def test_first_commit_fixes_dimension_and_builds_hnsw(store: PostgresStore, dsn: str) -> None:
    assert store.embedding_dim is None
    commit(store, NS, [Add(text="Caroline lives in Boston")])
    assert store.embedding_dim == 64
    with psycopg.connect(dsn) as c:
        typ = c.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid ="
                        " 'deltamem.memories'::regclass AND attname = 'vector'").fetchone()
        idx = c.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'deltamem'"
                        " AND indexname = 'memories_hnsw'").fetchone()
    assert typ == ("vector(64)",)
    assert idx is not None and "hnsw" in idx[0] and "vector_cosine_ops" in idx[0]


def test_reopen_persists_everything(dsn: str) -> None:
    s = PostgresStore(dsn, schema="persist")
    cs = commit(s, NS, [Add(text="Melanie paints landscapes", metadata={"topic": "hobby"})])
    s.queue_put(PendingChangeSet("q1", NS, ({"op": "DELETE", "id": "x"},), "too many deletes", cs.created_at))
    entries, hist, sets = s.list_entries(NS), s.history(NS), s.change_sets(NS)
    s.close()
    again = PostgresStore(dsn, schema="persist")
    assert again.list_entries(NS) == entries and again.history(NS) == hist and again.change_sets(NS) == sets
    assert again.embedding_dim == 64 and again.namespaces() == [NS]
    assert again.queue_get(NS, "q1").reason == "too many deletes"
    hits = again.search(NS, vector=EMB.embed(["paints"])[0], text="paints", k=1)
    assert [h.entry.text for h in hits] == ["Melanie paints landscapes"]
    assert PostgresStore(dsn, schema="other").list_entries(NS) == []  # schemas are separate stores
    again.close()


def test_schema_version_is_migrated_and_checked(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        open_schema(c, "old")
        migrate(c, "old", target=1)  # a v1 store: no review queue yet
        assert c.execute("SELECT to_regclass('old.review_queue')").fetchone() == (None,)
    s = PostgresStore(dsn, schema="old")
    s.queue_put(PendingChangeSet("q1", NS, (), "r", T0))  # v2 table now exists
    s.close()
    with psycopg.connect(dsn, autocommit=True) as c:
        assert c.execute("SELECT value FROM old.meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),)
        c.execute("UPDATE old.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        PostgresStore(dsn, schema="old")


def test_bad_configuration_errors(dsn: str) -> None:
    with pytest.raises(ConfigError, match="schema"):
        PostgresStore(dsn, schema="Robert'); DROP TABLE x;--")
    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStore("postgresql://nobody@/db?host=/nonexistent-socket-dir", connect_timeout_s=2)


def test_connection_lost_is_reported_then_replaced(store: PostgresStore, dsn: str) -> None:
    commit(store, NS, [Add(text="survives reconnects")])
    pid = store.dialect.connection.conn.info.backend_pid
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreError):
        store.count(NS)
    assert store.count(NS) == 1


def test_writer_waits_for_the_namespace_advisory_lock(store: PostgresStore, dsn: str) -> None:
    commit(store, NS, [Add(text="seed")])
    done = threading.Event()
    with psycopg.connect(dsn) as other:  # holds the namespace lock inside an open transaction
        other.execute("SELECT pg_advisory_xact_lock(hashtext('deltamem:deltamem'), hashtext(%s))", (NS,))
        t = threading.Thread(target=lambda: (commit(store, NS, [Add(text="queued")]), done.set()))
        t.start()
        assert not done.wait(0.5), "commit did not wait for the namespace lock"
        elsewhere = PostgresStore(dsn)
        commit(elsewhere, "user:elsewhere", [Add(text="other namespaces are not blocked")])
        elsewhere.close()
        other.commit()
    t.join(10)
    assert done.is_set() and store.count(NS) == 2


def test_concurrent_writers_lose_no_change_set(dsn: str) -> None:
    writers, per_writer = 4, 25
    with Memory(store=PostgresStore(dsn), embedder=EMB) as m:
        shared = m.add("The team lead is nobody yet", namespace=NS).changes[0].memory_id

    def work(w: int) -> None:
        with Memory(store=PostgresStore(dsn), embedder=EMB) as mem:
            for i in range(per_writer):
                ops = [Update(id=shared, text=f"The team lead is writer {w} step {i}"), Add(text=f"note {w}.{i}")]
                while True:  # Memory.apply retries itself (test_pg_contention: it never gives up here)
                    try:
                        mem.apply(ops, namespace=NS)
                        break
                    except ConflictError:
                        continue

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with Memory(store=PostgresStore(dsn), embedder=EMB) as m:
        sets = m.change_sets(namespace=NS)
        assert len(sets) == 1 + writers * per_writer
        chain = m.history(shared, namespace=NS)
        assert len(chain) == 1 + writers * per_writer
        for prev, nxt in itertools.pairwise(chain):  # one unbroken chain: no update was lost
            assert nxt.before == prev.after
        notes = {e.text for e in m.get_all(namespace=NS)} - {chain[-1].after.text}  # type: ignore[union-attr]
        assert notes == {f"note {w}.{i}" for w in range(writers) for i in range(per_writer)}


def test_hnsw_results_match_exact_search_and_small_namespaces_fall_back(store: PostgresStore) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((400, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    big = apply(MemoryState("user:big"), [Add(text=f"fact {i}") for i in range(400)])
    store.commit(big, {c.memory_id: vecs[i] for i, c in enumerate(big.changes)})
    small = apply(MemoryState("user:small"), [Add(text=f"small {i}") for i in range(5)])
    store.commit(small, {c.memory_id: vecs[i] for i, c in enumerate(small.changes)})
    ids = [c.memory_id for c in big.changes]
    for q in rng.standard_normal((10, 64)).astype(np.float32):
        q /= np.linalg.norm(q)
        exact = [ids[i] for i in np.argsort(-(vecs @ q))[:10]]
        hits = store.search("user:big", vector=q, mode="vector", k=10)
        assert [h.entry.id for h in hits] == exact
        assert abs(hits[0].score - float(np.max(vecs @ q))) < 1e-5
        got = store.search("user:small", vector=q, mode="vector", k=10)  # the index's candidates are mostly big's
        assert len(got) == 5 and {h.entry.namespace for h in got} == {"user:small"}


def test_metadata_filters_follow_python_equality(store: PostgresStore) -> None:
    mds = [{"flag": True}, {"flag": 1}, {"flag": 1.0}, {"flag": False}, {"flag": 0}, {"flag": None}, {},
           {"flag": "1"}, {"flag": [1]}, {"flag": 2.5}]
    commit(store, NS, [Add(text=f"row {i}", metadata=md) for i, md in enumerate(mds)])
    entries = store.list_entries(NS)
    for value in (True, False, 1, 0, 1.0, None, "1", 2.5, float("nan")):
        f = Filters(metadata={"flag": value})
        expected = [e.text for e in entries if f.matches(e)]
        assert [e.text for e in store.list_entries(NS, filters=f)] == expected, value
        hits = store.search(NS, vector=EMB.embed(["row"])[0], text="row", mode="vector", k=20, filters=f)
        assert sorted(h.entry.text for h in hits) == sorted(expected), value
    with pytest.raises(ConfigError):
        store.list_entries(NS, filters=Filters(metadata={"flag": [1]}))


KEYWORD_FACTS = [
    "Caroline lives in Boston", "Caroline works as a nurse at Mass General", "Jon's dogs love the beach",
    "Melanie paints landscapes on weekends", "Melanie's daughter starts school in September",
    "Gina is running a marathon in October", "The running club meets on Tuesdays", "Priya moved to Lisbon",
]


@pytest.mark.parametrize("query", ["Caroline", "dog", "painting landscape", "runs", "where does Melanie live",
                                   "school daughter", "Lisbon move", "beach dogs loved", "nothing matches here"])
def test_keyword_matches_the_same_rows_as_sqlite(store: PostgresStore, tmp_path: Path, query: str) -> None:
    lite = SqliteStore(tmp_path / "kw.db")
    cs = apply(MemoryState(NS), [Add(text=t) for t in KEYWORD_FACTS])
    vecs = {c.memory_id: EMB.embed([c.after.text])[0] for c in cs.changes if c.after}
    lite.commit(cs, vecs)
    store.commit(cs, vecs)
    got = {h.entry.text for h in store.search(NS, text=query, mode="keyword", k=20)}
    assert got == {h.entry.text for h in lite.search(NS, text=query, mode="keyword", k=20)}
    lite.close()


def test_review_queue_and_purge(store: PostgresStore) -> None:
    item = PendingChangeSet("q1", NS, ({"op": "DELETE", "id": "m1"},), "deletes 60% of memories", T0)
    store.queue_put(item)
    store.queue_put(PendingChangeSet("q2", "user:other", (), "r", T0))
    assert store.queue_list(NS) == [item] and store.queue_list("user:other", status="approved") == []
    store.queue_update(PendingChangeSet("q1", NS, (), "edited", T0, status="rejected"))
    assert store.queue_list(NS) == [] and store.queue_get(NS, "q1").reason == "edited"
    with pytest.raises(NotFoundError):
        store.queue_get("user:other", "q1")
    commit(store, NS, [Add(text="x")])
    assert store.purge(NS) == 4  # memory, history row, change set, queued item
    assert store.queue_list(NS, status=None) == [] and len(store.queue_list("user:other")) == 1


def test_sqlite_to_postgres_migration_via_export_import(dsn: str, tmp_path: Path) -> None:
    with Memory(store=SqliteStore(tmp_path / "src.db"), embedder=EMB) as src:
        a = src.add(["Caroline lives in Boston", "Caroline has a dog named Rex"], namespace=NS, session_id="s1")
        boston, rex = (c.memory_id for c in a.changes)
        src.apply([Update(id=boston, text="Caroline moved to Seattle")], namespace=NS, session_id="s2")
        wrong = src.apply([Delete(id=rex)], namespace=NS)
        src.revert(wrong.id, namespace=NS)
        src.add("Gina runs marathons", namespace="user:gina", metadata={"topic": "sport", "ok": True})
        buf = io.StringIO()
        n = src.export(buf, all_namespaces=True)
        before = {ns: _snapshot(src, ns) for ns in ("user:pg", "user:gina")}
    buf.seek(0)
    with Memory(store=PostgresStore(dsn), embedder=EMB) as dst:
        assert dst.import_(buf) == n
        for ns, snap in before.items():
            assert _snapshot(dst, ns) == snap
        assert dst.store.namespaces() == ["user:gina", "user:pg"]
        assert dst.change_sets(namespace=NS)[1].reverted_by == dst.change_sets(namespace=NS)[0].id


def _snapshot(m: Memory, ns: str) -> dict[str, Any]:
    def hist(h: HistoryRecord) -> tuple[Any, ...]:  # seq is renumbered on import, the order is kept
        return (h.change_set_id, h.memory_id, h.kind, h.before, h.after, h.session_id, h.actor, h.created_at)

    dumped = [r for r in m.store.dump(ns) if isinstance(r, StoredMemory)]
    q = "Caroline Seattle dog"
    return {
        "state": m.get_all(namespace=ns), "history": [hist(h) for h in m.history(namespace=ns)],
        "change_sets": m.change_sets(namespace=ns),
        "rows": [(r.entry, r.deleted_at, np.asarray(r.vector).tobytes()) for r in dumped],
        "vector_search": [h.entry.id for h in m.store.search(ns, vector=EMB.embed([q])[0], mode="vector", k=5)],
    }


def test_same_answers_as_the_reference_store(store: PostgresStore) -> None:
    ref = InMemoryStore()
    cs = apply(MemoryState(NS), [Add(text=t) for t in KEYWORD_FACTS])
    vecs = {c.memory_id: EMB.embed([c.after.text])[0] for c in cs.changes if c.after}
    ref.commit(cs, vecs)
    store.commit(cs, vecs)
    for q in ("Melanie", "running marathon", "nurse Boston"):
        v = EMB.embed([q])[0]
        assert ([h.entry.id for h in store.search(NS, vector=v, mode="vector", k=4)]
                == [h.entry.id for h in ref.search(NS, vector=v, mode="vector", k=4)])


def test_bulk_load_rebuilds_the_index_and_analyzes(store: PostgresStore, dsn: str) -> None:
    commit(store, "user:first", [Add(text="already here")])  # fixes the dimension: 64
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((6000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cs = apply(MemoryState(NS), [Add(text=f"fact number {i}") for i in range(6000)])
    assert store.load([StoredMemory(c.after, vecs[i]) for i, c in enumerate(cs.changes) if c.after]) == 6000
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'memories_hnsw'").fetchone() == (1,)
        assert c.execute("SELECT reltuples FROM pg_class WHERE oid = 'deltamem.memories'::regclass").fetchone()[
            0] >= 6000  # type: ignore[index]
    assert store.count(NS) == 6000 and store.count("user:first") == 1
    ids = [c.memory_id for c in cs.changes]
    queries = rng.standard_normal((20, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    wide = PostgresStore(dsn, hnsw_ef_search=400)
    for s, floor in ((store, 0.8), (wide, 0.98)):  # HNSW is approximate; a longer candidate list finds more
        recall = [len({ids[i] for i in np.argsort(-(vecs @ q))[:10]}
                      & {h.entry.id for h in s.search(NS, vector=q, mode="vector", k=10)}) / 10 for q in queries]
        assert np.mean(recall) >= floor
    wide.close()
