"""Schemathesis against a live ``deltamem serve`` process (issue #19): no generated request gets a 5xx.

test_schemathesis.py runs a few examples per operation in-process; this one starts the real command on 127.0.0.1
(SQLite, hashing embedder, an OpenAI-compatible fake model on loopback that follows tests/server/conftest.py's
script, so that session jobs run the agent) and sends every operation of its published OpenAPI schema
``EXAMPLES`` generated requests over real HTTP, with a tenant key (the admin key for admin routes). The server's
log is shown with any failure.

Run: ``python -m pytest tests/server/test_schemathesis_live.py -s -p no:cacheprovider`` (-s prints the totals).
Three runs on the 2-core development machine: 27 operations, 1,041 requests each, 0 answered with a 5xx, 17-25
session jobs (none failed inside the server), 17-28 s.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from tests.llm.fake_openai import FakeChatServer, completion  # noqa: E402
from tests.server.conftest import scripted_reply  # noqa: E402

from deltamem.server.keys import KeyStore  # noqa: E402
from deltamem.server.state import StateDB  # noqa: E402

#: Generated requests per operation.
EXAMPLES = 40
ADMIN = "admin-key-for-live-fuzzing"
#: The query parameters that name a namespace; a request without any is given user_id=fuzz.
SCOPE = {"user_id", "agent_id", "namespace"}


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    # The import body is generated as an arbitrary string or bytes: a (nearly always invalid) export.
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() >= deadline:
            pytest.fail(f"the server did not become healthy within 60 s:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def fuzz(operation: Any, key: str, statuses: Counter[int]) -> None:
    """``EXAMPLES`` generated requests to one operation; counts their statuses and fails on a 5xx."""
    scoped = "user_id" in {p.name for p in operation.query}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        if scoped and not SCOPE & set(case.query or {}):  # else nearly all of them stop at "say whose memory"
            case.query = {**(case.query or {}), "user_id": "fuzz"}
        response = case.call(headers={"Authorization": f"Bearer {key}"}, timeout=30)
        statuses[response.status_code] += 1
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
        case.validate_response(response, checks=[not_a_server_error])

    call()


def _finished_jobs(base: str, key: str) -> list[dict[str, Any]]:
    """The tenant's session jobs, once none is pending or running (the generated sessions run in the background)."""
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(f"{base}/v1/jobs", params={"limit": 1000}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        jobs: list[dict[str, Any]] = r.json()
        if all(j["status"] in ("done", "failed") for j in jobs) or time.monotonic() >= deadline:
            return jobs
        time.sleep(0.2)


def test_live_server_answers_no_generated_request_with_a_server_error(tmp_path: Path) -> None:
    model = FakeChatServer(default=lambda body: (200, completion(scripted_reply(body["messages"]))))
    db = StateDB(tmp_path / "server.db")
    key = KeyStore(db).create(tenant="fuzz")[1]
    db.close()
    port = _free_port()
    env = {**os.environ, "DELTAMEM_STORE__PATH": str(tmp_path / "memory.db"), "DELTAMEM_EMBEDDER__PROVIDER": "hashing",
           "DELTAMEM_LLM__PROVIDER": "openai", "DELTAMEM_LLM__MODEL": "fake-chat",
           "DELTAMEM_LLM__BASE_URL": model.base_url, "OPENAI_API_KEY": "test-key",
           "DELTAMEM_SERVER__RATE_PER_S": "0", "DELTAMEM_ADMIN_KEY": ADMIN,
           "DELTAMEM_AGENT__MODE": "session"}  # scripted_reply speaks the whole-session protocol
    log = tmp_path / "server.log"
    with open(log, "wb") as out:  # a file, not a pipe: a server that logs much never blocks on a full pipe
        proc = subprocess.Popen([sys.executable, "-m", "deltamem.server", "--port", str(port), "--log-level",
                                 "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
    statuses: Counter[int] = Counter()
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc, log)
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            try:
                fuzz(operation, ADMIN if operation.path.startswith("/v1/admin") else key, statuses)
            except BaseException:
                print(f"server log:\n{log.read_text()[-6000:]}")
                raise
        jobs = _finished_jobs(base, key)
        internal = [j for j in jobs if j["status"] == "failed" and j["error"]["type"] == "InternalError"]
        assert not internal, f"session jobs failed with an internal error: {internal[:3]}\n{log.read_text()[-4000:]}"
        total, errors = sum(statuses.values()), sum(n for code, n in statuses.items() if code >= 500)
        print(f"\nlive schemathesis: {len(operations)} operations, {total} requests, {errors} with a 5xx, "
              f"{len(jobs)} session jobs (none failed inside the server); statuses {dict(sorted(statuses.items()))}")
        assert errors == 0
        assert total >= len(operations) * 5  # it did run: every operation got generated requests
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        model.close()
