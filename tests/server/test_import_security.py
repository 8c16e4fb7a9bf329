"""Findings 1 and 7 of #19 through the REST API, with two tenants: no import, revert or review approval writes
outside the caller's namespace; import errors are 4xx (never 500) and leave the store unchanged; an import cannot
probe another tenant for change-set ids; no error message shows the internal ``tenant:<t>/`` prefix.
"""

from __future__ import annotations

import json
from typing import Any

from tests.api.export_files import full_dump, parse, records, sealed, v1
from tests.server.conftest import Srv

from deltamem.core import to_iso
from deltamem.core.codec import entry_to_dict

A = "tenant:acme/user:alice"
U = {"user_id": "alice"}
M = {"user_id": "mallory"}


def add(srv: Srv, facts: list[str], key: str | None = None, params: dict[str, str] | None = None) -> dict[str, Any]:
    r = srv.client.post("/v1/memories", params=params or U, headers=srv.h(key), json={"facts": facts})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def export(srv: Srv, key: str | None = None, params: dict[str, str] | None = None) -> str:
    r = srv.client.get("/v1/export", params=params or U, headers=srv.h(key))
    assert r.status_code == 200
    return r.text


def post_import(srv: Srv, text: str, key: str | None = None) -> Any:
    return srv.client.post("/v1/import", headers={**srv.h(key), "Content-Type": "application/x-ndjson"},
                           content=text.encode("utf-8"))


def assert_clean_error(r: Any, status: int) -> None:
    assert r.status_code == status, r.text
    assert "tenant:" not in r.text


def test_bravo_cannot_plant_a_memory_in_acme_through_import_and_revert(srv: Srv) -> None:
    mid = add(srv, ["acme's own fact"])["changes"][0]["memory_id"]
    add(srv, ["mallory's fact"], key=srv.key_b, params=M)
    victim = srv.memory.get(mid, namespace=A)
    lines = parse(export(srv, key=srv.key_b, params=M))
    ns = lines[0]["namespaces"][0]
    assert ns == "tenant:bravo/user:mallory"
    forged = [
        {"type": "change_set", "id": "forged-cs", "namespace": ns, "created_at": to_iso(victim.created_at),
         "session_id": None, "actor": "user", "ops": [], "counts": {"ADD": 0, "UPDATE": 0, "DELETE": 1},
         "reverts": None, "reverted_by": None, "note": ""},
        {"type": "history", "change_set_id": "forged-cs", "namespace": ns, "memory_id": mid, "kind": "DELETE",
         "before": entry_to_dict(victim.evolve(text="planted by bravo")), "after": None, "session_id": None,
         "actor": "user", "created_at": to_iso(victim.created_at)},
    ]
    before = full_dump(srv.memory.store)
    for text in (sealed(lines[0], forged), v1(lines[0], forged)):
        r = post_import(srv, text, key=srv.key_b)
        assert_clean_error(r, 422)
        assert r.json()["error"]["type"] == "CorruptDataError" and "namespace" in r.json()["error"]["message"]
        assert full_dump(srv.memory.store) == before
    r = srv.client.post("/v1/change-sets/forged-cs/revert", params=M, headers=srv.h(srv.key_b), json={"force": True})
    assert_clean_error(r, 404)
    assert srv.memory.get(mid, namespace=A).text == "acme's own fact"


def test_a_duplicated_change_set_line_is_422_not_500(srv: Srv) -> None:
    add(srv, ["one", "two"])
    lines = parse(export(srv))
    recs = records(lines)
    dup = next(r for r in recs if r["type"] == "change_set")
    recs.append(json.loads(json.dumps(dup)))
    srv.memory.reset(namespace=A)
    before = full_dump(srv.memory.store)
    for text in (sealed(lines[0], recs), v1(lines[0], recs)):
        r = post_import(srv, text)
        assert_clean_error(r, 422)
        assert "twice" in r.json()["error"]["message"]
        assert full_dump(srv.memory.store) == before


def test_corrupted_and_inconsistent_files_are_422_and_write_nothing(srv: Srv) -> None:
    add(srv, ["one", "two"])
    text = export(srv)
    srv.memory.reset(namespace=A)
    add(srv, ["kept"], params={"user_id": "other"})
    before = full_dump(srv.memory.store)
    lines = parse(text)
    recs = records(lines)
    next(r for r in recs if r["type"] == "memory")["memory"]["text"] = "never written by a change set"
    for bad in (text.replace('"one"', '"onf"'), sealed(lines[0], recs), v1(lines[0], recs)):
        r = post_import(srv, bad)
        assert_clean_error(r, 422)
        assert full_dump(srv.memory.store) == before
    assert post_import(srv, text).status_code == 200  # the untouched file still imports


def test_import_cannot_probe_another_tenant_for_change_set_ids(srv: Srv) -> None:
    """bravo imports acme's change-set ids into its own namespace: answered like any fresh id (200), where a global
    uniqueness check would answer 409 and so tell bravo that the ids exist elsewhere."""
    add(srv, ["acme fact"])
    acme = export(srv)
    acme_before = [r for r in full_dump(srv.memory.store) if r[0] == A]
    lines = parse(acme.replace("tenant:acme/", "tenant:bravo/"))
    text = sealed(lines[0], records(lines))
    r = post_import(srv, text, key=srv.key_b)
    assert r.status_code == 200, r.text
    assert [x for x in full_dump(srv.memory.store) if x[0] == A] == acme_before
    again = post_import(srv, text, key=srv.key_b)  # within bravo's own namespace the ids clash
    assert_clean_error(again, 409)
    assert "user:alice" in again.json()["error"]["message"]


def test_error_messages_name_namespaces_relative_to_the_tenant(srv: Srv) -> None:
    mid = add(srv, ["fact"])["changes"][0]["memory_id"]
    for r in (
        srv.client.get("/v1/memories/nope", params=U, headers=srv.h()),
        srv.client.put("/v1/memories/nope", params=U, headers=srv.h(), json={"text": "x"}),
        srv.client.post("/v1/change-sets/nope/revert", params=U, headers=srv.h()),
        srv.client.get("/v1/review/nope", params=U, headers=srv.h()),
        srv.client.get(f"/v1/memories/{mid}", params=U, headers=srv.h(srv.key_b)),
    ):
        assert r.status_code == 404
        assert "tenant:" not in r.text and "user:alice" in r.json()["error"]["message"]
    conflict = post_import(srv, export(srv))
    assert_clean_error(conflict, 409)


def test_review_approval_cannot_reach_another_tenant(srv: Srv) -> None:
    bravo_mid = add(srv, ["bravo's fact"], key=srv.key_b)["changes"][0]["memory_id"]
    facts = [f"Alice fact number {w}" for w in "one two three four five six seven eight nine ten".split()]
    add(srv, facts)
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(), json={
        "messages": [{"role": "user", "content": " ".join(f + "." for f in facts) + " WIPE everything."}]})
    rid = srv.wait_job(r.json()["job_id"])["review_id"]
    assert rid
    edited = srv.client.put(f"/v1/review/{rid}", params=U, headers=srv.h(),
                            json={"ops": [{"op": "DELETE", "id": bravo_mid}]})
    assert edited.status_code == 200
    before = full_dump(srv.memory.store)
    approved = srv.client.post(f"/v1/review/{rid}/approve", params=U, headers=srv.h())
    assert_clean_error(approved, 422)
    assert full_dump(srv.memory.store) == before
    assert srv.memory.get(bravo_mid, namespace="tenant:bravo/user:alice").text == "bravo's fact"
