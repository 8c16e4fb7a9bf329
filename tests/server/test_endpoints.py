"""Every endpoint group does what the Python API does, with the documented status codes and error bodies."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import Srv

U = {"user_id": "alice"}


def add(srv: Srv, facts: list[str], **params: Any) -> dict[str, Any]:
    r = srv.client.post("/v1/memories", json={"facts": facts}, params=params or U, headers=srv.h())
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_add_list_get_update_delete_revert(srv: Srv) -> None:
    cs = add(srv, ["Alice lives in Paris", "Alice has a cat"])
    assert cs["counts"] == {"ADD": 2, "UPDATE": 0, "DELETE": 0}
    assert cs["namespace"] == "user:alice"  # relative to the tenant
    ids = [c["memory_id"] for c in cs["changes"]]
    page = srv.client.get("/v1/memories", params={**U, "limit": 1}, headers=srv.h()).json()
    assert [m["text"] for m in page["items"]] == ["Alice lives in Paris"] and page["next_offset"] == 1
    page2 = srv.client.get("/v1/memories", params={**U, "limit": 1, "offset": 1}, headers=srv.h()).json()
    assert [m["text"] for m in page2["items"]] == ["Alice has a cat"]
    page3 = srv.client.get("/v1/memories", params={**U, "limit": 5, "offset": 1}, headers=srv.h()).json()
    assert page3["next_offset"] is None and len(page3["items"]) == 1
    got = srv.client.get(f"/v1/memories/{ids[0]}", params=U, headers=srv.h()).json()
    assert got["text"] == "Alice lives in Paris"
    up = srv.client.put(f"/v1/memories/{ids[0]}", json={"text": "Alice lives in Lyon"}, params=U, headers=srv.h())
    assert up.status_code == 200 and up.json()["changes"][0]["before"]["text"] == "Alice lives in Paris"
    assert srv.memory.get(ids[0], namespace="tenant:acme/user:alice").text == "Alice lives in Lyon"
    de = srv.client.delete(f"/v1/memories/{ids[1]}", params=U, headers=srv.h()).json()
    assert de["counts"]["DELETE"] == 1
    missing = srv.client.get(f"/v1/memories/{ids[1]}", params=U, headers=srv.h())
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFoundError"
    hist = srv.client.get("/v1/history", params={**U, "memory_id": ids[0]}, headers=srv.h()).json()["items"]
    assert [h["kind"] for h in hist] == ["ADD", "UPDATE"]
    sets = srv.client.get("/v1/change-sets", params=U, headers=srv.h()).json()["items"]
    assert [s["id"] for s in sets] == [de["id"], up.json()["id"], cs["id"]]
    rv = srv.client.post(f"/v1/change-sets/{de['id']}/revert", params=U, headers=srv.h())
    assert rv.status_code == 200 and rv.json()["reverts"] == de["id"]
    again = srv.client.post(f"/v1/change-sets/{de['id']}/revert", params=U, headers=srv.h())
    assert again.status_code == 409 and again.json()["error"]["type"] == "ConflictError"
    assert sorted(e.text for e in srv.memory.get_all(namespace="tenant:acme/user:alice")) == [
        "Alice has a cat", "Alice lives in Lyon"]


def test_ops_search_delete_all_reset(srv: Srv) -> None:
    r = srv.client.post("/v1/memories", params=U, headers=srv.h(),
                        json={"ops": [{"op": "ADD", "text": "Bob plays the violin", "metadata": {"topic": "music"}},
                                      {"op": "ADD", "text": "Bob works at a bakery"}]})
    assert r.status_code == 201
    hits = srv.client.post("/v1/search", params=U, headers=srv.h(),
                           json={"query": "violin", "k": 1, "mode": "keyword"}).json()["results"]
    assert [h["memory"]["text"] for h in hits] == ["Bob plays the violin"] and hits[0]["score"] > 0
    filtered = srv.client.post("/v1/search", params=U, headers=srv.h(),
                               json={"query": "Bob", "filters": {"metadata": {"topic": "music"}}}).json()
    assert [h["memory"]["text"] for h in filtered["results"]] == ["Bob plays the violin"]
    da = srv.client.delete("/v1/memories", params=U, headers=srv.h()).json()
    assert da["counts"]["DELETE"] == 2
    assert srv.client.get("/v1/memories", params=U, headers=srv.h()).json()["items"] == []
    bad = srv.client.post("/v1/reset", params=U, headers=srv.h(), json={"confirm": False})
    assert bad.status_code == 422
    reset = srv.client.post("/v1/reset", params=U, headers=srv.h(), json={"confirm": True}).json()
    assert reset["removed"] > 0
    assert srv.client.get("/v1/change-sets", params=U, headers=srv.h()).json()["items"] == []


def test_invalid_operation_is_422_with_index(srv: Srv) -> None:
    r = srv.client.post("/v1/memories", params=U, headers=srv.h(),
                        json={"ops": [{"op": "ADD", "text": "ok"}, {"op": "UPDATE", "id": "nope", "text": "x"}]})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "InvalidOperation" and err["details"]["index"] == 1 and "nope" in err["message"]
    assert srv.memory.get_all(namespace="tenant:acme/user:alice") == []  # nothing of the change set was applied


def test_session_job_flow(srv: Srv) -> None:
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(), json={
        "messages": [{"role": "user", "content": "I adopted a dog named Rex"}], "session_date": "2023-05-08"})
    assert r.status_code == 202
    acc = r.json()
    assert acc["status"] == "pending" and acc["status_url"] == f"/v1/jobs/{acc['job_id']}"
    assert r.headers["location"] == acc["status_url"]
    job = srv.wait_job(acc["job_id"])
    assert job["status"] == "done" and job["review_id"] is None and job["error"] is None
    assert [c["after"]["text"] for c in job["change_set"]["changes"]] == ["I adopted a dog named Rex"]
    assert job["change_set"]["session_id"] == job["session_id"] == acc["job_id"]
    assert job["started_at"] is not None and job["finished_at"] >= job["started_at"]
    listed = srv.client.get("/v1/jobs", headers=srv.h()).json()
    assert [j["id"] for j in listed] == [acc["job_id"]]


def test_job_lists_repaired_apart_from_rejected_ops(srv: Srv) -> None:
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(), json={
        "messages": [{"role": "user", "content": "GHOST I adopted a dog named Rex"}]})
    job = srv.wait_job(r.json()["job_id"])
    assert [c["after"]["text"] for c in job["change_set"]["changes"]] == ["GHOST I adopted a dog named Rex"]
    assert [x["reason"] for x in job["repaired"]] == ["UPDATE of unknown id 'm99' kept as ADD"]
    assert [x["reason"] for x in job["rejected"]] == ["DELETE of unknown id 'm98' dropped"]


def test_raw_session_without_inference(srv: Srv) -> None:
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(), json={
        "messages": [{"speaker": "Alice", "text": "hello there"}], "infer": False, "session_id": "s1"})
    job = srv.wait_job(r.json()["job_id"])
    assert job["session_id"] == "s1" and job["change_set"]["changes"][0]["after"]["text"] == "Alice: hello there"


def test_agent_output_error_fails_the_job_with_raw_output(srv: Srv) -> None:
    add(srv, ["Alice likes tea"])
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(),
                        json={"messages": [{"role": "user", "content": "GARBAGE please"}]})
    job = srv.wait_job(r.json()["job_id"])
    assert job["status"] == "failed" and job["change_set"] is None
    assert job["error"]["type"] == "AgentOutputError" and "not going to answer" in job["error"]["details"]["raw"]
    assert [e.text for e in srv.memory.get_all(namespace="tenant:acme/user:alice")] == ["Alice likes tea"]


def test_review_queue_flow(srv: Srv) -> None:
    facts = [f"Alice fact number {w}" for w in "one two three four five six seven eight nine ten".split()]
    add(srv, facts)
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(), json={
        "messages": [{"role": "user", "content": " ".join(f + "." for f in facts) + " WIPE everything."}]})
    job = srv.wait_job(r.json()["job_id"])
    assert job["status"] == "done" and job["change_set"] is None
    rid = job["review_id"]
    items = srv.client.get("/v1/review", params=U, headers=srv.h()).json()["items"]
    assert [i["id"] for i in items] == [rid] and items[0]["status"] == "pending"
    diff = srv.client.get(f"/v1/review/{rid}/diff", params=U, headers=srv.h()).json()
    assert diff["counts"]["DELETE"] == 10
    item = srv.client.get(f"/v1/review/{rid}", params=U, headers=srv.h()).json()
    edited = srv.client.put(f"/v1/review/{rid}", params=U, headers=srv.h(), json={"ops": item["ops"][:1]}).json()
    assert len(edited["ops"]) == 1
    bad = srv.client.put(f"/v1/review/{rid}", params=U, headers=srv.h(), json={"ops": [{"op": "FROB"}]})
    assert bad.status_code == 422 and bad.json()["error"]["type"] == "InvalidOperation"
    cs = srv.client.post(f"/v1/review/{rid}/approve", params=U, headers=srv.h(), json={"by": "carol"}).json()
    assert cs["counts"]["DELETE"] == 1 and cs["actor"] == "review:carol"
    assert len(srv.memory.get_all(namespace="tenant:acme/user:alice")) == 9
    again = srv.client.post(f"/v1/review/{rid}/reject", params=U, headers=srv.h())
    assert again.status_code == 409
    done = srv.client.get("/v1/review", params={**U, "status": "approved"}, headers=srv.h()).json()["items"]
    assert done[0]["change_set_id"] == cs["id"] and done[0]["resolved_by"] == "carol"


def test_review_reject_defaults_to_key_id(srv: Srv) -> None:
    facts = [f"Bob fact number {w}" for w in "one two three four five six seven eight nine ten".split()]
    add(srv, facts)
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(), json={
        "messages": [{"role": "user", "content": " ".join(f + "." for f in facts) + " WIPE."}]})
    rid = srv.wait_job(r.json()["job_id"])["review_id"]
    rej = srv.client.post(f"/v1/review/{rid}/reject", params=U, headers=srv.h()).json()
    key_id = srv.key_a.split("_")[1]
    assert rej["status"] == "rejected" and rej["resolved_by"] == f"key:{key_id}"
    assert len(srv.memory.get_all(namespace="tenant:acme/user:alice")) == 10


def test_answer(srv: Srv) -> None:
    add(srv, ["Alice's favourite colour is green"])
    r = srv.client.post("/v1/answer", params=U, headers=srv.h(), json={"question": "favourite colour?", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert "green" in body["answer"] and len(body["memory_ids"]) == 1
    assert body["memories"][0]["namespace"] == "user:alice"


def test_healthz_is_public(srv: Srv) -> None:
    r = srv.client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_admin_key_routes(srv: Srv) -> None:
    made = srv.client.post("/v1/admin/keys", headers=srv.h(srv.admin_key), json={"tenant": "charlie"})
    assert made.status_code == 201
    key = made.json()["key"]
    assert srv.client.post("/v1/memories", json={"facts": ["c"]}, params=U, headers=srv.h(key)).status_code == 201
    listed = srv.client.get("/v1/admin/keys", headers=srv.h(srv.admin_key), params={"tenant": "charlie"}).json()
    assert [k["id"] for k in listed["items"]] == [made.json()["id"]] and "key" not in listed["items"][0]
    rv = srv.client.delete(f"/v1/admin/keys/{made.json()['id']}", headers=srv.h(srv.admin_key))
    assert rv.status_code == 200 and rv.json()["revoked_at"] is not None
    assert srv.client.get("/v1/memories", params=U, headers=srv.h(key)).status_code == 401
    bad = srv.client.post("/v1/admin/keys", headers=srv.h(srv.admin_key), json={"tenant": "bad/tenant"})
    assert bad.status_code == 400 and "tenant" in bad.json()["error"]["message"]
