"""Server time of the inspector's pages with 10,000 memories in one namespace, on SQLite and on PostgreSQL.

For each store a namespace is filled with ``--memories`` memories in change sets of 50 (the hashing embedder at 384
dimensions, MiniLM's size, so vector search costs what it costs with the default embedder), ``--deleted`` of them
deleted, one session ingested through a job (so the memory page shows a conversation excerpt) and one change set
held for review. Then every page is requested ``--repeat`` times in-process (``TestClient``: the time includes the
ASGI round trip, so it is an upper bound on server time) and p50 / p95 / max are written to ``--out``
(``results.json``, ``README.md`` table, ``latency.png``).

Run: ``python bench/ui_latency.py [--memories 10000] [--repeat 40] [--stores sqlite,postgres]
[--out docs/results/ui-latency]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from deltamem.config import MemoryConfig
from deltamem.core import Add, Delete
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm.scripted import ScriptedChatModel
from deltamem.server import ServerConfig, create_app
from deltamem.server.keys import KeyStore
from deltamem.server.state import ServerDB, StateDB
from deltamem.stores.base import ArchiveStore

NS = "user:bench"
WORDS = ("coffee tea piano violin Boston Lisbon nurse teacher dog cat garden tomatoes marathon chess painting "
         "sister brother daughter Tuesday summer winter bicycle train novel poetry soup bread football").split()


def _fact(i: int) -> str:
    w = [WORDS[(i * k + k) % len(WORDS)] for k in (1, 3, 7)]
    return f"Fact {i}: the user mentioned {w[0]}, {w[1]} and {w[2]} in session {i // 50}."


@contextmanager
def _stores(kind: str) -> Iterator[tuple[ArchiveStore, ServerDB]]:
    with tempfile.TemporaryDirectory(prefix="ui-bench-") as tmp:
        if kind == "sqlite":
            from deltamem.stores.sqlite import SqliteStore

            store, db = SqliteStore(Path(tmp) / "memory.db"), StateDB(Path(tmp) / "server.db")
            yield store, db
            return
        import pgserver

        from deltamem.server.state import PostgresStateDB
        from deltamem.stores.postgres import PostgresStore

        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        store2, db2 = PostgresStore(server.get_uri()), PostgresStateDB(server.get_uri())
        yield store2, db2


def _fill(memory: Memory, full: str, n: int, deleted: int) -> None:
    ids: list[str] = []
    for start in range(0, n, 50):
        cs = memory.apply([Add(text=_fact(i)) for i in range(start, min(start + 50, n))], namespace=full,
                          session_id=f"import-{start // 50}")
        ids += [c.memory_id for c in cs.changes]
        if start % 2000 == 0:
            print(f"  {start + 50:>6} / {n} memories", flush=True)
    for start in range(0, deleted, 50):
        memory.apply([Delete(id=i) for i in ids[start:start + 50]], namespace=full)


def _scripted(messages: list[dict[str, Any]]) -> str:
    return json.dumps({"ops": [{"op": "ADD", "text": "The user plays the cello.", "message_indices": [0]}]})


def run(kind: str, *, memories: int, deleted: int, repeat: int) -> dict[str, dict[str, float]]:
    with _stores(kind) as (store, db):
        embedder = HashingEmbedder(dim=384)
        memory = Memory(store=store, embedder=embedder, llm=ScriptedChatModel(default=_scripted),
                        config=MemoryConfig(agent={"mode": "session"}))
        app = create_app(ServerConfig(rate_per_s=0), memory=memory, db=db)
        keys = KeyStore(db)
        _, key = keys.create(tenant="bench")
        full = f"tenant:bench/{NS}"
        print(f"{kind}: filling {memories} memories", flush=True)
        _fill(memory, full, memories, deleted)
        with TestClient(app) as client:
            auth = {"Authorization": f"Bearer {key}"}
            job = client.post("/v1/sessions", params={"namespace": NS}, headers=auth,
                              json={"messages": [{"speaker": "Ana", "text": "I play the cello."}]}).json()
            for _ in range(200):
                done = client.get(f"/v1/jobs/{job['job_id']}", headers=auth).json()
                if done["status"] in ("done", "failed"):
                    break
                time.sleep(0.05)
            cs_id = done["change_set"]["id"]
            mid = done["change_set"]["changes"][0]["memory_id"]
            client.post("/ui/login", data={"key": key})
            last_page = (memories - deleted) // 50
            pages: dict[str, str] = {
                "namespaces": "/ui/",
                "namespace + chart": f"/ui/namespace?ns={NS}",
                "memories, page 1": f"/ui/memories?ns={NS}",
                f"memories, page {last_page}": f"/ui/memories?ns={NS}&page={last_page}",
                "memories, search": f"/ui/memories?ns={NS}&q=piano+Lisbon",
                "memories, date range": f"/ui/memories?ns={NS}&since=2020-01-01&until=2100-01-01",
                "memories, deleted": f"/ui/memories?ns={NS}&status=deleted",
                "memory + history": f"/ui/memory?ns={NS}&id={mid}",
                "change sets": f"/ui/changes?ns={NS}",
                "change set": f"/ui/change?ns={NS}&id={cs_id}",
                "review queue": f"/ui/review?ns={NS}",
                "jobs": "/ui/jobs",
            }
            out: dict[str, dict[str, float]] = {}
            for name, path in pages.items():
                times = _time(lambda p=path: client.get(p), repeat)
                out[name] = {"p50_ms": statistics.median(times), "p95_ms": _p95(times), "max_ms": max(times)}
                print(f"  {name:<24} p50 {out[name]['p50_ms']:7.1f} ms  p95 {out[name]['p95_ms']:7.1f} ms", flush=True)
        memory.close()
        db.close()
    return out


def _time(call: Callable[[], Any], repeat: int) -> list[float]:
    r = call()
    if r.status_code != 200:
        raise SystemExit(f"{r.request.url} answered {r.status_code}: {r.text[:300]}")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _report(results: dict[str, dict[str, dict[str, float]]], out: Path, args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    meta = {"memories": args.memories, "deleted": args.deleted, "repeat": args.repeat,
            "machine": f"{platform.machine()}, {platform.python_version()}", "budget_ms": 200}
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    stores = list(results)
    lines = ["| page | " + " | ".join(f"{s} p50 ms | {s} p95 ms" for s in stores) + " |",
             "| --- | " + " | ".join("---: | ---:" for _ in stores) + " |"]
    for page in results[stores[0]]:
        cells = " | ".join(f"{results[s][page]['p50_ms']:.1f} | {results[s][page]['p95_ms']:.1f}" for s in stores)
        lines.append(f"| {page} | {cells} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    pages = list(results[stores[0]])
    fig, ax = plt.subplots(figsize=(9, 4.8))
    height = 0.8 / len(stores)
    for k, s in enumerate(stores):
        ax.barh([i + k * height for i in range(len(pages))], [results[s][p]["p95_ms"] for p in pages], height,
                label=f"{s} p95")
    ax.axvline(200, color="#b3261e", linestyle="--", label="200 ms budget")
    ax.set_yticks([i + height * (len(stores) - 1) / 2 for i in range(len(pages))], pages)
    ax.invert_yaxis()
    ax.set_xlabel(f"ms per page (p95 of {args.repeat}), {args.memories:,} memories in the namespace")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--deleted", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--out", type=Path, default=Path("docs/results/ui-latency"))
    args = parser.parse_args()
    results = {kind: run(kind, memories=args.memories, deleted=args.deleted, repeat=args.repeat)
               for kind in args.stores.split(",")}
    _report(results, args.out, args)
    print((args.out / "table.md").read_text())


if __name__ == "__main__":
    main()
