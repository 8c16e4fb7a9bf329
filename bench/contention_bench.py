"""Writers racing on one memory: failed writes, throughput and latency on SQLite and PostgreSQL (issue #19, finding 6).

Workloads (``--writers`` threads, ``--updates`` writes each, started together):

- ``hot``: every writer updates the same memory through the Python API (one ``Memory`` and store per writer, so on
  PostgreSQL one connection each), hashing embedder;
- ``hot-slow``: the same with an embedder that takes 5 ms per call (about MiniLM on one core), which widens the
  window between a writer's read and its commit;
- ``spread-slow``: each writer updates its own memory of the same namespace (no real conflict), 5 ms embedder: what
  serialising every write of a namespace would cost;
- ``rest-hot``: ``hot`` through the REST server (``tests/load/load_harness.py``: one ``deltamem serve`` process,
  its request threads sharing one store), 8 ``httpx`` clients calling ``PUT /v1/memories/{id}``, rate limit off;
  a failed write is a 409 answer (not retried).

Variants: ``shipped`` is the facade of the code this runs with (run it under an older checkout's ``src`` for the
figures before a change: ``PYTHONPATH=/tmp/head/src python bench/contention_bench.py --variants shipped``; the
table says which: "8 immediate tries" before ``deltamem.stores.retry``, "backoff, then lock" with it). Where
``deltamem.stores.retry`` exists, also ``backoff`` (the store's namespace lock hidden, so a retry only pauses) and
``lock-always`` (PostgreSQL: every write inside ``PostgresStore.exclusive``). ``--render`` rewrites a table from the
runs a ``--json`` file saved.

Every run checks the history: the memory's updates form one unbroken chain (each ``before`` is the previous
``after``) and number exactly the acknowledged writes, so a figure never hides a lost or duplicated write.
Output: one JSON line per run; the table (median over ``--repeats`` of ops/s and p95, failures summed) replaces the
section ``--section`` of ``--out`` (docs/results/load_fault.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_bench import write_section  # also puts tests/load on sys.path
from load_harness import ServerProcess, ServerSpec, create_keys_admin

from deltamem.core import ConflictError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory

NS = "user:hot"
DIM = 64


class SlowEmbedder(HashingEmbedder):
    """The hashing embedder plus a fixed cost per call (sleeps, so other threads run meanwhile, as ONNX does)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(dim=DIM)
        self.delay_s = delay_s

    def embed(self, texts: Any) -> np.ndarray:  # type: ignore[override]
        time.sleep(self.delay_s)
        return super().embed(texts)


class WithoutLock:
    """A store with its namespace lock hidden, so the facade falls back to the jittered backoff alone."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name == "exclusive":
            raise AttributeError(name)
        return getattr(self._store, name)


def has_retry_module() -> bool:
    try:
        import deltamem.stores.retry  # noqa: F401
    except ImportError:
        return False
    return True


def shipped_label() -> str:
    """What ``shipped`` means for the code this runs with."""
    return "shipped: backoff, then lock" if has_retry_module() else "shipped: 8 immediate tries"


def open_store(kind: str, where: str) -> Any:
    if kind == "sqlite":
        from deltamem.stores.sqlite import SqliteStore

        return SqliteStore(where)
    from deltamem.stores.postgres import PostgresStore

    return PostgresStore(where)


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def chain_check(history: list[Any], acked: int, first_kind: str = "ADD") -> str:
    """'ok' when the memory's history is one unbroken chain of exactly ``acked`` updates after its ADD."""
    kinds = [h.kind for h in history]
    if kinds != [first_kind] + ["UPDATE"] * acked:
        return f"BAD: {kinds.count('UPDATE')} updates recorded, {acked} acknowledged"
    if any(b.before != a.after for a, b in itertools.pairwise(history)):
        return "BAD: broken chain"
    return "ok"


def run_api(store_kind: str, where: str, workload: str, variant: str, writers: int, updates: int) -> dict[str, Any]:
    """One run of a Python-API workload; the summary."""
    emb = HashingEmbedder(dim=DIM) if workload == "hot" else SlowEmbedder(0.005)
    with Memory(store=open_store(store_kind, where), embedder=HashingEmbedder(dim=DIM)) as seed:
        n_targets = 1 if workload.startswith("hot") else writers
        cs = seed.add([f"memory {i} version 0" for i in range(n_targets)], namespace=NS)
        targets = [c.memory_id for c in cs.changes]
    mems = []
    for _ in range(writers):
        store = open_store(store_kind, where)
        mems.append(Memory(store=WithoutLock(store) if variant == "backoff" else store, embedder=emb))
    latencies: list[float] = []
    failed = [0]
    guard = threading.Lock()
    start = threading.Barrier(writers)

    def held(m: Memory) -> AbstractContextManager[None]:
        if variant == "lock-always":
            lock: AbstractContextManager[None] = m.store.exclusive(NS)  # type: ignore[attr-defined]
            return lock
        return nullcontext()

    def work(w: int) -> None:
        target = targets[0] if len(targets) == 1 else targets[w]
        start.wait()
        for i in range(updates):
            t = time.perf_counter()
            try:
                with held(mems[w]):
                    mems[w].update(target, f"memory written by {w} step {i}", namespace=NS)
            except ConflictError:
                with guard:
                    failed[0] += 1
                continue
            with guard:
                latencies.append(time.perf_counter() - t)

    wall = run_writers(work, writers)
    for m in mems:
        m.close()
    with Memory(store=open_store(store_kind, where), embedder=HashingEmbedder(dim=DIM)) as check:
        per_target = [check.history(mid, namespace=NS) for mid in targets]
    acked = len(latencies)
    checks = {chain_check(h, sum(1 for r in h if r.kind == "UPDATE")) for h in per_target}
    recorded = sum(sum(1 for r in h if r.kind == "UPDATE") for h in per_target)
    check = "ok" if checks == {"ok"} and recorded == acked else f"BAD: {checks}, {recorded} recorded / {acked}"
    return summary(store_kind, workload, variant, writers * updates, failed[0], wall, latencies, check)


def run_writers(work: Callable[[int], None], writers: int) -> float:
    """Run ``work(0) .. work(writers - 1)`` in as many threads at once; the wall time in seconds."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def run_rest(store_kind: str, where: str, variant: str, writers: int, updates: int, tmp: Path) -> dict[str, Any]:
    """``hot`` through the REST server: 409 answers are the failed writes."""
    spec = ServerSpec(tmp / f"rest-{uuid.uuid4().hex[:6]}", store=store_kind,
                      dsn=where if store_kind == "postgres" else None, rate_per_s=0)
    with ServerProcess(spec) as server:
        server.wait_ready()
        keys = create_keys_admin(server.base_url, writers, tenant=f"hot{uuid.uuid4().hex[:8]}")
        params = {"user_id": "hot"}
        first = httpx.post(f"{server.base_url}/v1/memories", json={"facts": ["memory 0 version 0"]}, params=params,
                           headers={"Authorization": f"Bearer {keys[0]}"}, timeout=60)
        target = first.json()["changes"][0]["memory_id"]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        guard = threading.Lock()
        start = threading.Barrier(writers)

        def work(w: int) -> None:
            with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {keys[w]}"},
                              timeout=60) as c:
                start.wait()
                for i in range(updates):
                    t = time.perf_counter()
                    r = c.put(f"/v1/memories/{target}", params=params, json={"text": f"written by {w} step {i}"})
                    with guard:
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        if r.status_code == 200:
                            latencies.append(time.perf_counter() - t)

        wall = run_writers(work, writers)
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {keys[0]}"}, timeout=60) as c:
            hist = c.get("/v1/history", params={**params, "memory_id": target}).json()["items"]
    updates_seen = [h for h in hist if h["kind"] == "UPDATE"]
    chained = all(b["before"] == a["after"] for a, b in itertools.pairwise(hist))
    check = "ok" if chained and len(updates_seen) == len(latencies) else (
        f"BAD: {len(updates_seen)} recorded / {len(latencies)} acknowledged, chain {chained}")
    out = summary(store_kind, "rest-hot", variant, writers * updates, writers * updates - len(latencies), wall,
                  latencies, check)
    out["statuses"] = dict(sorted(statuses.items()))
    return out


def summary(store: str, workload: str, variant: str, writes: int, failed: int, wall: float,
            latencies: list[float], check: str) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies]
    return {"store": store, "workload": workload, "variant": variant, "writes": writes, "failed": failed,
            "failed_pct": round(100 * failed / writes, 1), "wall_s": round(wall, 2),
            "ok_per_s": round((writes - failed) / wall, 1), "p50_ms": round(percentile(ms, 50), 1),
            "p95_ms": round(percentile(ms, 95), 1), "history": check}


@contextmanager
def postgres(dsn: str | None, tmp: Path) -> Iterator[Callable[[], str]]:
    """A function that gives a fresh database per run (on ``dsn``'s server, or a pgserver started here)."""
    import psycopg

    with ExitStack() as stack:
        if dsn is None:
            import pgserver

            pg = pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]
            stack.callback(pg.cleanup)
            base, make_uri = pg.get_uri(), lambda name: pg.get_uri(database=name)
        else:
            base, make_uri = dsn, lambda name: dsn.rsplit("/", 1)[0] + "/" + name

        def fresh() -> str:
            name = "hot_" + uuid.uuid4().hex[:8]
            with psycopg.connect(base, autocommit=True) as c:
                c.execute(f"CREATE DATABASE {name}")
            return str(make_uri(name))

        yield fresh


def table(rows: list[dict[str, Any]], command: str, meta: dict[str, Any], section: str) -> str:
    """The markdown section (medians over the repeats; failures summed)."""
    start, end = f"<!-- load_bench:{section}:start -->", f"<!-- load_bench:{section}:end -->"
    lines = [start, "", f"Command: `{command}`", "",
             f"Run {meta['date']} on {meta['machine']}, {meta['repeats']} repeat(s) per row (medians; failed writes "
             f"summed over the repeats); 1-minute load average {meta['load']} before / after.", "",
             "| workload | store | variant | writes | failed | ops/s | p50 ms | p95 ms | history |",
             "|---|---|---|---|---|---|---|---|---|"]
    keyed: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        variant = meta["shipped"] if r["variant"] == "shipped" else r["variant"]
        keyed.setdefault((r["workload"], r["store"], variant), []).append(r)
    for (workload, store, variant), rs in keyed.items():
        writes, failed = sum(r["writes"] for r in rs), sum(r["failed"] for r in rs)
        med = {k: statistics.median(r[k] for r in rs) for k in ("ok_per_s", "p50_ms", "p95_ms")}
        hist = "ok" if all(r["history"] == "ok" for r in rs) else "; ".join(r["history"] for r in rs)
        lines.append(f"| {workload} | {store} | {variant} | {writes} | {failed} ({100 * failed / writes:.1f} %) | "
                     f"{med['ok_per_s']:.0f} | {med['p50_ms']:.0f} | {med['p95_ms']:.0f} | {hist} |")
    lines += ["", end]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", default="hot,hot-slow,spread-slow,rest-hot")
    p.add_argument("--stores", default="sqlite,postgres")
    p.add_argument("--variants", default="shipped,backoff,lock-always",
                   help="shipped, backoff, lock-always (the last two need deltamem.stores.retry)")
    p.add_argument("--writers", type=int, default=8)
    p.add_argument("--updates", type=int, default=50, help="writes per writer")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dsn", help="an existing PostgreSQL with pgvector (default: start one with pgserver)")
    p.add_argument("--out", type=Path, default=Path("docs/results/load_fault.md"))
    p.add_argument("--section", default="contention")
    p.add_argument("--json", type=Path, help="also write every run here")
    p.add_argument("--render", type=Path, help="only write the table of runs saved earlier with --json")
    a = p.parse_args()
    if a.render:
        saved = json.loads(a.render.read_text())
        write_section(a.out, a.section, table(saved["runs"], saved["command"], saved, a.section))
        print(f"wrote {a.out}")
        return
    command = "python bench/contention_bench.py " + " ".join(sys.argv[1:])
    variants = [v for v in a.variants.split(",") if v == "shipped" or has_retry_module()]
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="deltamem-hot-") as d:
        tmp = Path(d)
        with postgres(a.dsn, tmp) as fresh_db:
            for workload, store, variant, rep in itertools.product(
                    a.workloads.split(","), a.stores.split(","), variants, range(a.repeats)):
                if variant == "lock-always" and store != "postgres":
                    continue  # only PostgreSQL has the namespace lock
                if workload == "rest-hot" and variant != "shipped":
                    continue  # the server builds its own Memory
                where = fresh_db() if store == "postgres" else str(tmp / f"{uuid.uuid4().hex[:8]}.db")
                if workload == "rest-hot":
                    r = run_rest(store, where, variant, a.writers, a.updates, tmp)
                else:
                    r = run_api(store, where, workload, variant, a.writers, a.updates)
                r["repeat"] = rep
                print(json.dumps(r), flush=True)
                rows.append(r)
    meta = {"date": dt.date.today().isoformat(), "repeats": a.repeats, "shipped": shipped_label(),
            "machine": f"{os.cpu_count()} CPU cores, Python {platform.python_version()}",
            "load": f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"}
    write_section(a.out, a.section, table(rows, command, meta, a.section))
    if a.json:
        a.json.write_text(json.dumps({"command": command, **meta, "runs": rows}, indent=2) + "\n")
    print(f"wrote {a.out}" + (f" and {a.json}" if a.json else ""))


if __name__ == "__main__":
    main()
