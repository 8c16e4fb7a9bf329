"""Load test: 16 concurrent clients against the real server (``deltamem serve`` in a subprocess), SQLite and
PostgreSQL stores, hashing embedder, no LLM (facts only).

Asserts no 5xx and no transport error, and that each namespace is exactly the replay of the change sets the clients
had acknowledged (see ``load_harness.check_namespace``). Latency percentiles and throughput are printed (``-s``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from load_harness import ServerProcess, ServerSpec, check_namespace, create_key_cli, create_keys_admin
from load_workload import run_workload

pytestmark = pytest.mark.integration

CLIENTS = 16
OPS_PER_CLIENT = 60


def _run(spec: ServerSpec) -> None:
    cli_key = create_key_cli(spec)  # one key the way an operator makes it, the rest through the admin API
    server = ServerProcess(spec)
    try:
        server.wait_ready()
        keys = [cli_key, *create_keys_admin(server.base_url, CLIENTS - 1)]
        result = run_workload(server.base_url, keys, ops_per_client=OPS_PER_CLIENT, timeout=45.0)
        summary = result.summary()
        print(f"\n[{spec.store}] " + json.dumps(summary))
        assert summary["ops"] == CLIENTS * OPS_PER_CLIENT
        fives = {s: n for s, n in result.statuses.items() if s >= 500 or s == 0}
        assert not fives, f"5xx or transport errors: {fives}\n{server.log_tail()}"
        # Every final answer is a success, or a write that lost a race for its memory (404 / 422, never applied).
        assert set(summary["final_statuses"]) <= {200, 201, 404, 422}, summary["final_statuses"]
        assert summary["per_op"]["add"]["ok"] > 0 and summary["per_op"]["update"]["ok"] > 0
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {keys[0]}"},
                          timeout=60) as c:
            checked = {u: check_namespace(c, u, result.acked.get(u, [])) for u in result.user_ids}
            _check_can_fail(c, result.acked.get("c0", []))
        acked = sum(1 for css in result.acked.values() for cs in css if cs["changes"])
        assert sum(ch.change_sets for ch in checked.values()) == acked
        assert checked["shared0"].history_records > 0
    finally:
        server.stop()


def _check_can_fail(c: httpx.Client, acked: list[dict[str, Any]]) -> None:
    """The checker catches a lost acknowledgement, a phantom write and a tampered answer."""
    assert acked, "client 0 had no acknowledged write"
    with pytest.raises(AssertionError, match="nobody acknowledged"):
        check_namespace(c, "c0", acked[:-1])
    tampered = copy.deepcopy(acked)
    first = next(cs for cs in tampered if cs["changes"] and cs["changes"][0]["after"])
    first["changes"][0]["after"]["text"] += " (tampered)"
    with pytest.raises(AssertionError, match="differs from its answer"):
        check_namespace(c, "c0", tampered)
    lost = {**acked[0], "id": "0" * 32}
    with pytest.raises(AssertionError, match="not in the log"):
        check_namespace(c, "c0", [*acked, lost])


def test_load_sqlite(tmp_path: Path) -> None:
    _run(ServerSpec(tmp_path, store="sqlite"))


def test_load_postgres(tmp_path: Path, pg_dsn: str) -> None:
    _run(ServerSpec(tmp_path, store="postgres", dsn=pg_dsn))
