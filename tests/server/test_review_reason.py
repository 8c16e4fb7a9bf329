"""A held change set says why over REST (issue #19, finding 5): the rule, the counts and the window."""

from __future__ import annotations

from tests.server.conftest import Srv

U = {"user_id": "alice"}


def test_agent_wiping_a_two_memory_namespace_is_held_with_its_reason(srv: Srv) -> None:
    facts = ["Alice keeps a blue bicycle", "Alice grows tomatoes on her balcony"]
    assert srv.client.post("/v1/memories", json={"facts": facts}, params=U, headers=srv.h()).status_code == 201
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(), json={
        "messages": [{"role": "user", "content": " ".join(f + "." for f in facts) + " WIPE them."}]})
    job = srv.wait_job(r.json()["job_id"])
    assert job["status"] == "done" and job["change_set"] is None and job["review_id"]
    assert len(srv.memory.get_all(namespace="tenant:acme/user:alice")) == 2
    item = srv.client.get(f"/v1/review/{job['review_id']}", params=U, headers=srv.h()).json()
    assert item["reason"].startswith("emptying: this change set deletes the last 2 memories")
    assert "(window: this change set alone;" in item["reason"]
    listed = srv.client.get("/v1/review", params=U, headers=srv.h()).json()["items"]
    assert [i["reason"] for i in listed] == [item["reason"]]
    # The explicit API is not an agent session: the user may empty the namespace.
    out = srv.client.request("DELETE", "/v1/memories", params=U, headers=srv.h())
    assert out.status_code == 200, out.text
    assert srv.memory.get_all(namespace="tenant:acme/user:alice") == []
