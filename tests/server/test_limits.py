"""Idempotency keys, size limits, malformed input, rate limits, streamed export/import and job recovery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.server.conftest import Srv

from deltamem.server.jobs import JobStore
from deltamem.server.ratelimit import RateLimiter

U = {"user_id": "alice"}


def test_idempotent_add_replays_and_refuses_other_bodies(srv: Srv) -> None:
    h = {**srv.h(), "Idempotency-Key": "k-1"}
    first = srv.client.post("/v1/memories", params=U, headers=h, json={"facts": ["Alice runs"]})
    again = srv.client.post("/v1/memories", params=U, headers=h, json={"facts": ["Alice runs"]})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(srv.memory.change_sets(namespace="tenant:acme/user:alice")) == 1  # applied once
    other = srv.client.post("/v1/memories", params=U, headers=h, json={"facts": ["Alice swims"]})
    assert other.status_code == 409 and "different request" in other.json()["error"]["message"]
    other_scope = srv.client.post("/v1/memories", params={"user_id": "bob"}, headers=h, json={"facts": ["Alice runs"]})
    assert other_scope.status_code == 409
    # the same key is independent per tenant
    b = srv.client.post("/v1/memories", params=U, headers={**srv.h(srv.key_b), "Idempotency-Key": "k-1"},
                        json={"facts": ["Alice runs"]})
    assert b.status_code == 201 and b.json()["id"] != first.json()["id"]


def test_idempotent_session_returns_the_same_job(srv: Srv) -> None:
    h = {**srv.h(), "Idempotency-Key": "sess-7"}
    body = {"messages": [{"role": "user", "content": "I moved to Rome"}]}
    a = srv.client.post("/v1/sessions", params=U, headers=h, json=body).json()
    b = srv.client.post("/v1/sessions", params=U, headers=h, json=body).json()
    assert a["job_id"] == b["job_id"]
    srv.wait_job(a["job_id"])
    assert len(srv.client.get("/v1/jobs", headers=srv.h()).json()) == 1


def test_failed_request_releases_its_idempotency_key(srv: Srv) -> None:
    h = {**srv.h(), "Idempotency-Key": "k-2"}
    bad = srv.client.post("/v1/memories", params=U, headers=h, json={"ops": [{"op": "DELETE", "id": "zz"}]})
    assert bad.status_code == 422
    again = srv.client.post("/v1/memories", params=U, headers=h, json={"ops": [{"op": "DELETE", "id": "zz"}]})
    assert again.status_code == 422  # retried, not replayed, not "in progress"
    assert "idempotent-replayed" not in again.headers


def test_json_body_over_the_limit_is_413(make_server: Any) -> None:
    srv: Srv = make_server(config={"max_json_bytes": 2048})
    big = {"facts": ["x" * 4000]}
    r = srv.client.post("/v1/memories", params=U, headers=srv.h(), json=big)
    assert r.status_code == 413
    assert r.json()["error"] == {"type": "PayloadTooLarge", "message": "request body exceeds the limit of 2048 bytes",
                                 "details": {"limit": 2048}}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"facts": ["'
        for _ in range(10):
            yield b"y" * 500
        yield b'"]}'

    r2 = srv.client.post("/v1/memories", params=U, headers={**srv.h(), "Content-Type": "application/json"},
                         content=chunks())
    assert r2.status_code == 413 and r2.json()["error"]["type"] == "PayloadTooLarge"
    assert srv.memory.get_all(namespace="tenant:acme/user:alice") == []


def test_malformed_json_and_wrong_types(srv: Srv) -> None:
    r = srv.client.post("/v1/memories", params=U, headers={**srv.h(), "Content-Type": "application/json"},
                        content=b'{"facts": ["unterminated')
    assert r.status_code == 400 and r.json()["error"]["type"] == "MalformedJSON"
    r = srv.client.post("/v1/memories", params=U, headers=srv.h(), json={"facts": "not a list"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "ValidationError" and "facts" in err["message"] and err["details"][0]["loc"][-1] == "facts"
    r = srv.client.post("/v1/memories", params=U, headers=srv.h(), json={"facts": ["a"], "ops": []})
    assert r.status_code == 422 and "exactly one" in r.json()["error"]["message"]
    r = srv.client.post("/v1/search", params=U, headers=srv.h(), json={"query": "x", "k": 0})
    assert r.status_code == 422 and "k" in r.json()["error"]["message"]
    r = srv.client.post("/v1/memories", params={"user_id": "has space"}, headers=srv.h(), json={"facts": ["a"]})
    assert r.status_code == 400 and r.json()["error"]["type"] == "ConfigError"
    r = srv.client.get("/v1/memories", headers=srv.h())
    assert r.status_code == 400 and "whose memory" in r.json()["error"]["message"]
    r = srv.client.post("/v1/memories", params=U, headers=srv.h(), json={"facts": ["a"], "surprise": 1})
    assert r.status_code == 422 and "surprise" in r.json()["error"]["message"]
    r = srv.client.get("/v1/nope", headers=srv.h())
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
    r = srv.client.patch("/v1/memories", headers=srv.h())
    assert r.status_code == 405 and r.json()["error"]["type"] == "MethodNotAllowed"


def test_rate_limit_per_key_with_retry_after(make_server: Any) -> None:
    now = [0.0]
    srv: Srv = make_server(limiter=RateLimiter(rate=1.0, burst=2, clock=lambda: now[0]))
    codes = [srv.client.get("/v1/memories", params=U, headers=srv.h()).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = srv.client.get("/v1/memories", params=U, headers=srv.h())
    assert r.json()["error"]["type"] == "RateLimited" and r.headers["retry-after"] == "1"
    assert srv.client.get("/v1/memories", params=U, headers=srv.h(srv.key_b)).status_code == 200  # per key
    now[0] += 1.0
    assert srv.client.get("/v1/memories", params=U, headers=srv.h()).status_code == 200


def test_streamed_export_import_round_trip(make_server: Any) -> None:
    src: Srv = make_server(name="src")
    src.client.post("/v1/memories", params=U, headers=src.h(), json={"facts": [f"fact {i}" for i in range(300)]})
    first = src.client.get("/v1/memories", params={**U, "limit": 1}, headers=src.h()).json()["items"][0]
    src.client.put(f"/v1/memories/{first['id']}", params=U, headers=src.h(), json={"text": "fact zero"})
    with src.client.stream("GET", "/v1/export", params=U, headers=src.h()) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        chunks = list(r.iter_bytes())
    body = b"".join(chunks)
    lines = [json.loads(x) for x in body.splitlines()]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "footer" and lines[-1]["records"] == len(lines) - 2

    dst: Srv = make_server(name="dst")
    r = dst.client.post("/v1/import", headers={**dst.h(), "Content-Type": "application/x-ndjson"},
                        content=iter([body[i:i + 4096] for i in range(0, len(body), 4096)]))
    assert r.status_code == 200 and r.json() == {"records": len(lines) - 2}
    ns = "tenant:acme/user:alice"
    assert dst.memory.state(namespace=ns) == src.memory.state(namespace=ns)
    assert dst.memory.history(namespace=ns) == src.memory.history(namespace=ns)
    again = dst.client.post("/v1/import", headers=dst.h(), content=body)  # ids exist now: refused, nothing written
    assert again.status_code == 409 and len(dst.memory.get_all(namespace=ns)) == 300


def test_import_validates_everything_and_stays_in_the_tenant(make_server: Any) -> None:
    src: Srv = make_server(name="src")
    src.client.post("/v1/memories", params=U, headers=src.h(), json={"facts": ["one", "two"]})
    body = src.client.get("/v1/export", params=U, headers=src.h()).content
    dst: Srv = make_server(name="dst")
    truncated = b"\n".join(body.splitlines()[:-1])
    r = dst.client.post("/v1/import", headers=dst.h(), content=truncated)
    assert r.status_code == 422 and "truncated" in r.json()["error"]["message"]
    r = dst.client.post("/v1/import", headers=dst.h(), content=b"\xff\xfe not text")
    assert r.status_code == 422 and r.json()["error"]["type"] == "CorruptDataError"
    r = dst.client.post("/v1/import", headers=dst.h(srv_key := dst.key_b), content=body)  # acme's data, bravo's key
    assert r.status_code == 403 and "outside" in r.json()["error"]["message"] and srv_key
    assert dst.memory.store.namespaces() == []


def test_import_over_its_limit_is_413(make_server: Any) -> None:
    srv: Srv = make_server(config={"max_import_bytes": 4096})
    r = srv.client.post("/v1/import", headers=srv.h(), content=iter([b"x" * 1024] * 8))
    assert r.status_code == 413


def test_jobs_survive_a_restart(make_server: Any, tmp_path: Any) -> None:
    from deltamem.server.state import StateDB

    db = StateDB(tmp_path / "r-server.db")
    jobs = JobStore(db)
    ns = "tenant:acme/user:alice"
    running = jobs.create(tenant="acme", namespace=ns, request={"messages": [{"speaker": "u", "text": "a"}]})
    assert jobs.start(running.id)  # it was running when the process died
    pending = jobs.create(tenant="acme", namespace=ns, request={
        "messages": [{"speaker": "user", "text": "I play chess"}], "infer": True})
    db.close()
    srv: Srv = make_server(name="r")  # same server.db: recovery on start
    failed = srv.wait_job(running.id)
    assert failed["status"] == "failed" and failed["error"]["type"] == "Interrupted"
    assert running.session_id in failed["error"]["message"]
    done = srv.wait_job(pending.id)
    assert done["status"] == "done" and done["change_set"]["changes"][0]["after"]["text"] == "I play chess"


def test_jobs_of_one_namespace_run_in_order(make_server: Any) -> None:
    srv: Srv = make_server(config={"workers": 4})
    ids = []
    for i in range(6):
        r = srv.client.post("/v1/sessions", params=U, headers=srv.h(),
                            json={"messages": [{"role": "user", "content": f"step {i} done"}], "infer": False})
        ids.append(r.json()["job_id"])
    jobs = [srv.wait_job(j) for j in ids]
    assert all(j["status"] == "done" for j in jobs)
    order = [e.text for e in srv.memory.get_all(namespace="tenant:acme/user:alice")]
    assert order == [f"user: step {i} done" for i in range(6)]
    starts = [j["started_at"] for j in jobs]
    finishes = [j["finished_at"] for j in jobs]
    assert all(finishes[i] <= starts[i + 1] for i in range(5))  # never two at once in one namespace
