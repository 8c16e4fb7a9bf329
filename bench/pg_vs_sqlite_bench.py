"""PostgreSQL + pgvector vs SQLite: search latency at 10k and 100k memories, both stores in one run.

One namespace in each store is grown through the requested sizes with ``ArchiveStore.load`` of the same
StoredMemory records (one transaction per step; PostgresStore COPYs them and rebuilds its HNSW index). At each size,
vector / keyword / hybrid search (k=10) is timed on the same pre-embedded queries for both stores, plus a vector
search with a metadata filter (PostgresStore answers it exactly, without the index). Vectors are random 384-d unit
vectors (the real embedder's dimension); texts are synthetic fact sentences from ``store_bench``; keyword queries
are 2-6 words including a name. Also reported: HNSW recall@10 against SQLite's exact cosine search (with the
default candidate-list floor 40 and with 200) and the overlap of the two keyword top-10s (ts_rank vs BM25).

PostgreSQL is started with ``pgserver`` (PostgreSQL 16 + pgvector 0.6.2) in a temporary directory, on a Unix socket,
with its default settings, unless ``--dsn`` names another server.

Run: ``python bench/pg_vs_sqlite_bench.py [--sizes 10000,100000] [--queries 200] [--out docs/results]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from store_bench import fact, pct, query_text, unit_vectors, wait_for_quiet

from deltamem.core import MemoryEntry
from deltamem.stores.base import ArchiveStore, Filters, SearchMode, StoredMemory
from deltamem.stores.postgres import PostgresStore
from deltamem.stores.sqlite import SqliteStore

NS = "user:bench"
K = 10
MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
FILTER = Filters(metadata={"topic": "pets"})


def records(n: int, seed: int = 1) -> list[StoredMemory]:
    """``n`` memories with random unit vectors, timestamps over four years and a topic in metadata."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    vecs = unit_vectors(nrng, n)
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    out = []
    for i in range(n):
        text, topic = fact(rng)
        ts = dt.datetime(2021, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(4 * 365 * 24 * 60))
        created = base + dt.timedelta(seconds=i)
        entry = MemoryEntry(id=uuid.UUID(int=rng.getrandbits(128)).hex, namespace=NS, text=text, timestamp=ts,
                            created_at=created, updated_at=created, metadata={"topic": topic})
        out.append(StoredMemory(entry, vecs[i]))
    return out


def timed(fn: Callable[[int], Any], n: int) -> dict[str, float]:
    fn(0)  # warm-up: caches loaded, statements prepared
    ms = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        ms.append((time.perf_counter() - t0) * 1000)
    return pct(ms)


def near_queries(recs: list[StoredMemory], n: int, seed: int) -> list[Any]:
    """Queries close to stored memories (cosine about 0.7 to one of them), like a paraphrase of a stored fact."""
    nrng = np.random.default_rng(seed)
    picked = nrng.choice(len(recs), size=n, replace=False)
    noise = unit_vectors(nrng, n)
    q = np.stack([recs[i].vector for i in picked]) + noise
    return list(q / np.linalg.norm(q, axis=1, keepdims=True))


def bench_size(stores: dict[str, ArchiveStore], wide: PostgresStore, n: int, seed: int,
               near: list[Any]) -> dict[str, Any]:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    texts, vecs = [query_text(rng) for _ in range(n)], unit_vectors(nrng, n)
    out: dict[str, Any] = {}
    for name, store in stores.items():
        res: dict[str, Any] = {}
        for mode in MODES:
            res[mode] = timed(lambda i, s=store, m=mode: s.search(  # type: ignore[misc]
                NS, vector=vecs[i] if m != "keyword" else None, text=texts[i], mode=m, k=K), n)
        res["vector_filtered"] = timed(lambda i, s=store: s.search(  # type: ignore[misc]
            NS, vector=vecs[i], mode="vector", k=K, filters=FILTER), n)
        out[name] = res
    def top(st: ArchiveStore, v: Any) -> list[str]:
        return [h.entry.id for h in st.search(NS, vector=v, mode="vector", k=K)]

    def recall(s: ArchiveStore, queries: list[Any]) -> float:
        return round(float(np.mean([len(set(top(stores["sqlite"], v)) & set(top(s, v))) / K for v in queries])), 4)

    def same_first(s: ArchiveStore, queries: list[Any]) -> float:
        return round(float(np.mean([top(stores["sqlite"], v)[:1] == top(s, v)[:1] for v in queries])), 4)

    for ef, s in (("ef40", stores["postgres"]), ("ef200", wide)):
        out["postgres"][f"hnsw_recall_at_10_{ef}_random_queries"] = recall(s, list(vecs))
        out["postgres"][f"hnsw_recall_at_10_{ef}_near_queries"] = recall(s, near)
        out["postgres"][f"hnsw_top1_found_{ef}_near_queries"] = same_first(s, near)
    out["postgres"]["vector_ef200"] = timed(lambda i: wide.search(NS, vector=vecs[i], mode="vector", k=K), n)
    overlap = []
    for t in texts:
        a = {h.entry.id for h in stores["sqlite"].search(NS, text=t, mode="keyword", k=K)}
        b = {h.entry.id for h in stores["postgres"].search(NS, text=t, mode="keyword", k=K)}
        overlap.append(len(a & b) / max(1, len(a | b)))
    out["keyword_top10_jaccard_pg_vs_sqlite"] = round(float(np.mean(overlap)), 4)
    return out


def server_settings(store: PostgresStore) -> dict[str, str]:
    with store.dialect.read() as c:  # a benchmark may look inside
        names = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "max_parallel_workers",
                 "max_parallel_maintenance_workers", "fsync", "synchronous_commit")
        out = {n: str(c.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]
        row = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        out["pgvector"] = str(row[0]) if row else "?"
    return out


def run(sizes: list[int], queries: int, dsn: str | None, tmp: Path) -> dict[str, Any]:
    server = None
    if dsn is None:
        import pgserver

        server = pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
        dsn = server.get_uri()
    t0 = time.perf_counter()
    recs = records(max(sizes))
    out: dict[str, Any] = {"data_generation_s": round(time.perf_counter() - t0, 1), "sizes": {}}
    schema = "bench_" + uuid.uuid4().hex[:8]
    stores: dict[str, ArchiveStore] = {"sqlite": SqliteStore(tmp / "bench.db"),
                                       "postgres": PostgresStore(dsn, schema=schema)}
    loaded = 0
    for size in sizes:
        entry: dict[str, Any] = {"load_s": {}}
        for name, store in stores.items():
            t0 = time.perf_counter()
            store.load(recs[loaded:size])
            entry["load_s"][name] = round(time.perf_counter() - t0, 2)
            assert store.count(NS) == size
        loaded = size
        wide = PostgresStore(dsn, schema=schema, hnsw_ef_search=200)
        entry.update(bench_size(stores, wide, queries, seed=size, near=near_queries(recs[:size], queries, size)))
        wide.close()
        out["sizes"][str(size)] = entry
        print(f"[{size}] {json.dumps(entry)}", flush=True)
    out["postgres_settings"] = server_settings(stores["postgres"])  # type: ignore[arg-type]
    for store in stores.values():
        store.close()
    if server is not None:
        server.cleanup()
    return out


def markdown(res: dict[str, Any]) -> str:
    r = res["results"]
    lines = ["# PostgresStore vs SqliteStore: search latency", "", f"Command: `{res['command']}`  ",
             f"Date: {res['date']}  ",
             f"Machine: {res['platform']}, {res['cpu_count']} CPUs; load average before {res['loadavg_before']}, "
             f"after {res['loadavg_after']}  ", f"Total runtime: {res['runtime_s']} s", "",
             "PostgreSQL " + r["postgres_settings"]["server_version"] + ", pgvector "
             + r["postgres_settings"]["pgvector"] + " (pgserver, Unix socket, default settings: shared_buffers "
             + r["postgres_settings"]["shared_buffers"] + ", maintenance_work_mem "
             + r["postgres_settings"]["maintenance_work_mem"] + "), same machine; SQLite in WAL mode. Random 384-d "
             "unit vectors, synthetic fact sentences, keyword queries of 2-6 words with a name, k = 10, query "
             "embedding excluded; the same queries for both stores. `vector+filter` adds a metadata filter "
             "(topic = pets, ~1/6 of rows): PostgresStore answers it by exact scan.", "",
             "## Search latency (ms)", "",
             "| memories | mode | SQLite p50 | SQLite p95 | Postgres p50 | Postgres p95 |",
             "|---:|---|---:|---:|---:|---:|"]
    for size, e in r["sizes"].items():
        for mode, label in (*((m, m) for m in MODES), ("vector_filtered", "vector+filter")):
            s, p = e["sqlite"][mode], e["postgres"][mode]
            lines.append(f"| {int(size):,} | {label} | {s['p50_ms']} | {s['p95_ms']} | {p['p50_ms']} | "
                         f"{p['p95_ms']} |")
        p = e["postgres"]["vector_ef200"]
        lines.append(f"| {int(size):,} | vector, ef_search 200 | | | {p['p50_ms']} | {p['p95_ms']} |")
    lines += ["", "## Quality and load", "", "HNSW recall@10 against SQLite's exact top 10, for random queries and for "
              "queries near a stored memory (cosine ~0.7); ef = the hnsw.ef_search floor (a k=10 vector search uses "
              "40 by default; hybrid searches ask for 50 candidates and so use 100).", "",
              "| memories | recall ef 40, random | ef 200, random | ef 40, near | ef 200, near | near: top hit found, "
              "ef 40 / 200 | keyword top-10 Jaccard (PG vs SQLite) | load s SQLite | load s Postgres |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, e in r["sizes"].items():
        pg = e["postgres"]
        lines.append(f"| {int(size):,} | {pg['hnsw_recall_at_10_ef40_random_queries']} | "
                     f"{pg['hnsw_recall_at_10_ef200_random_queries']} | {pg['hnsw_recall_at_10_ef40_near_queries']} | "
                     f"{pg['hnsw_recall_at_10_ef200_near_queries']} | {pg['hnsw_top1_found_ef40_near_queries']} / "
                     f"{pg['hnsw_top1_found_ef200_near_queries']} | {e['keyword_top10_jaccard_pg_vs_sqlite']} | "
                     f"{e['load_s']['sqlite']} | {e['load_s']['postgres']} |")
    lines += ["", "Load: `store.load` of the step's new records in one transaction (Postgres: binary COPY, then the "
              "HNSW index is rebuilt over the whole table, then ANALYZE). Recall is measured against SQLite's exact "
              "cosine top 10; random vectors are a hard case for HNSW (real embeddings cluster). Keyword rankings "
              "differ by design (PostgreSQL ts_rank vs SQLite FTS5 BM25); which rows match is the same."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--queries", type=int, default=200, help="timed searches per mode, size and store")
    p.add_argument("--dsn", help="an existing PostgreSQL with pgvector (default: start one with pgserver)")
    p.add_argument("--out", type=Path, default=Path("docs/results"))
    p.add_argument("--max-load", type=float, default=1.5, help="wait (up to 3 min) for the 1-min load to drop")
    a = p.parse_args()
    sizes = sorted(int(s) for s in a.sizes.split(","))
    quiet = wait_for_quiet(a.max_load, 180)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pg_vs_sqlite_") as tmp:
        results = run(sizes, a.queries, a.dsn, Path(tmp))
    res = {"benchmark": "deltamem PostgresStore vs SqliteStore",
           "command": "python bench/pg_vs_sqlite_bench.py " + " ".join(sys.argv[1:]),
           "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "platform": platform.platform(),
           "python": platform.python_version(), "cpu_count": os.cpu_count(), "loadavg_before": quiet["loadavg"],
           "waited_for_load_s": quiet["waited_s"], "loadavg_after": list(os.getloadavg()),
           "runtime_s": round(time.perf_counter() - started, 1), "k": K, "results": results}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "pg_vs_sqlite.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    (a.out / "pg_vs_sqlite.md").write_text(markdown(res))
    print(f"runtime {res['runtime_s']} s", flush=True)


if __name__ == "__main__":
    main()
