"""The mixed client workload of the load test and ``bench/load_bench.py``.

Each client is a thread with its own API key and ``httpx.Client``. It runs a fixed number of operations drawn from a
seeded mix (add facts, search, update, delete, list), half of them on namespaces every client shares (so writes to
the same memories contend) and half on its own. Updates and deletes pick ids from a pool of live ids that all
clients feed, so a client often updates a memory another one just deleted: the server answers 404 (or 422 when the
delete lands between its check and its write) and that write is simply not acknowledged.

409 and 429 answers are retried (429 after ``Retry-After``) and counted; every answer's status is counted. Every
2xx answer of a write is kept (its change set) for :func:`load_harness.check_namespace`.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

OPS = ("add", "search", "update", "delete", "get_all")
WEIGHTS = (35, 25, 18, 8, 14)
RETRYABLE = (409, 429)
MAX_RETRIES = 10


@dataclass
class OpRecord:
    """One logical operation: its final status (0: transport error), latency including retries, retries."""

    op: str
    user_id: str
    status: int
    seconds: float
    retries: int


@dataclass
class WorkloadResult:
    """Everything one run produced."""

    records: list[OpRecord]
    acked: dict[str, list[dict[str, Any]]]  # user_id -> acknowledged change sets, in acknowledgement order
    statuses: Counter[int]  # every HTTP answer, retries included
    wall_s: float
    clients: int
    user_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """p50/p95 per op (ms, over 2xx answers), throughput, retries and answers by status."""
        per_op: dict[str, Any] = {}
        for op in OPS:
            ok = sorted(r.seconds for r in self.records if r.op == op and 200 <= r.status < 300)
            n = sum(1 for r in self.records if r.op == op)
            per_op[op] = {"n": n, "ok": len(ok), "p50_ms": pct(ok, 50) * 1e3, "p95_ms": pct(ok, 95) * 1e3}
        ok_total = sum(1 for r in self.records if 200 <= r.status < 300)
        return {"clients": self.clients, "ops": len(self.records), "ok": ok_total, "wall_s": self.wall_s,
                "ops_per_s": len(self.records) / self.wall_s if self.wall_s else 0.0,
                "retries": sum(r.retries for r in self.records),
                "final_statuses": dict(sorted(Counter(r.status for r in self.records).items())),
                "all_statuses": dict(sorted(self.statuses.items())), "per_op": per_op}


def pct(sorted_values: list[float], p: float) -> float:
    """Percentile of an ascending list, linearly interpolated between ranks (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(p) - 1]


class _Pool:
    """Live ids per namespace, fed by every client (thread-safe)."""

    def __init__(self) -> None:
        self._ids: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def add(self, user_id: str, ids: list[str]) -> None:
        with self._lock:
            self._ids.setdefault(user_id, []).extend(ids)

    def pick(self, user_id: str, rng: random.Random) -> str | None:
        with self._lock:
            ids = self._ids.get(user_id)
            return rng.choice(ids) if ids else None

    def remove(self, user_id: str, memory_id: str) -> None:
        with self._lock:
            ids = self._ids.get(user_id, [])
            if memory_id in ids:
                ids.remove(memory_id)


WORDS = ("paris", "cat", "guitar", "lyon", "tennis", "coffee", "berlin", "python", "garden", "piano", "bike", "tea")


def _client_loop(i: int, base_url: str, key: str, n_ops: int, shared: list[str], pool: _Pool, seed: int,
                 out: list[OpRecord], acked: dict[str, list[dict[str, Any]]], statuses: Counter[int],
                 lock: threading.Lock, start: threading.Barrier, timeout: float) -> None:
    rng = random.Random(seed * 1000 + i)
    own = f"c{i}"
    local_statuses: Counter[int] = Counter()
    local_acked: list[tuple[str, dict[str, Any]]] = []
    local_out: list[OpRecord] = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as c:
        start.wait()
        for j in range(n_ops):
            user_id = rng.choice(shared) if rng.random() < 0.5 else own
            op = rng.choices(OPS, WEIGHTS)[0]
            target = pool.pick(user_id, rng) if op in ("update", "delete") else None
            if op in ("update", "delete") and target is None:
                op = "add"
            w1, w2 = rng.sample(WORDS, 2)
            req: tuple[str, str, dict[str, Any] | None]
            if op == "add":
                facts = [f"client {i} op {j} fact {k} likes {w1} and {w2}" for k in range(rng.randint(1, 3))]
                req = ("POST", "/v1/memories", {"facts": facts})
            elif op == "search":
                req = ("POST", "/v1/search", {"query": f"who likes {w1} or {w2}", "k": 5})
            elif op == "update":
                req = ("PUT", f"/v1/memories/{target}", {"text": f"client {i} op {j} now prefers {w1}"})
            elif op == "delete":
                req = ("DELETE", f"/v1/memories/{target}", None)
            else:
                req = ("GET", "/v1/memories", None)
            params: dict[str, Any] = {"user_id": user_id, **({"limit": 200} if op == "get_all" else {})}
            retries, status, body = 0, 0, None
            t0 = time.perf_counter()
            while True:
                try:
                    r = c.request(req[0], req[1], params=params, json=req[2])
                    status = r.status_code
                except httpx.TransportError:
                    status = 0
                local_statuses[status] += 1
                if status in RETRYABLE and retries < MAX_RETRIES:
                    retries += 1
                    wait = float(r.headers.get("retry-after", "0.05")) if status == 429 else 0.02 * retries
                    time.sleep(min(wait, 2.0))
                    continue
                if 200 <= status < 300:
                    body = r.json()
                break
            local_out.append(OpRecord(op, user_id, status, time.perf_counter() - t0, retries))
            if body is not None and op in ("add", "update", "delete"):
                local_acked.append((user_id, body))
                if op == "add":
                    pool.add(user_id, [ch["memory_id"] for ch in body["changes"]])
                elif op == "delete" and target is not None:
                    pool.remove(user_id, target)
            elif op == "delete" and status == 404 and target is not None:
                pool.remove(user_id, target)
    with lock:
        out.extend(local_out)
        statuses.update(local_statuses)
        for user_id, cs in local_acked:
            acked.setdefault(user_id, []).append(cs)


def run_workload(base_url: str, keys: list[str], *, ops_per_client: int, shared_namespaces: int = 2,
                 seed: int = 7, timeout: float = 60.0) -> WorkloadResult:
    """Run one client per key, ``ops_per_client`` operations each, all started together; wait for all."""
    shared = [f"shared{k}" for k in range(shared_namespaces)]
    pool = _Pool()
    out: list[OpRecord] = []
    acked: dict[str, list[dict[str, Any]]] = {}
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(keys) + 1)
    errors: list[BaseException] = []

    def guarded(i: int, key: str) -> None:
        try:
            _client_loop(i, base_url, key, ops_per_client, shared, pool, seed, out, acked, statuses, lock, start,
                         timeout)
        except BaseException as e:  # surfaced below: a client that crashed must fail the run
            errors.append(e)
            start.abort()

    threads = [threading.Thread(target=guarded, args=(i, k), name=f"load-client-{i}") for i, k in enumerate(keys)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed to start: reported below
        start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    user_ids = shared + [f"c{i}" for i in range(len(keys))]
    return WorkloadResult(out, acked, statuses, wall, len(keys), user_ids)
