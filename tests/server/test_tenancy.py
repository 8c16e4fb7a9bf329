"""Tenancy over the whole route table: every route refuses missing, wrong and revoked keys, and a key of tenant B
never reads, changes or even sees tenant A's data, even with A's ids. The route table below must equal the app's
routes, so a new endpoint without a case here fails this file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests.server.conftest import Srv

SECRET = "acme-secret-fact"
FACTS = [f"{SECRET} number {w}" for w in "one two three four five six seven eight nine ten".split()]


@dataclass(frozen=True)
class Case:
    """One request against the route, built from tenant A's ids."""

    method: str
    path: str  # may hold {mid}, {cs}, {rid}, {job}, {kid}
    json: Any = None
    content: Callable[[dict[str, Any]], bytes] | None = None
    kind: str = "tenant"  # tenant | admin | public


ROUTES: dict[tuple[str, str], Case] = {c: v for c, v in {
    ("POST", "/v1/memories"): Case("POST", "/v1/memories", {"ops": [{"op": "UPDATE", "id": "{mid}", "text": "x"}]}),
    ("GET", "/v1/memories"): Case("GET", "/v1/memories"),
    ("DELETE", "/v1/memories"): Case("DELETE", "/v1/memories"),
    ("POST", "/v1/sessions"): Case("POST", "/v1/sessions", {"messages": [{"role": "user", "content": "WIPE."}]}),
    ("GET", "/v1/memories/{memory_id}"): Case("GET", "/v1/memories/{mid}"),
    ("PUT", "/v1/memories/{memory_id}"): Case("PUT", "/v1/memories/{mid}", {"text": "overwritten"}),
    ("DELETE", "/v1/memories/{memory_id}"): Case("DELETE", "/v1/memories/{mid}"),
    ("POST", "/v1/search"): Case("POST", "/v1/search", {"query": SECRET}),
    ("POST", "/v1/answer"): Case("POST", "/v1/answer", {"question": SECRET}),
    ("POST", "/v1/reset"): Case("POST", "/v1/reset", {"confirm": True}),
    ("GET", "/v1/history"): Case("GET", "/v1/history?memory_id={mid}"),
    ("GET", "/v1/change-sets"): Case("GET", "/v1/change-sets"),
    ("POST", "/v1/change-sets/{change_set_id}/revert"): Case("POST", "/v1/change-sets/{cs}/revert", {"force": True}),
    ("GET", "/v1/jobs"): Case("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/{job_id}"): Case("GET", "/v1/jobs/{job}"),
    ("GET", "/v1/review"): Case("GET", "/v1/review?status=all"),
    ("GET", "/v1/review/{item_id}"): Case("GET", "/v1/review/{rid}"),
    ("PUT", "/v1/review/{item_id}"): Case("PUT", "/v1/review/{rid}", {"ops": []}),
    ("GET", "/v1/review/{item_id}/diff"): Case("GET", "/v1/review/{rid}/diff"),
    ("POST", "/v1/review/{item_id}/approve"): Case("POST", "/v1/review/{rid}/approve"),
    ("POST", "/v1/review/{item_id}/reject"): Case("POST", "/v1/review/{rid}/reject"),
    ("GET", "/v1/export"): Case("GET", "/v1/export"),
    ("POST", "/v1/import"): Case("POST", "/v1/import", content=lambda ids: ids["export"]),
    ("GET", "/v1/admin/keys"): Case("GET", "/v1/admin/keys", kind="admin"),
    ("POST", "/v1/admin/keys"): Case("POST", "/v1/admin/keys", {"tenant": "acme"}, kind="admin"),
    ("DELETE", "/v1/admin/keys/{key_id}"): Case("DELETE", "/v1/admin/keys/{kid}", kind="admin"),
    ("GET", "/healthz"): Case("GET", "/healthz", kind="public"),
}.items()}

U = {"user_id": "alice"}


def app_routes(srv: Srv) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in srv.app.openapi()["paths"].items() for m in ops}


def test_route_table_covers_every_route(srv: Srv) -> None:
    assert set(ROUTES) == app_routes(srv)


def seed_tenant_a(srv: Srv) -> dict[str, Any]:
    """Memories, change sets, a review item, a job and an export in tenant A (user alice)."""
    cs = srv.client.post("/v1/memories", params=U, headers=srv.h(), json={"facts": FACTS}).json()
    r = srv.client.post("/v1/sessions", params=U, headers=srv.h(), json={
        "messages": [{"role": "user", "content": " ".join(f + "." for f in FACTS) + " WIPE."}]}).json()
    job = srv.wait_job(r["job_id"])
    assert job["review_id"]
    kid = srv.key_a.split("_")[1]
    export = srv.client.get("/v1/export", params=U, headers=srv.h()).content
    return {"mid": cs["changes"][0]["memory_id"], "cs": cs["id"], "rid": job["review_id"], "job": r["job_id"],
            "kid": kid, "export": export}


def snapshot(srv: Srv) -> Any:
    ns = "tenant:acme/user:alice"
    return (srv.memory.state(namespace=ns), srv.memory.history(namespace=ns),
            srv.memory.review.list(namespace=ns, status=None), srv.keys.list())


def send(srv: Srv, case: Case, ids: dict[str, Any], headers: dict[str, str]) -> Any:
    path = case.path.format(**{k: v for k, v in ids.items() if k != "export"})
    body = None
    if case.json is not None:
        import json

        body = json.loads(json.dumps(case.json).replace("{mid}", ids["mid"]))
    content = case.content(ids) if case.content else None
    return srv.client.request(case.method, path, params=U, headers=headers, json=body, content=content)


@pytest.fixture
def seeded(srv: Srv) -> tuple[Srv, dict[str, Any]]:
    return srv, seed_tenant_a(srv)


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("auth", ["missing", "wrong", "malformed", "revoked"])
def test_bad_keys_get_401_and_no_data(seeded: tuple[Srv, dict[str, Any]], route: tuple[str, str], auth: str) -> None:
    srv, ids = seeded
    case = ROUTES[route]
    if case.kind == "public":
        pytest.skip("public route")
    before = snapshot(srv)
    if auth == "revoked":
        record, key = srv.keys.create(tenant="acme")
        srv.keys.revoke(record.id)
        headers = srv.h(key)
    elif auth == "wrong":
        headers = srv.h(srv.key_a[:-4] + "AAAA")
    elif auth == "malformed":
        headers = {"X-API-Key": "not-a-key"}
    else:
        headers = {}
    r = send(srv, case, ids, headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["type"] == "Unauthorized" and SECRET not in r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert snapshot(srv)[:3] == before[:3]


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_other_tenant_never_reaches_tenant_a(seeded: tuple[Srv, dict[str, Any]], route: tuple[str, str]) -> None:
    srv, ids = seeded
    case = ROUTES[route]
    before = snapshot(srv)
    r = send(srv, case, ids, srv.h(srv.key_b))
    if case.kind == "admin":
        assert r.status_code == 403 and r.json()["error"]["type"] == "Forbidden"
    elif case.kind == "public":
        assert r.status_code == 200
    else:
        assert r.status_code in (200, 201, 202, 403, 404, 422), r.text
    assert SECRET not in r.text and "tenant:acme" not in r.text
    if r.status_code < 300:  # error messages may echo the id B sent; successful bodies hold nothing of A
        assert not any(ids[k] in r.text for k in ("mid", "cs", "rid", "job"))
    if route[1] in ("/v1/memories/{memory_id}", "/v1/change-sets/{change_set_id}/revert", "/v1/jobs/{job_id}") \
            or route[1].startswith("/v1/review/"):
        assert r.status_code == 404 and r.json()["error"]["type"] in ("NotFoundError", "NotFound")
    if r.status_code == 202:  # B's own job runs in B's namespace
        srv.wait_job(r.json()["job_id"], key=srv.key_b)
    assert snapshot(srv) == before


def test_admin_key_reads_no_memories(seeded: tuple[Srv, dict[str, Any]]) -> None:
    srv, ids = seeded
    for route, case in ROUTES.items():
        if case.kind != "tenant":
            continue
        r = send(srv, case, ids, srv.h(srv.admin_key))
        assert r.status_code == 403, route
        assert SECRET not in r.text


def test_namespace_parameter_cannot_escape_the_tenant(seeded: tuple[Srv, dict[str, Any]]) -> None:
    srv, _ = seeded
    for ns in ("tenant:acme/user:alice", "../tenant:acme/user:alice", "user:alice"):
        r = srv.client.get("/v1/memories", params={"namespace": ns}, headers=srv.h(srv.key_b))
        assert r.status_code == 200 and r.json()["items"] == []
        r = srv.client.post("/v1/search", params={"namespace": ns}, headers=srv.h(srv.key_b),
                            json={"query": SECRET})
        assert r.json()["results"] == []
