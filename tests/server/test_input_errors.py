"""Finding 3 of issue #19 (and the REST side of finding 2): deeply nested metadata was committed and then answered
with 500 (a client retry duplicated it) and made every read of the namespace fail; after any 500 the server dropped
the keep-alive connection without saying so, and the project's own client failed its next call.

Now limits and times are validated before any write (4xx, nothing written), a 500 keeps the connection usable, and
the client sends a resendable call once more over a dropped connection (adds carry an Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from tests.server.conftest import Srv

from deltamem.client import AsyncMemoryClient, MemoryClient, ServerError
from deltamem.core import ConflictError
from deltamem.core.view import UNSENDABLE
from deltamem.stores.sqlite import SqliteStore

U = {"user_id": "alice"}
NS = "tenant:acme/user:alice"


def _nested(depth: int) -> str:
    return '{"a":' * depth + "{}" + "}" * depth


def _written(srv: Srv) -> int:
    return len(srv.memory.history(namespace=NS))


@pytest.mark.parametrize("body", [
    '{"facts": ["deep"], "metadata": ' + _nested(600) + "}",  # was: committed, then 500
    '{"facts": ["deep"], "metadata": ' + _nested(40) + "}",  # over the default depth (16)
    '{"ops": [{"op": "ADD", "text": "deep", "metadata": ' + _nested(20) + "}]}",
    '{"ops": [{"op": "ADD", "text": "deep", "metadata": {"x": ' + _nested(600) + "}}]}",
    '{"facts": ["big"], "metadata": {"blob": "' + "x" * 20_000 + '"}}',
    '{"facts": ["many"], "metadata": {' + ",".join(f'"k{i}": {i}' for i in range(300)) + "}}",
    '{"facts": ["surrogate"], "metadata": {"k": "\\ud800"}}',
    '{"facts": ["deeper than the parser"], "metadata": ' + _nested(100_000) + "}",
], ids=["600", "40", "op-20", "op-600", "bytes", "keys", "surrogate", "100000"])
def test_metadata_over_the_limits_is_4xx_and_nothing_is_written(srv: Srv, body: str) -> None:
    for headers in (srv.h(), {**srv.h(), "Idempotency-Key": "retry-me"}):
        r = srv.client.post("/v1/memories", params=U, headers={**headers, "Content-Type": "application/json"},
                            content=body.encode())
        assert 400 <= r.status_code < 500, r.text
        assert len(r.content) < 20_000  # the error does not echo the value back
    assert _written(srv) == 0
    assert srv.client.get("/v1/memories", params=U, headers=srv.h()).status_code == 200
    ok = srv.client.post("/v1/memories", params=U, headers=srv.h(),
                         json={"facts": ["shallow"], "metadata": {"a": {"b": {"c": [1, 2]}}}})
    assert ok.status_code == 201 and ok.json()["changes"][0]["after"]["metadata"] == {"a": {"b": {"c": [1, 2]}}}


def test_configured_metadata_limits_apply_to_the_server(make_server: Any) -> None:
    srv: Srv = make_server()
    srv.memory.config = srv.memory.config.model_copy(update={"max_metadata_keys": 2})
    r = srv.client.post("/v1/memories", params=U, headers=srv.h(), json={"facts": ["x"], "metadata": {
        "a": 1, "b": 2, "c": 3}})
    assert r.status_code == 422 and "limit is 2" in r.json()["error"]["message"]
    assert _written(srv) == 0


def test_a_too_deep_row_from_an_older_version_does_not_break_reads(srv: Srv) -> None:
    cs = srv.client.post("/v1/memories", params=U, headers=srv.h(), json={"facts": ["deep", "flat"]}).json()
    deep = _nested(600)  # what the old server committed before answering 500
    store = srv.memory.store
    assert isinstance(store, SqliteStore)
    with sqlite3.connect(store.path) as c:
        c.execute("UPDATE memories SET metadata = ? WHERE text = 'deep'", (deep,))
        for seq, after in c.execute("SELECT seq, after FROM history").fetchall():
            c.execute("UPDATE history SET after = ? WHERE seq = ?",
                      (after.replace('"metadata": {}', f'"metadata": {deep}'), seq))
        c.execute("UPDATE change_sets SET ops = ?", (f'[{{"op": "ADD", "text": "deep", "metadata": {deep}}}]',))
    for method, path in (("GET", "/v1/memories"), ("GET", "/v1/history"), ("GET", "/v1/change-sets"),
                         ("POST", "/v1/search"), ("GET", f"/v1/memories/{cs['changes'][0]['memory_id']}")):
        r = srv.client.request(method, path, params=U, headers=srv.h(), json={"query": "deep"} if method == "POST"
                               else None)
        assert r.status_code == 200, (path, r.text)
        assert UNSENDABLE in r.text and "nested more than 64" in r.text
    texts = [m["text"] for m in srv.client.get("/v1/memories", params=U, headers=srv.h()).json()["items"]]
    assert texts == ["deep", "flat"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/memories", {"ops": [{"op": "ADD", "text": "old", "timestamp": "0999-01-01T00:00:00Z"}]}),
    ("POST", "/v1/sessions", {"messages": [{"role": "user", "content": "hi"}], "session_date": "0999-01-01"}),
    ("POST", "/v1/sessions", {"messages": [{"role": "user", "content": "hi", "time": "0500-01-01T00:00:00"}]}),
    ("POST", "/v1/sessions", {"messages": [{"role": "user", "content": "hi"}],
                              "session_date": "9999-12-31T23:00:00-05:00"}),
    ("POST", "/v1/search", {"query": "x", "filters": {"since": "0001-01-01T00:00:00Z"}}),
    ("POST", "/v1/answer", {"question": "x", "today": "0999-01-01"}),
    ("PUT", "/v1/memories/{id}", {"text": "new", "timestamp": "0999-01-01T00:00:00Z"}),
])
def test_times_outside_the_range_are_422_up_front(srv: Srv, method: str, path: str, body: dict[str, Any]) -> None:
    mid = srv.client.post("/v1/memories", params=U, headers=srv.h(), json={"facts": ["kept"]}).json()["changes"][0][
        "memory_id"]
    r = srv.client.request(method, path.format(id=mid), params=U, headers=srv.h(), json=body)
    assert r.status_code == 422, r.text
    assert "range" in r.json()["error"]["message"]
    assert _written(srv) == 1 and srv.client.get("/v1/jobs", headers=srv.h()).json() == []  # no job was queued


# -- keep-alive after a 500, against a real server ----------------------------------------------------------------
@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (its lifespan already runs under the test's TestClient)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _add_failing_route(srv: Srv) -> None:
    def boom() -> None:
        raise RuntimeError("an unexpected failure")
    srv.app.add_api_route("/boom", boom)


def test_a_metadata_filter_key_no_store_can_hold_is_422(srv: Srv) -> None:
    # SQLite builds a JSON path from the key; a NUL in it used to fail there, answered 500.
    srv.client.post("/v1/memories", params=U, headers=srv.h(), json={"facts": ["kept"]})
    r = srv.client.post("/v1/search", params=U, headers=srv.h(),
                        json={"query": "kept", "filters": {"metadata": {"a\u0000b": 1}}})
    assert r.status_code == 422 and "NUL" in r.json()["error"]["message"], r.text


def test_a_500_keeps_the_keep_alive_connection_usable(srv: Srv) -> None:
    _add_failing_route(srv)
    with serving(srv.app) as host:
        conn = http.client.HTTPConnection(host, timeout=10)
        conn.request("GET", "/boom")
        r = conn.getresponse()
        assert r.status == 500 and b"InternalError" in r.read()
        sock = conn.sock
        # Either the connection stays open, or the server says it closes it; never a silent close.
        assert sock is not None or r.getheader("connection", "").lower() == "close"
        conn.request("GET", "/healthz")  # http.client reopens only a connection the server said it would close
        r2 = conn.getresponse()
        assert r2.status == 200 and r2.read()
        assert conn.sock is sock  # the same connection served both
        conn.close()


def test_the_client_keeps_working_after_a_500(srv: Srv) -> None:
    calls = {"n": 0}
    search = srv.memory.search

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("an unexpected failure")
        return search(*args, **kwargs)

    srv.memory.search = flaky  # type: ignore[method-assign]
    with serving(srv.app) as host, MemoryClient(f"http://{host}", srv.key_a) as m:
        m.add(["Alice plays chess"], user_id="alice")
        with pytest.raises(ServerError) as e:
            m.search("chess", user_id="alice")
        assert e.value.status == 500
        assert [e.text for e in m.get_all(user_id="alice")] == ["Alice plays chess"]  # the next call works
        assert m.search("chess", user_id="alice")[0].memory.text == "Alice plays chess"


# -- the client sends a resendable call once more over a dropped connection -------------------------------------
def _dropping(srv: Srv, drops: int) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport into the app that loses the first ``drops`` requests as a closed keep-alive connection would."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) <= drops:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        r = srv.client.request(request.method, str(request.url), headers=dict(request.headers),
                               content=request.read())
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)
    return httpx.MockTransport(handle), seen


def test_client_resends_once_over_a_dropped_connection(srv: Srv) -> None:
    transport, seen = _dropping(srv, drops=1)
    with MemoryClient("http://testserver", srv.key_a, transport=transport) as m:
        cs = m.add(["Alice runs"], user_id="alice")  # a POST, made safe to resend by its Idempotency-Key
    assert len(seen) == 2 and seen[0].headers["idempotency-key"] == seen[1].headers["idempotency-key"]
    assert [c.id for c in srv.memory.change_sets(namespace=NS)] == [cs.id]

    transport, seen = _dropping(srv, drops=1)
    with MemoryClient("http://testserver", srv.key_a, transport=transport) as m:
        assert [e.text for e in m.get_all(user_id="alice")] == ["Alice runs"]
    assert len(seen) == 2

    transport, seen = _dropping(srv, drops=2)  # dropped twice: the error surfaces, no third try
    with MemoryClient("http://testserver", srv.key_a, transport=transport) as m, \
            pytest.raises(httpx.RemoteProtocolError):
        m.get_all(user_id="alice")
    assert len(seen) == 2

    transport, seen = _dropping(srv, drops=1)  # a revert is not resent: it could have been applied
    with MemoryClient("http://testserver", srv.key_a, transport=transport) as m, \
            pytest.raises(httpx.RemoteProtocolError):
        m.revert(cs.id, user_id="alice")
    assert len(seen) == 1 and srv.memory.change_sets(namespace=NS)[0].id == cs.id


def test_a_resent_add_is_answered_from_the_first_request(srv: Srv) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        r = srv.client.request(request.method, str(request.url), headers=dict(request.headers),
                               content=request.read())
        if len(seen) == 1:  # the server applied it, but the answer was lost
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    with MemoryClient("http://testserver", srv.key_a, transport=httpx.MockTransport(handle)) as m:
        m.add(["Alice swims"], user_id="alice")
    assert len(seen) == 2 and len(srv.memory.change_sets(namespace=NS)) == 1  # written once


def test_async_client_resends_once_over_a_dropped_connection(srv: Srv) -> None:
    dropped = {"n": 0}

    async def main() -> None:
        inner = httpx.ASGITransport(app=srv.app)

        class Dropping(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if dropped["n"] == 0:
                    dropped["n"] += 1
                    raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                                    request=request)
                return await inner.handle_async_request(request)

        async with AsyncMemoryClient("http://testserver", srv.key_a, transport=Dropping()) as m:
            await m.add(["Bob rows"], user_id="bob")  # dropped once, sent again
            await m.add(["Bob sails"], user_id="bob", idempotency_key="fixed")
            with pytest.raises(ConflictError):  # a given key still guards against reuse for another body
                await m.add(["Bob sails too"], user_id="bob", idempotency_key="fixed")

    asyncio.run(main())
    assert dropped["n"] == 1
    assert [e.text for e in srv.memory.get_all(namespace="tenant:acme/user:bob")] == ["Bob rows", "Bob sails"]
