"""The sync and async clients against the app in-process: same results as the server, errors as deltamem types."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from tests.server.conftest import Srv

from deltamem.client import AsyncMemoryClient, MemoryClient, ServerError, plans
from deltamem.core import ConflictError, InvalidOperation, NotFoundError


def through(srv: Srv) -> httpx.MockTransport:
    """A sync transport into the in-process app (the TestClient runs the ASGI app on its own event loop)."""
    def handle(request: httpx.Request) -> httpx.Response:
        r = srv.client.request(request.method, str(request.url), headers=dict(request.headers),
                               content=request.read())
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)
    return httpx.MockTransport(handle)


def sync_client(srv: Srv, key: str | None = None) -> MemoryClient:
    return MemoryClient("http://testserver", key or srv.key_a, transport=through(srv))


def test_sync_client_mirrors_memory(srv: Srv) -> None:
    with sync_client(srv) as m:
        cs = m.add(["Alice lives in Paris", "Alice has a cat"], user_id="alice")
        assert cs.counts["ADD"] == 2
        mid = cs.changes[0].memory_id
        assert m.get(mid, user_id="alice").text == "Alice lives in Paris"
        assert [h.memory.text for h in m.search("Paris", user_id="alice", k=1, mode="keyword")] == [
            "Alice lives in Paris"]
        up = m.update(mid, "Alice lives in Lyon", user_id="alice")
        assert m.history(mid, user_id="alice")[-1].after.text == "Alice lives in Lyon"
        assert [c.id for c in m.change_sets(user_id="alice")] == [up.id, cs.id]
        m.revert(up.id, user_id="alice")
        assert m.get(mid, user_id="alice").text == "Alice lives in Paris"
        m.delete(mid, user_id="alice")
        with pytest.raises(NotFoundError):
            m.get(mid, user_id="alice")
        with pytest.raises(ConflictError):
            m.revert(up.id, user_id="alice")
        with pytest.raises(InvalidOperation) as e:
            m.add([{"op": "UPDATE", "id": "missing", "text": "x"}], user_id="alice")
        assert e.value.index == 0
        job = m.add([{"role": "user", "content": "I like green tea"}], user_id="alice", poll_s=0.01)
        assert job.status == "done" and job.change_set is not None
        assert "green tea" in m.answer("green tea", user_id="alice", k=1).answer
        assert m.delete_all(user_id="alice").counts["DELETE"] == 2


def test_get_all_follows_pages(srv: Srv) -> None:
    with sync_client(srv) as m:
        m.add([f"fact {i}" for i in range(1000)], user_id="bob")
        m.add([f"fact {i}" for i in range(1000, 1205)], user_id="bob")
        assert len(m.get_all(user_id="bob")) == 1205
        assert [e.text for e in m.get_all(user_id="bob", limit=2, offset=3)] == ["fact 3", "fact 4"]


def test_export_import_and_review(make_server: Any, tmp_path: Any) -> None:
    src: Srv = make_server(name="src")
    dst: Srv = make_server(name="dst")
    facts = [f"Carol fact number {w}" for w in "one two three four five six seven eight nine ten".split()]
    with sync_client(src) as a:
        a.add(facts, user_id="carol")
        job = a.add([{"role": "user", "content": " ".join(f + "." for f in facts) + " WIPE."}], user_id="carol",
                    poll_s=0.01)
        assert job.review_id is not None
        assert [i.id for i in a.review_list(user_id="carol")] == [job.review_id]
        assert a.review_diff(job.review_id, user_id="carol").counts["DELETE"] == 10
        item = a.review_get(job.review_id, user_id="carol")
        a.review_edit(job.review_id, item.ops[:2], user_id="carol")
        assert a.review_approve(job.review_id, user_id="carol", by="dan").counts["DELETE"] == 2
        with pytest.raises(ConflictError):
            a.review_reject(job.review_id, user_id="carol")
        n = a.export(tmp_path / "carol.jsonl", user_id="carol")
        buf = io.BytesIO()
        assert a.export(buf, user_id="carol") == n > 0
    with sync_client(dst) as b:
        assert b.import_(tmp_path / "carol.jsonl") == n
        assert sorted(e.text for e in b.get_all(user_id="carol")) == sorted(facts[2:])


def test_auth_errors_are_server_errors(srv: Srv) -> None:
    bad = "dm_000000000000_" + "x" * 43
    with MemoryClient("http://testserver", bad, transport=through(srv)) as m, pytest.raises(ServerError) as e:
        m.get_all(user_id="alice")
    assert e.value.status == 401 and e.value.type == "Unauthorized"


def test_async_client(srv: Srv) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=srv.app)
        async with AsyncMemoryClient("http://testserver", srv.key_a, transport=transport) as m:
            cs = await m.add(["Eve speaks Finnish"], user_id="eve")
            assert (await m.get(cs.changes[0].memory_id, user_id="eve")).text == "Eve speaks Finnish"
            hits = await m.search("Finnish", user_id="eve")
            assert hits[0].memory.text == "Eve speaks Finnish"
            job = await m.add([{"speaker": "Eve", "text": "I moved to Oulu"}], user_id="eve", infer=False,
                              poll_s=0.01)
            assert job.status == "done" and job.change_set.changes[0].after.text == "Eve: I moved to Oulu"
            buf = io.BytesIO()
            n = await m.export(buf, user_id="eve")
            assert n > 0 and plans.footer_count(buf.getvalue()) == n
            with pytest.raises(NotFoundError):
                await m.delete("nope", user_id="eve")
            buf.seek(0)
            with pytest.raises(ConflictError):  # already there
                await m.import_(buf)

    asyncio.run(main())


def test_client_retries_after_429(make_server: Any) -> None:
    from deltamem.server.ratelimit import RateLimiter

    now = [0.0]
    srv: Srv = make_server(limiter=RateLimiter(rate=1000.0, burst=1, clock=lambda: now[0]))
    with sync_client(srv) as m:
        m.get_all(user_id="zed", limit=1)
        plan = plans.get_all(user_id="zed", limit=1)
        step = next(plan)
        first = m._send(step)
        assert first.status_code == 429 and first.headers["retry-after"] == "1"
        step = plan.send(first)
        assert step.seconds == 1.0  # the plan waits as told, then asks again
        now[0] += 1.0
        step = plan.send(None)
        with pytest.raises(StopIteration) as stop:
            plan.send(m._send(step))
        assert stop.value.value == []
