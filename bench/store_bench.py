"""Store benchmark: search latency, insert throughput, change-set apply/commit time and cache-sync cost.

One namespace is grown through the requested sizes (default 1k, 10k, 100k live memories) by committing change sets
of 100 ADDs built with ``core.apply`` on an empty partial state, with pre-computed vectors (insert throughput without
embedding). At each size, vector / keyword / hybrid search latency (k=10) is timed on pre-embedded queries. Vectors
are random 384-d unit vectors (the dimension of the real MiniLM embedder): the cosine scan costs the same as with
real embeddings, but neighbours are meaningless. Texts are synthetic fact sentences; keyword queries are 2-6 words
including a name.

Run: ``python bench/store_bench.py [--sizes 1000,10000,100000] [--out docs/results]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from deltamem.core import Add, Delete, MemoryState, Operation, Update, apply
from deltamem.embed.base import Vectors
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.base import ArchiveStore, SearchMode
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

DIM = 384
NS = "user:bench"
K = 10
MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
TARGETS = {"search_p50_ms_10k": 5.0, "search_p50_ms_100k": 30.0, "apply_commit_20op_ms": 10.0}

NAMES = ["Caroline", "Melanie", "Jon", "Gina", "Priya", "Tomás", "Aiko", "Sven", "Omar", "Lucía", "Kwame", "Mei",
         "Dmitri", "Fatima", "Noah", "Ingrid", "Rahul", "Chloe", "Mateo", "Hana", "Elif", "Jonas", "Zara", "Felix",
         "Amara", "Luca", "Sofia", "Ravi", "Nadia", "Oscar", "Yuki", "Leila", "Pablo", "Greta", "Kofi", "Anya"]
CITIES = ["Seattle", "Boston", "Denver", "Austin", "Lisbon", "Osaka", "Toronto", "Nairobi", "Leeds", "Porto",
          "Berlin", "Melbourne", "Chicago", "Lyon", "Bogotá", "Hanoi"]
JOBS = [("nurse", "Mass General"), ("teacher", "Lincoln High"), ("engineer", "Boeing"), ("barista", "Blue Bottle"),
        ("accountant", "Deloitte"), ("designer", "IDEO"), ("chef", "Nopa"), ("pilot", "Delta")]
PETS = [("dog", "Rex"), ("cat", "Miso"), ("parrot", "Kiwi"), ("rabbit", "Clover"), ("dog", "Biscuit")]
HOBBIES = ["pottery", "salsa dancing", "rock climbing", "watercolour painting", "chess", "trail running",
           "birdwatching", "sourdough baking"]
MONTHS = ["January", "March", "May", "July", "September", "November"]
COUNTRIES = ["Japan", "Peru", "Iceland", "Morocco", "Vietnam", "Norway"]
TOPICS = ["home", "work", "pets", "hobbies", "travel", "family"]


def fact(rng: random.Random) -> tuple[str, str]:
    """A realistic fact sentence and its topic."""
    who, year, kind = rng.choice(NAMES), rng.choice([2021, 2022, 2023, 2024]), rng.randrange(6)
    if kind == 0:
        return f"{who} lives in {rng.choice(CITIES)} with a roommate since {year}", "home"
    if kind == 1:
        job, org = rng.choice(JOBS)
        return f"{who} works as a {job} at {org}", "work"
    if kind == 2:
        pet, name = rng.choice(PETS)
        return f"{who} has a {rng.randint(1, 12)}-year-old {pet} named {name}", "pets"
    if kind == 3:
        return f"{who} started {rng.choice(HOBBIES)} classes in {rng.choice(MONTHS)} {year}", "hobbies"
    if kind == 4:
        return f"{who} plans a trip to {rng.choice(COUNTRIES)} in {rng.choice(MONTHS)}", "travel"
    return f"{who}'s sibling {rng.choice(NAMES)} moved to {rng.choice(CITIES)} in {year}", "family"


def query_text(rng: random.Random) -> str:
    """A keyword query of 2-6 words that names someone."""
    who = rng.choice(NAMES)
    return rng.choice([
        f"{who} {rng.choice(CITIES)}", f"where does {who} live", f"{who} dog name", f"{who} job",
        f"what does {who} do at {rng.choice(JOBS)[1]}", f"{who} {rng.choice(HOBBIES)} classes",
        f"when is {who} visiting {rng.choice(COUNTRIES)}", f"{who} sibling moved",
    ])


def unit_vectors(nrng: np.random.Generator, n: int) -> Vectors:
    v = nrng.standard_normal((n, DIM)).astype(np.float32)
    out: Vectors = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def add_ops(rng: random.Random, n: int) -> list[Operation]:
    out: list[Operation] = []
    for _ in range(n):
        text, topic = fact(rng)
        ts = dt.datetime(2021, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(4 * 365 * 24 * 60))
        out.append(Add(text=text, timestamp=ts, metadata={"topic": topic}))
    return out


def grow(store: ArchiveStore, target: int, rng: random.Random, nrng: np.random.Generator) -> dict[str, float]:
    """Add memories in change sets of 100 until the namespace holds ``target``; time apply and commit apart."""
    apply_s = commit_s = 0.0
    added = 0
    while store.count(NS) < target:
        n = min(100, target - store.count(NS))
        ops, vecs = add_ops(rng, n), unit_vectors(nrng, n)  # data generation is not timed
        t0 = time.perf_counter()
        cs = apply(MemoryState(NS), ops)
        vectors = {c.memory_id: vecs[i] for i, c in enumerate(cs.changes)}
        t1 = time.perf_counter()
        store.commit(cs, vectors)
        t2 = time.perf_counter()
        apply_s, commit_s, added = apply_s + t1 - t0, commit_s + t2 - t1, added + n
    total = apply_s + commit_s
    return {"added": added, "seconds": round(total, 3), "apply_s": round(apply_s, 3), "commit_s": round(commit_s, 3),
            "memories_per_s": round(added / total, 1) if total else 0.0}


def pct(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3),
            "mean_ms": round(float(a.mean()), 3), "n": len(ms)}


def time_searches(store: ArchiveStore, mode: SearchMode, n: int, seed: int) -> dict[str, float]:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    texts, vecs = [query_text(rng) for _ in range(n)], unit_vectors(nrng, n)
    store.search(NS, vector=vecs[0], text=texts[0], mode=mode, k=K)  # warm-up: cache loaded, statements prepared
    ms = []
    for i in range(n):
        t0 = time.perf_counter()
        hits = store.search(NS, vector=vecs[i] if mode != "keyword" else None, text=texts[i], mode=mode, k=K)
        ms.append((time.perf_counter() - t0) * 1000)
        assert hits or mode == "keyword", "a vector search found nothing"
    return pct(ms)


def bench_apply(path: Path, size: int, reps: int) -> dict[str, Any]:
    """A 20-op change set (10 ADD, 6 UPDATE, 4 DELETE) on a namespace of ``size`` memories."""
    rng, nrng = random.Random(7), np.random.default_rng(7)
    store = SqliteStore(path)
    grow(store, size, rng, nrng)
    live = [e.id for e in store.list_entries(NS)]
    full = MemoryState.of(NS, store.list_entries(NS))

    def ops_for(ids: list[str]) -> list[Operation]:
        picked = rng.sample(ids, 10)
        return [*add_ops(rng, 10), *(Update(id=i, text=fact(rng)[0]) for i in picked[:6]),
                *(Delete(id=i) for i in picked[6:])]

    pure_full, get_apply, get_apply_commit, commit_only = [], [], [], []
    for _ in range(reps):
        ops = ops_for(live)
        t0 = time.perf_counter()
        apply(full, ops)
        pure_full.append((time.perf_counter() - t0) * 1000)
    for _ in range(reps):
        ops = ops_for(live)
        vecs = unit_vectors(nrng, 16)
        t0 = time.perf_counter()
        state = store.get(NS, [o.id for o in ops if isinstance(o, Update | Delete)])
        cs = apply(state, ops)
        t1 = time.perf_counter()
        store.commit(cs, {c.memory_id: vecs[i] for i, c in enumerate(x for x in cs.changes if x.after)})
        t2 = time.perf_counter()
        get_apply.append((t1 - t0) * 1000)
        commit_only.append((t2 - t1) * 1000)
        get_apply_commit.append((t2 - t0) * 1000)
        gone = {o.id for o in ops if isinstance(o, Delete)}
        live = [i for i in live if i not in gone] + [c.memory_id for c in cs.changes if c.kind == "ADD"]
    memory = Memory(store=store, embedder=HashingEmbedder(dim=DIM))
    facade = []
    for _ in range(reps):
        ops = ops_for(live)
        t0 = time.perf_counter()
        cs = memory.apply(ops, namespace=NS)
        facade.append((time.perf_counter() - t0) * 1000)
        gone = {o.id for o in ops if isinstance(o, Delete)}
        live = [i for i in live if i not in gone] + [c.memory_id for c in cs.changes if c.kind == "ADD"]
    store.close()
    return {"state_size": size, "reps": reps, "ops": "10 ADD + 6 UPDATE + 4 DELETE",
            "core_apply_on_full_state": pct(pure_full), "get_plus_apply_on_partial_state": pct(get_apply),
            "commit_only": pct(commit_only), "get_apply_commit": pct(get_apply_commit),
            "memory_apply_with_hashing_embedder": pct(facade)}


def insert_with_embedding(path: Path, n_sets: int) -> dict[str, Any]:
    rng = random.Random(11)
    emb = HashingEmbedder(dim=DIM)
    with Memory(store=SqliteStore(path), embedder=emb) as m:
        batches = [add_ops(rng, 100) for _ in range(n_sets)]
        t0 = time.perf_counter()
        for ops in batches:
            m.apply(ops, namespace=NS)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        for ops in batches:
            emb.embed([o.text for o in ops if isinstance(o, Add)])
        embed_s = time.perf_counter() - t0
    return {"embedder": emb.name, "memories": 100 * n_sets, "seconds": round(total, 3),
            "memories_per_s": round(100 * n_sets / total, 1), "of_which_embedding_s": round(embed_s, 3)}


def writer_main(db: str, n: int, seed: int) -> None:
    """Child process for the cache-sync measurement: commit one change set of ``n`` ADDs, then exit."""
    store = SqliteStore(db)
    cs = apply(MemoryState(NS), add_ops(random.Random(seed), n))
    vecs = unit_vectors(np.random.default_rng(seed), n)
    store.commit(cs, {c.memory_id: vecs[i] for i, c in enumerate(cs.changes)})
    store.close()


def bench_sync_and_cold(db: Path, reps: int) -> dict[str, Any]:
    """First vector search after another process wrote (incremental cache sync), and after a cold open."""
    q = unit_vectors(np.random.default_rng(3), 1)[0]
    reader = SqliteStore(db)
    reader.search(NS, vector=q, mode="vector", k=K)
    after_write, warm_after = [], []
    for r in range(reps):
        subprocess.run([sys.executable, __file__, "--_write", str(db), "--_n", "20", "--_seed", str(1000 + r)],
                       check=True)
        t0 = time.perf_counter()
        reader.search(NS, vector=q, mode="vector", k=K)
        after_write.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        reader.search(NS, vector=q, mode="vector", k=K)
        warm_after.append((time.perf_counter() - t0) * 1000)
    size = reader.count(NS)
    reader.close()
    opens, firsts = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        s = SqliteStore(db)
        t1 = time.perf_counter()
        s.search(NS, vector=q, mode="vector", k=K)
        t2 = time.perf_counter()
        s.close()
        opens.append((t1 - t0) * 1000)
        firsts.append((t2 - t1) * 1000)
    return {"size": size, "writer": "separate process, one change set of 20 ADDs per rep",
            "first_vector_search_after_foreign_write": pct(after_write), "next_search": pct(warm_after),
            "cold_open": pct(opens), "first_vector_search_after_cold_open": pct(firsts),
            "note": "OS page cache is warm (the file was just written); a truly cold disk would add I/O time"}


def wait_for_quiet(limit: float, max_wait_s: float) -> dict[str, Any]:
    start = time.monotonic()
    while os.getloadavg()[0] > limit and time.monotonic() - start < max_wait_s:
        time.sleep(10)
    return {"waited_s": round(time.monotonic() - start, 1), "loadavg": list(os.getloadavg())}


def run(sizes: list[int], queries: int, mem_max: int, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"sizes": {}, "insert_no_embedding": {}, "inmemory": {}}
    db = tmp / "bench.db"
    store = SqliteStore(db)
    rng, nrng = random.Random(1), np.random.default_rng(1)
    for size in sizes:
        t0 = time.perf_counter()
        out["insert_no_embedding"][str(size)] = grow(store, size, rng, nrng)
        entry: dict[str, Any] = {"build_wall_s": round(time.perf_counter() - t0, 2), "db_mb": 0.0}
        for mode in MODES:
            entry[mode] = time_searches(store, mode, queries, seed=size)
        entry["db_mb"] = round(sum(p.stat().st_size for p in tmp.glob("bench.db*")) / 2**20, 1)
        out["sizes"][str(size)] = entry
        print(f"[{size}] {json.dumps(entry)}", flush=True)
        if size <= mem_max:
            mem = InMemoryStore()
            grow(mem, size, random.Random(1), np.random.default_rng(1))
            n = max(10, min(queries, 20_000 // max(1, size // 10)))
            out["inmemory"][str(size)] = {mode: time_searches(mem, mode, n, seed=size) for mode in MODES}
    store.close()
    out["sync_and_cold_open"] = bench_sync_and_cold(db, reps=5)
    out["apply_20_ops"] = bench_apply(tmp / "apply.db", 10_000, reps=100)
    out["insert_with_embedding"] = insert_with_embedding(tmp / "embed.db", 20)
    return out


def markdown(res: dict[str, Any]) -> str:
    sizes = res["results"]["sizes"]
    lines = ["# Store benchmark (SqliteStore)", "", f"Command: `{res['command']}`  ", f"Date: {res['date']}  ",
             f"Machine: {res['platform']}, {res['cpu_count']} CPUs; load average before {res['loadavg_before']}, "
             f"after {res['loadavg_after']}  ", f"Total runtime: {res['runtime_s']} s", "",
             "Vectors are random 384-d unit vectors (the real embedder's dimension); texts are synthetic fact "
             "sentences; keyword queries are 2-6 words including a name; k = 10; query embedding excluded.", "",
             "## Search latency (ms)", "", "| memories | mode | p50 | p95 | mean |", "|---:|---|---:|---:|---:|"]
    for size, entry in sizes.items():
        for mode in MODES:
            s = entry[mode]
            lines.append(f"| {int(size):,} | {mode} | {s['p50_ms']} | {s['p95_ms']} | {s['mean_ms']} |")
    for size, entry in res["results"]["inmemory"].items():
        for mode in MODES:
            s = entry[mode]
            lines.append(f"| {int(size):,} (InMemoryStore) | {mode} | {s['p50_ms']} | {s['p95_ms']} | "
                         f"{s['mean_ms']} |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, (measured, limit) in res["targets"].items():
        lines.append(f"| {name} ≤ {limit} ms | {measured} ms | {'met' if measured <= limit else 'NOT met'} |")
    r = res["results"]
    ins, a, sc = r["insert_no_embedding"], r["apply_20_ops"], r["sync_and_cold_open"]
    lines += ["", "## Writes", "", "| segment | memories/s (no embedding) | apply s | commit s |",
              "|---|---:|---:|---:|"]
    for size, s in ins.items():
        lines.append(f"| up to {int(size):,} | {s['memories_per_s']} | {s['apply_s']} | {s['commit_s']} |")
    e = res["results"]["insert_with_embedding"]
    lines += ["", f"With embedding ({e['embedder']}, change sets of 100 via Memory.apply): {e['memories_per_s']} "
              f"memories/s ({e['of_which_embedding_s']} s of {e['seconds']} s embedding).", "",
              f"20-op change set on a {a['state_size']:,}-memory namespace ({a['ops']}), {a['reps']} reps, p50 / p95 "
              "ms:", ""]
    for key in ("core_apply_on_full_state", "get_plus_apply_on_partial_state", "commit_only", "get_apply_commit",
                "memory_apply_with_hashing_embedder"):
        lines.append(f"- {key}: {a[key]['p50_ms']} / {a[key]['p95_ms']}")
    lines += ["", f"## Cache sync and cold open at {sc['size']:,} memories (p50 / p95 ms)", ""]
    for key in ("first_vector_search_after_foreign_write", "next_search", "cold_open",
                "first_vector_search_after_cold_open"):
        lines.append(f"- {key}: {sc[key]['p50_ms']} / {sc[key]['p95_ms']}")
    lines += ["", sc["note"] + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--out", type=Path, default=Path("docs/results"))
    p.add_argument("--queries", type=int, default=200, help="timed searches per mode and size")
    p.add_argument("--inmemory-max", type=int, default=10_000, help="also time InMemoryStore up to this size")
    p.add_argument("--max-load", type=float, default=1.5, help="wait (up to 3 min) for the 1-min load to drop")
    p.add_argument("--_write", help=argparse.SUPPRESS)
    p.add_argument("--_n", type=int, default=20, help=argparse.SUPPRESS)
    p.add_argument("--_seed", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._write:
        writer_main(a._write, a._n, a._seed)
        return
    sizes = sorted(int(s) for s in a.sizes.split(","))
    quiet = wait_for_quiet(a.max_load, 180)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="store_bench_") as tmp:
        results = run(sizes, a.queries, a.inmemory_max, Path(tmp))
    targets: dict[str, tuple[float, float]] = {}
    if "10000" in results["sizes"]:
        targets["search_p50_ms_10k"] = (max(results["sizes"]["10000"][m]["p50_ms"] for m in MODES),
                                        TARGETS["search_p50_ms_10k"])
    if "100000" in results["sizes"]:
        targets["search_p50_ms_100k"] = (max(results["sizes"]["100000"][m]["p50_ms"] for m in MODES),
                                         TARGETS["search_p50_ms_100k"])
    targets["apply_commit_20op_ms"] = (results["apply_20_ops"]["get_apply_commit"]["p50_ms"],
                                       TARGETS["apply_commit_20op_ms"])
    res = {"benchmark": "deltamem store", "command": "python bench/store_bench.py " + " ".join(sys.argv[1:]),
           "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "platform": platform.platform(),
           "python": platform.python_version(), "cpu_count": os.cpu_count(), "loadavg_before": quiet["loadavg"],
           "waited_for_load_s": quiet["waited_s"], "loadavg_after": list(os.getloadavg()),
           "runtime_s": round(time.perf_counter() - started, 1), "vectors": "random 384-d unit vectors",
           "k": K, "targets": {k: list(v) for k, v in targets.items()},
           "targets_met": {k: v[0] <= v[1] for k, v in targets.items()}, "results": results}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "store_bench.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    (a.out / "store_bench.md").write_text(markdown(res))
    print(json.dumps(res["targets"]), f"runtime {res['runtime_s']} s", flush=True)


if __name__ == "__main__":
    main()
