"""Four processes write 200 change sets each into one SQLite file, fighting over one shared memory.

Every change set must be committed exactly once (no error surfaces, "database is locked" included), the history of
each namespace must replay to its live state, and the shared memory's history must be one unbroken chain of
updates: concurrent writers are serialised by the store's conflict check and the facade's retries, never lost.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers_procs import EMBED_DIM, SHARED_NS, fts_and_live_rows, history_rows_per_change_set, replay

from deltamem.core import Add, Delete, MemoryState, Update, apply
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.sqlite import SqliteStore

HELPER = Path(__file__).with_name("helpers_procs.py")
WORKERS = 4
PER_WORKER = 200


@pytest.mark.timeout(240)
def test_four_processes_lose_nothing(tmp_path: Path) -> None:
    db, go = tmp_path / "shared.db", tmp_path / "go"
    with Memory(store=SqliteStore(db), embedder=HashingEmbedder(dim=EMBED_DIM)) as m:
        seed_cs = m.add("The team lead is nobody yet", namespace=SHARED_NS)
    shared_id = seed_cs.changes[0].memory_id

    procs = [
        subprocess.Popen(
            [sys.executable, str(HELPER), "worker", "--db", str(db), "--worker", str(w), "--n", str(PER_WORKER),
             "--shared-id", shared_id, "--go", str(go), "--out", str(tmp_path / f"w{w}.json"), "--seed", str(w)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for w in range(WORKERS)
    ]
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.strip() == "ready", p.communicate()[1]
    started = time.perf_counter()
    go.touch()
    outcomes = [p.communicate(timeout=200) for p in procs]
    wall = time.perf_counter() - started
    for p, (_, err) in zip(procs, outcomes, strict=True):
        assert "locked" not in err.lower()
        assert p.returncode == 0, err
    results = [json.loads((tmp_path / f"w{w}.json").read_text()) for w in range(WORKERS)]

    by_ns: dict[str, set[str]] = {}
    for r in results:
        assert len(r["committed"]) == PER_WORKER
        for ns, cs_id in r["committed"]:
            by_ns.setdefault(ns, set()).add(cs_id)
    assert sum(len(ids) for ids in by_ns.values()) == WORKERS * PER_WORKER  # ids are unique across workers
    shared_updates = sum(r["shared_updates"] for r in results)
    conflicts = sum(r["conflicts"] for r in results)
    assert [r["stale"] for r in results] == [0] * WORKERS, "a worker's vector search missed its own writes"
    print(f"\n{WORKERS}x{PER_WORKER} change sets in {wall:.1f} s; {shared_updates} shared updates, "
          f"{conflicts} commits refused with ConflictError and retried")
    assert conflicts > 0, "the workers never collided on the shared memory: the retry path went untested"

    store = SqliteStore(db)
    try:
        rows = history_rows_per_change_set(db)
        for ns, ids in by_ns.items():
            recs = {r.id: r for r in store.change_sets(ns)}
            expected = ids | ({seed_cs.id} if ns == SHARED_NS else set())
            assert set(recs) == expected, f"{ns}: change sets lost or duplicated"
            for cs_id, rec in recs.items():
                assert rows[cs_id] == sum(rec.counts.values()) > 0
            live = {e.id: e for e in store.list_entries(ns)}
            assert replay(store, ns) == live
        fts, live_rows = fts_and_live_rows(db)
        assert fts == live_rows

        chain = store.history(SHARED_NS, memory_id=shared_id)
        assert [h.kind for h in chain] == ["ADD"] + ["UPDATE"] * shared_updates
        for prev, cur in itertools.pairwise(chain):
            assert cur.before == prev.after, f"update {cur.change_set_id} overwrote a version it never saw"
        assert store.get(SHARED_NS, [shared_id])[shared_id] == chain[-1].after
        assert len({h.after.text for h in chain[1:] if h.after is not None}) == shared_updates
    finally:
        store.close()


# -- write-lock hold time -------------------------------------------------------------------------------------------
def _grow(store: SqliteStore, n: int, emb: HashingEmbedder) -> None:
    for start in range(0, n, 100):
        cs = apply(MemoryState("ns"), [Add(text=f"Fact {start + j}: Caroline lives in Boston") for j in range(100)])
        vecs = emb.embed([c.after.text for c in cs.changes if c.after is not None])
        store.commit(cs, {c.memory_id: vecs[i] for i, c in enumerate(cs.changes)})


def _vm_steps(store: SqliteStore, fn: Callable[[], object]) -> int:
    """SQLite virtual-machine instructions executed by ``fn`` on the store's connection (deterministic work count)."""
    ticks = 0

    def tick() -> int:
        nonlocal ticks
        ticks += 1
        return 0

    store.dialect.conn.set_progress_handler(tick, 10)  # the store's own connection: that is where the work happens
    try:
        fn()
    finally:
        store.dialect.conn.set_progress_handler(None, 0)
    return ticks * 10


def test_point_reads_and_commits_do_not_scan_the_namespace(tmp_path: Path) -> None:
    """get, commit (its check_live runs under the write lock, blocking every other writer) and the first search after
    a write must cost the same on 300 and on 3000 memories: they touch 10 ids, not the whole namespace."""
    emb = HashingEmbedder(dim=EMBED_DIM)
    costs = []
    for size in (300, 3000):
        store = SqliteStore(tmp_path / f"s{size}.db")
        _grow(store, size, emb)
        ids = [e.id for e in store.list_entries("ns", limit=10)]
        query = emb.embed(["Caroline Boston"])[0]
        store.search("ns", vector=query, mode="vector")  # load the vector cache
        cs = apply(store.get("ns", ids), [Update(id=ids[0], text="Caroline moved to Lisbon"), Delete(id=ids[1]),
                                          *(Add(text=f"New fact {j}") for j in range(5))])
        vecs = {c.memory_id: emb.embed([c.after.text])[0] for c in cs.changes if c.after is not None}
        costs.append((_vm_steps(store, lambda: store.get("ns", ids)),  # noqa: B023 - called at once
                      _vm_steps(store, lambda: store.commit(cs, vecs)),  # noqa: B023
                      _vm_steps(store, lambda: store.search("ns", vector=query, mode="vector"))))  # noqa: B023
        store.close()
    small, large = costs
    for name, a, b in zip(("get", "commit", "search after write"), small, large, strict=True):
        assert b < 2 * a, f"{name}: {a} SQLite steps at 300 memories but {b} at 3000"
