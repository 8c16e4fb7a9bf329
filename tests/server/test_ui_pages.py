"""The inspector at /ui over HTTP (no browser): every page renders for its tenant, every flow writes what it says,
and nothing crosses tenants, runs a script, or accepts a cross-site form."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import SESSION_MODE, Srv, scripted_reply

from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm.scripted import ScriptedChatModel
from deltamem.server import ServerConfig, create_app
from deltamem.server.keys import KeyStore

PAGES = ["/ui/", "/ui/namespace?ns={ns}", "/ui/memories?ns={ns}", "/ui/memories?ns={ns}&status=deleted",
         "/ui/memories?ns={ns}&q=Boston", "/ui/memory?ns={ns}&id={mid}", "/ui/changes?ns={ns}",
         "/ui/change?ns={ns}&id={cs}", "/ui/change/revert?ns={ns}&id={cs}", "/ui/review?ns={ns}",
         "/ui/jobs", "/ui/ingest", "/ui/import"]


def sign_in(client: TestClient, key: str) -> str:
    """Sign in; returns the CSRF token of the session's forms."""
    r = client.post("/ui/login", data={"key": key}, follow_redirects=True)
    assert r.status_code == 200 and "Namespaces" in r.text, r.text[:500]
    return csrf_of(client.get("/ui/import").text)


def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m is not None
    return m.group(1)


def ingest(srv: Srv, key: str, ns: str, lines: list[str]) -> dict[str, Any]:
    """A session through the REST API, waited for; returns the job."""
    r = srv.client.post(f"/v1/sessions?namespace={ns}", headers=srv.h(key),
                        json={"messages": [{"speaker": "Ana", "text": t} for t in lines]})
    assert r.status_code == 202, r.text
    return srv.wait_job(r.json()["job_id"], key)


@pytest.fixture(params=["sqlite", "postgres"])
def srv(request: pytest.FixtureRequest, make_server: Any) -> Iterator[Srv]:
    """The test server on SQLite, and the same on PostgreSQL (store and server tables, pgserver)."""
    if request.param == "sqlite":
        yield make_server()
        return
    from deltamem.server.state import PostgresStateDB
    from deltamem.stores.postgres import PostgresStore

    dsn = request.getfixturevalue("pg_dsn")
    memory = Memory(store=PostgresStore(dsn), embedder=HashingEmbedder(dim=64),
                    llm=ScriptedChatModel(default=scripted_reply), config=SESSION_MODE)
    db = PostgresStateDB(dsn)
    app = create_app(ServerConfig(admin_key="admin-secret-key-for-tests", rate_per_s=0), memory=memory, db=db)
    keys = KeyStore(db)
    with TestClient(app) as client:
        yield Srv(client, app, keys, keys.create(tenant="acme")[1], keys.create(tenant="bravo")[1],
                  "admin-secret-key-for-tests", memory, db)  # type: ignore[arg-type]
    memory.close()
    db.close()


@pytest.fixture
def seeded(srv: Srv) -> dict[str, str]:
    job = ingest(srv, srv.key_a, "user:ana", ["I moved to Boston in May.", "I work as a nurse."])
    cs = job["change_set"]["id"]
    mid = job["change_set"]["changes"][0]["memory_id"]
    return {"ns": "user:ana", "cs": cs, "mid": mid}


def test_signing_in_needs_a_tenant_key_and_every_page_needs_a_session(srv: Srv, seeded: dict[str, str]) -> None:
    for path in PAGES:
        r = srv.client.get(path.format(**seeded), follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("/ui/login"), path
    assert srv.client.post("/ui/login", data={"key": "dm_nope_nope"}).status_code == 401
    assert srv.client.post("/ui/login", data={"key": srv.admin_key}).status_code == 403
    sign_in(srv.client, srv.key_a)
    cookie = next(c for c in srv.client.cookies.jar if c.name == "deltamem_ui")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/ui"
    assert "samesite=strict" in srv.client.post("/ui/login", data={"key": srv.key_a},
                                                 follow_redirects=False).headers["set-cookie"].lower()


def test_every_page_renders_with_the_security_headers(srv: Srv, seeded: dict[str, str]) -> None:
    sign_in(srv.client, srv.key_a)
    for path in PAGES:
        r = srv.client.get(path.format(**seeded))
        assert r.status_code == 200, (path, r.text[:300])
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY" and "<script" not in r.text
    memory = srv.client.get("/ui/memory?ns={ns}&id={mid}".format(**seeded)).text
    text = html.unescape(re.sub(r"<[^>]+>", "", memory))
    assert "Ana: I moved to Boston in May." in text and 'class="source"' in memory  # the excerpt, its line marked
    assert "I moved to Boston in May." in srv.client.get("/ui/memories?ns=user:ana&q=Boston").text


def test_another_tenants_ids_are_404_on_every_page_and_form(srv: Srv, seeded: dict[str, str]) -> None:
    other = ingest(srv, srv.key_b, "user:bob", ["I live in Oslo."])
    theirs = {"ns": "user:bob", "cs": other["change_set"]["id"], "mid": other["change_set"]["changes"][0]["memory_id"]}
    token = sign_in(srv.client, srv.key_a)
    for path in PAGES:
        if "{" not in path:
            continue
        for ids in (theirs, {**seeded, "cs": theirs["cs"], "mid": theirs["mid"]}):
            if ids["ns"] == seeded["ns"] and "{cs}" not in path and "{mid}" not in path:
                continue  # this tenant's own namespace page
            r = srv.client.get(path.format(**ids))
            assert r.status_code == 404, (path, ids, r.status_code)
            assert "Oslo" not in r.text
    for url, data in (("/ui/change/revert", {"ns": "user:ana", "id": theirs["cs"]}),
                      ("/ui/change/revert", {"ns": "user:bob", "id": theirs["cs"]}),
                      ("/ui/review/decide", {"ns": "user:ana", "id": "0" * 32, "decision": "approve"})):
        assert srv.client.post(url, data={**data, "csrf": token}).status_code == 404
    assert srv.client.get("/ui/jobs?ids=" + other["id"]).status_code == 404
    assert srv.client.get("/ui/export?ns=user:bob").status_code == 404
    assert "user:bob" not in srv.client.get("/ui/").text
    assert [e.text for e in srv.memory.get_all(namespace="tenant:bravo/user:bob")] == ["I live in Oslo."]


def test_stored_html_is_shown_as_text(srv: Srv) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    job = ingest(srv, srv.key_a, "user:eve", [evil])
    sign_in(srv.client, srv.key_a)
    for path in ("/ui/memories?ns=user:eve", f"/ui/change?ns=user:eve&id={job['change_set']['id']}"):
        page = srv.client.get(path).text
        assert "<script>" not in page and "<img" not in page
        assert html.escape(evil, quote=False) in page.replace("&#34;", '"').replace("&#39;", "'")


def test_a_cross_site_post_is_refused(srv: Srv, seeded: dict[str, str]) -> None:
    token = sign_in(srv.client, srv.key_a)
    data = {"ns": seeded["ns"], "id": seeded["cs"], "csrf": token}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert srv.client.post("/ui/change/revert", data=data, headers=headers).status_code == 403
    assert srv.client.post("/ui/change/revert", data={**data, "csrf": "forged"}).status_code == 403
    assert srv.client.post("/ui/login", data={"key": srv.key_a},
                           headers={"Origin": "https://evil.example"}).status_code == 403
    assert len(srv.memory.get_all(namespace="tenant:acme/user:ana")) == 2  # nothing was reverted


def test_revert_after_confirmation_and_a_dependent_revert_is_refused(srv: Srv, seeded: dict[str, str]) -> None:
    token = sign_in(srv.client, srv.key_a)
    ns = "tenant:acme/user:ana"
    r = srv.client.post("/ui/change/revert", data={"ns": "user:ana", "id": seeded["cs"], "csrf": token})
    assert r.status_code == 200 and "reverts" in r.text
    assert srv.memory.get_all(namespace=ns) == []
    again = srv.client.post("/ui/change/revert", data={"ns": "user:ana", "id": seeded["cs"], "csrf": token})
    assert again.status_code == 409 and "already reverted" in again.text


def test_a_revert_that_a_later_change_set_depends_on_is_refused_on_the_page(srv: Srv, seeded: dict[str, str]) -> None:
    token = sign_in(srv.client, srv.key_a)
    r = srv.client.put(f"/v1/memories/{seeded['mid']}", params={"namespace": "user:ana"}, headers=srv.h(),
                       json={"text": "I moved to Lisbon in May."})
    assert r.status_code == 200, r.text
    page = srv.client.post("/ui/change/revert", data={"ns": "user:ana", "id": seeded["cs"], "csrf": token})
    assert page.status_code == 409 and 'id="error"' in page.text
    assert "I moved to Lisbon in May." in [e.text for e in srv.memory.get_all(namespace="tenant:acme/user:ana")]


def test_an_expired_session_or_a_revoked_key_signs_out(srv: Srv) -> None:
    sign_in(srv.client, srv.key_a)
    srv.db.execute("UPDATE ui_sessions SET expires_at = ?", ("2020-01-01T00:00:00Z",))
    r = srv.client.get("/ui/", follow_redirects=True)
    assert r.url.path == "/ui/login" and "session has ended" in r.text
    sign_in(srv.client, srv.key_a)
    srv.keys.revoke(srv.key_a.split("_")[1])
    assert srv.client.get("/ui/", follow_redirects=False).headers["location"].startswith("/ui/login")


def test_ingest_export_import_round_trip(srv: Srv) -> None:
    token = sign_in(srv.client, srv.key_a)
    convo = json.dumps([{"role": "user", "content": "My dog is called Rex."}])
    r = srv.client.post("/ui/ingest", data={"ns": "user:rex", "conversation": convo, "csrf": token},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/jobs?ids=")
    job_id = r.headers["location"].split("ids=")[1]
    srv.wait_job(job_id)
    landed = srv.client.get(f"/ui/jobs?ids={job_id}", follow_redirects=False)  # one finished session: its change set
    assert landed.status_code == 303 and landed.headers["location"].startswith("/ui/change?ns=user%3Arex&id=")
    assert "My dog is called Rex." in srv.client.get(landed.headers["location"]).text
    bad = srv.client.post("/ui/ingest", data={"ns": "user:rex", "conversation": "{not json", "csrf": token})
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    export = srv.client.get("/ui/export?ns=user:rex")
    assert export.status_code == 200 and export.text.count("\n") >= 3
    srv.memory.reset(namespace="tenant:acme/user:rex")
    r = srv.client.post("/ui/import", data={"csrf": token},
                        files={"file": ("x.jsonl", io.BytesIO(export.content), "application/x-ndjson")})
    assert r.status_code == 200 and "Imported" in r.text
    assert [e.text for e in srv.memory.get_all(namespace="tenant:acme/user:rex")] == ["My dog is called Rex."]
    corrupt = srv.client.post("/ui/import", data={"csrf": token},
                              files={"file": ("x.jsonl", io.BytesIO(export.content[:-30]), "application/x-ndjson")})
    assert corrupt.status_code == 422 and "error" in corrupt.text


def test_a_change_shows_the_line_its_memory_was_written_from(srv: Srv) -> None:
    r = srv.client.post("/v1/memories", params={"namespace": "user:ev"}, headers=srv.h(), json={"ops": [
        {"op": "ADD", "text": "Ana sold her Honda", "metadata": {"evidence": "Ana: I sold my Honda last Friday"}}]})
    sign_in(srv.client, srv.key_a)
    page = srv.client.get(f"/ui/change?ns=user:ev&id={r.json()['id']}").text
    assert "from: “Ana: I sold my Honda last Friday”" in html.unescape(page)


def test_ingest_an_uploaded_file_and_refuse_a_bad_one(srv: Srv) -> None:
    token = sign_in(srv.client, srv.key_a)
    lines = "\n".join(json.dumps({"id": f"s{i}", "date": f"2024-05-0{i}", "messages": [
        {"speaker": "Ana", "text": f"Fact {i} about Ana."}]}) for i in (1, 2))
    r = srv.client.post("/ui/ingest", data={"ns": "user:up", "csrf": token},
                        files={"file": ("two.jsonl", io.BytesIO(lines.encode()), "application/x-ndjson")})
    assert r.status_code == 200 and r.url.params["ids"].count(",") == 1  # one job per session
    for job_id in r.url.params["ids"].split(","):
        srv.wait_job(job_id)
    assert sorted(e.text for e in srv.memory.get_all(namespace="tenant:acme/user:up")) == [
        "Fact 1 about Ana.", "Fact 2 about Ana."]
    for name, body, message in (("latin1.json", "Café".encode("latin-1"), "not UTF-8"),
                                ("empty.json", b"[]", "expected a list of sessions")):
        bad = srv.client.post("/ui/ingest", data={"ns": "user:up", "csrf": token},
                              files={"file": (name, io.BytesIO(body), "application/json")})
        assert bad.status_code == 400 and message in bad.text, bad.text[-500:]
    assert srv.client.post("/ui/ingest", data={"ns": "", "conversation": "[]", "csrf": token}).status_code == 400


def test_sign_out_ends_the_session(srv: Srv, seeded: dict[str, str]) -> None:
    token = sign_in(srv.client, srv.key_a)
    assert srv.client.post("/ui/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert srv.client.get("/ui/", follow_redirects=False).status_code == 303
