"""REST server under concurrent load: the workload of ``tests/load/test_load.py`` at a larger, configurable scale.

For each store (SQLite file; PostgreSQL started with ``pgserver`` in a temporary directory unless ``--dsn`` names
one) and each client count, a fresh ``deltamem serve`` subprocess (hashing embedder, no LLM, one ingestion worker)
is started on a free loopback port with its own data; one tenant key per client is made through the admin API;
then the clients (threads, one ``httpx.Client`` each) run ``--total-ops`` operations between them (add 1-3 facts
35%, search 25%, update 18%, delete 8%, list 14%; half on two namespaces all clients share). Afterwards every
namespace is checked: it must be exactly the replay of the change sets the clients had acknowledged
(``load_harness.check_namespace``). Clients and server share this machine's CPU.

The table (p50 / p95 per operation over successful answers, ops/s = operations / wall time, every answer by status,
retries of 409 / 429) replaces the section ``--section`` (between its markers) of ``--out``
(docs/results/load_fault.md); ``--json PATH`` also writes the raw figures.

Run: ``python bench/load_bench.py [--clients 16,32] [--total-ops 3200] [--stores sqlite,postgres] [--rate 0]
[--section main]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "load"))
from load_harness import ServerProcess, ServerSpec, check_namespace, create_keys_admin
from load_workload import OPS, run_workload


def markers(section: str) -> tuple[str, str]:
    """The comment lines around one section of the results file."""
    return f"<!-- load_bench:{section}:start -->", f"<!-- load_bench:{section}:end -->"


def run_one(store: str, clients: int, total_ops: int, *, tmp: Path, dsn: str | None, rate: float | None,
            seed: int) -> dict[str, Any]:
    """One server, one run of the workload, the consistency check; the summary."""
    data = tmp / f"{store}-{clients}-{uuid.uuid4().hex[:6]}"
    spec = ServerSpec(data, store=store, dsn=dsn, rate_per_s=rate)
    with ServerProcess(spec) as server:
        server.wait_ready()
        # A tenant of its own, so runs against one --dsn never see each other's namespaces.
        keys = create_keys_admin(server.base_url, clients, tenant=f"load{uuid.uuid4().hex[:8]}")
        load_before = os.getloadavg()[0]
        result = run_workload(server.base_url, keys, ops_per_client=total_ops // clients, seed=seed, timeout=120)
        load_after = os.getloadavg()[0]
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {keys[0]}"},
                          timeout=120) as c:
            t0 = time.perf_counter()
            checked = {u: check_namespace(c, u, result.acked.get(u, [])) for u in result.user_ids}
            check_s = time.perf_counter() - t0
    summary: dict[str, Any] = result.summary()
    summary.update(store=store, loadavg_1m=[round(load_before, 2), round(load_after, 2)],
                   consistency={"namespaces": len(checked), "change_sets": sum(x.change_sets for x in checked.values()),
                                "history_records": sum(x.history_records for x in checked.values()),
                                "live": sum(x.live for x in checked.values()), "check_s": round(check_s, 2),
                                "passed": True})
    return summary


def table(runs: list[dict[str, Any]], command: str, meta: dict[str, Any], section: str) -> str:
    """The markdown section written between the markers."""
    start, end = markers(section)
    head = "| store | clients | ops | ops/s | " + " | ".join(f"{op} p50 / p95 ms" for op in OPS)
    head += " | answers by status | retries | consistent | load avg before / after |"
    lines = [start, "", f"Command: `{command}`", "",
             f"Run {meta['date']} on {meta['machine']}; server and clients share the CPU (the last column: 1-minute "
             "load average before / after the workload). Rate limit: " + meta["rate"] + ".", "",
             head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        cells = [f"{r['per_op'][op]['p50_ms']:.0f} / {r['per_op'][op]['p95_ms']:.0f}" for op in OPS]
        statuses = ", ".join(f"{s}: {n}" for s, n in r["all_statuses"].items())
        ok = "yes" if r["consistency"]["passed"] else "NO"
        lines.append(f"| {r['store']} | {r['clients']} | {r['ops']} | {r['ops_per_s']:.0f} | " + " | ".join(cells)
                     + f" | {statuses} | {r['retries']} | {ok} ({r['consistency']['change_sets']} change sets) | "
                     + " / ".join(f"{x:.1f}" for x in r["loadavg_1m"]) + " |")
    lines += ["", end]
    return "\n".join(lines)


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the section ``name`` of ``path`` (or append it)."""
    text = path.read_text() if path.exists() else "# REST server: load and fault tests\n"
    start, end = markers(name)
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", default="16,32", help="comma-separated client counts")
    p.add_argument("--total-ops", type=int, default=3200, help="operations per run, split between the clients")
    p.add_argument("--stores", default="sqlite,postgres")
    p.add_argument("--dsn", help="an existing PostgreSQL with pgvector (default: start one with pgserver)")
    p.add_argument("--rate", type=float, default=0.0,
                   help="server rate limit per key and second (0: off; -1: the server's default, 20/s)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=Path("docs/results/load_fault.md"))
    p.add_argument("--section", default="main", help="which marked section of --out to replace")
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    a = p.parse_args()
    command = "python bench/load_bench.py " + " ".join(sys.argv[1:])
    rate = None if a.rate < 0 else a.rate
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="deltamem-load-") as d:
        tmp = Path(d)
        pg: Any = None
        for store in a.stores.split(","):
            if store == "postgres" and not a.dsn:
                import pgserver

                pg = pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")  # type: ignore[attr-defined]
            for clients in (int(x) for x in a.clients.split(",")):
                dsn = a.dsn if store == "postgres" else None
                if store == "postgres" and not a.dsn:
                    import psycopg

                    name = "load_" + uuid.uuid4().hex[:8]  # a fresh database per run
                    with psycopg.connect(pg.get_uri(), autocommit=True) as c:
                        c.execute(f"CREATE DATABASE {name}")
                    dsn = pg.get_uri(database=name)
                r = run_one(store, clients, a.total_ops, tmp=tmp, dsn=dsn, rate=rate, seed=a.seed)
                print(json.dumps(r), flush=True)
                runs.append(r)
        if pg is not None:
            pg.cleanup()
    meta = {"date": dt.date.today().isoformat(),
            "machine": f"{os.cpu_count()} CPU cores, Python {platform.python_version()}",
            "rate": "off" if rate == 0 else ("the server's default (20/s per key, bursts of 60)" if rate is None
                                              else f"{rate:g}/s per key")}
    write_section(a.out, a.section, table(runs, command, meta, a.section))
    if a.json:
        a.json.write_text(json.dumps({"command": command, **meta, "runs": runs}, indent=2) + "\n")
    print(f"wrote {a.out}" + (f" and {a.json}" if a.json else ""))


if __name__ == "__main__":
    main()
