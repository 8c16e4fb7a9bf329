"""Worker processes for the crash-safety and concurrency tests of the SQLite store.

Run as a script (``python helpers_procs.py writer|worker ...``) so that the parent can SIGKILL a real, separate
process that holds its own SQLite connection. Both workers print ``ready`` once the store is open, so the parent
times kills and start signals from the moment real work begins, not from interpreter start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from deltamem.core import Add, ChangeSet, ConflictError, Delete, MemoryEntry, Operation, Update
from deltamem.embed.base import Vectors
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.sqlite import SqliteStore

CRASH_NS = "crash"
SHARED_NS = "shared"
EMBED_DIM = 64
OPS_PER_CHANGE_SET = 300


def token(kind: str, round_no: int, step: int, n: int) -> str:
    """A word unique to one written text, so keyword search can find (or must not find) exactly that text."""
    return f"{kind}{round_no}x{step}x{n}"


class CountingSqliteStore(SqliteStore):
    """A SqliteStore that counts the commits refused with ConflictError (the facade then retries)."""

    conflicts = 0

    def commit(self, change_set: ChangeSet, vectors: Mapping[str, Vectors]) -> None:
        try:
            super().commit(change_set, vectors)
        except ConflictError:
            self.conflicts += 1
            raise


def crash_writer(db: Path, side: Path, round_no: int, seed: int) -> None:
    """Commit 300-op change sets (Add / Update / Delete of its own memories) until killed.

    After each commit returns, the change-set id is appended to ``side`` and fsynced, so the side file lists only
    change sets whose commit had returned; at most one committed change set per kill is missing from it.
    """
    rng = random.Random(seed)
    memory = Memory(store=SqliteStore(db), embedder=HashingEmbedder(dim=EMBED_DIM))
    # The previous round may have committed one change set it never recorded: read the live ids from the store.
    live = [e.id for e in memory.store.list_entries(CRASH_NS)]
    fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    print("ready", flush=True)
    step = 0
    while True:
        rng.shuffle(live)
        n_upd = min(100, len(live) // 2)
        n_del = min(len(live) - n_upd, 120 if len(live) > 1200 else 60)
        n_add = OPS_PER_CHANGE_SET - n_upd - n_del
        ops: list[Operation] = [
            Update(id=mid, text=f"Update {token('u', round_no, step, j)}: Caroline moved to Lisbon in May")
            for j, mid in enumerate(live[:n_upd])
        ]
        ops += [Delete(id=mid, reason="no longer true") for mid in live[n_upd:n_upd + n_del]]
        ops += [Add(text=f"Fact {token('a', round_no, step, j)}: Melanie adopted a cat named Miso")
                for j in range(n_add)]
        rng.shuffle(ops)
        cs = memory.apply(ops, namespace=CRASH_NS, session_id=f"round-{round_no}")
        os.write(fd, f"{round_no} {cs.id}\n".encode())
        os.fsync(fd)
        gone = {op.id for op in ops if isinstance(op, Delete)}
        live = [mid for mid in live if mid not in gone]
        live += [c.memory_id for c in cs.changes if c.kind == "ADD"]
        step += 1


def concurrency_worker(db: Path, worker: int, n: int, shared_id: str, go: Path, out: Path, seed: int) -> None:
    """Commit ``n`` change sets: mostly 1-3 adds plus maybe an update / delete of its own earlier memories in its own
    namespace; about one in four is instead an update of the one memory that every worker fights over."""
    rng = random.Random(seed)
    store = CountingSqliteStore(db)
    memory = Memory(store=store, embedder=HashingEmbedder(dim=EMBED_DIM))
    ns = f"worker-{worker}"
    print("ready", flush=True)
    while not go.exists():  # start together so that the workers really overlap
        time.sleep(0.005)
    started = time.perf_counter()
    committed: list[list[str]] = []
    shared_updates = 0
    mine: list[str] = []
    stale_searches = 0
    query = HashingEmbedder(dim=EMBED_DIM).embed(["Jon plays chess"])[0]
    for step in range(n):
        if rng.random() < 0.25:
            cs = memory.apply([Update(id=shared_id, text=f"The team lead is worker {worker} as of step {step}")],
                              namespace=SHARED_NS, session_id=f"w{worker}")
            shared_updates += 1
        else:
            ops: list[Operation] = [Add(text=f"Worker {worker} fact {step}.{j}: Jon plays chess on Sundays")
                                    for j in range(rng.randint(1, 3))]
            picks = rng.sample(mine, k=min(len(mine), 2))
            if picks and rng.random() < 0.3:
                ops.append(Update(id=picks[0], text=f"Worker {worker} revised fact at step {step}: Jon plays go"))
            if len(picks) > 1 and rng.random() < 0.2:
                ops.append(Delete(id=picks[1]))
                mine.remove(picks[1])
            cs = memory.apply(ops, namespace=ns, session_id=f"w{worker}")
            mine += [c.memory_id for c in cs.changes if c.kind == "ADD"]
        committed.append([cs.namespace, cs.id])
        if step % 10 == 9:  # the vector cache must follow this worker's writes amid everyone else's history rows
            hits = store.search(ns, vector=query, mode="vector", k=len(mine) + 10)
            stale_searches += {h.entry.id for h in hits} != set(mine)
    result = {"worker": worker, "committed": committed, "conflicts": store.conflicts, "stale": stale_searches,
              "shared_updates": shared_updates, "elapsed_s": time.perf_counter() - started}
    tmp = out.with_suffix(".part")
    tmp.write_text(json.dumps(result))
    tmp.replace(out)
    memory.close()


# -- checks shared by the tests (run in the parent on the reopened store) ---------------------------------------------
def replay(store: SqliteStore, namespace: str) -> dict[str, MemoryEntry]:
    """The live state by folding the namespace's history in seq order (ADD / UPDATE set ``after``, DELETE removes)."""
    state: dict[str, MemoryEntry] = {}
    last_seq = 0
    for h in store.history(namespace):
        assert h.seq > last_seq, "history is not in seq order"
        last_seq = h.seq
        if h.kind == "DELETE":
            assert h.memory_id in state, f"DELETE of {h.memory_id} which was not live"
            assert state.pop(h.memory_id) == h.before
        else:
            assert (h.kind == "ADD") == (h.memory_id not in state), f"{h.kind} of {h.memory_id} out of order"
            if h.kind == "UPDATE":
                assert state[h.memory_id] == h.before, f"UPDATE of {h.memory_id} does not follow its last version"
            assert h.after is not None
            state[h.memory_id] = h.after
    return state


def history_rows_per_change_set(db: Path) -> dict[str, int]:
    """Number of history rows of every change-set id found in the history table (raw SQL, all namespaces)."""
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT change_set_id, count(*) FROM history GROUP BY change_set_id").fetchall())
    finally:
        con.close()


def fts_and_live_rows(db: Path) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """(rowid, text) of the FTS table and of the live memories: they must be the same set."""
    con = sqlite3.connect(db)
    try:
        fts = set(con.execute("SELECT rowid, text FROM memory_fts").fetchall())
        live = set(con.execute("SELECT rowid, text FROM memories WHERE deleted_at IS NULL").fetchall())
        return fts, live
    finally:
        con.close()


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("writer")
    w.add_argument("--db", type=Path, required=True)
    w.add_argument("--side", type=Path, required=True)
    w.add_argument("--round", type=int, required=True)
    w.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("worker")
    c.add_argument("--db", type=Path, required=True)
    c.add_argument("--worker", type=int, required=True)
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--shared-id", required=True)
    c.add_argument("--go", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.cmd == "writer":
        crash_writer(a.db, a.side, a.round, a.seed)
    else:
        concurrency_worker(a.db, a.worker, a.n, a.shared_id, a.go, a.out, a.seed)


if __name__ == "__main__":
    main(sys.argv[1:])
