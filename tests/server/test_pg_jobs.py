"""Scaled-out ingestion jobs: API (TestClient) → procrastinate queue in a real PostgreSQL → in-process workers.

The API node and the worker are built separately, as in a deployment: each has its own Memory (PostgresStore on the
same database) and its own connection to the server tables; only the worker has an LLM (a ScriptedChatModel).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("procrastinate", reason="the scaled-out queue needs procrastinate (the 'postgres' extra)")

import procrastinate
import psycopg
from fastapi.testclient import TestClient
from tests.server.conftest import SESSION_MODE, scripted_reply

from deltamem.config import EmbedderConfig, LLMConfig, MemoryConfig, StoreConfig
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm.scripted import ScriptedChatModel
from deltamem.server import ServerConfig, create_app
from deltamem.server.deps import tenant_prefix
from deltamem.server.jobs import JobExecutor, JobStore
from deltamem.server.pg_jobs import QUEUE, TASK, build_worker_app, recover_stalled, worker_options
from deltamem.server.state import PostgresStateDB
from deltamem.stores.postgres import PostgresStore

pytestmark = pytest.mark.integration
ALICE = "tenant:acme/user:alice"
_OWNER = re.compile(r"\b(alice|bob) fact")


class SlowTrackingModel:
    """scripted_reply after a pause, recording how many sessions of each user the model sees at the same time."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.pause_s = pause_s
        self.lock = threading.Lock()
        self.active: Counter[str] = Counter()
        self.max_same_user = 0
        self.max_total = 0

    def __call__(self, messages: Sequence[Any]) -> str:
        m = _OWNER.search(messages[1]["content"])
        who = m.group(1) if m else "?"
        with self.lock:
            self.active[who] += 1
            self.max_same_user = max(self.max_same_user, self.active[who])
            self.max_total = max(self.max_total, sum(self.active.values()))
        try:
            time.sleep(self.pause_s)
            return scripted_reply(messages)
        finally:
            with self.lock:
                self.active[who] -= 1


class CrashAfterCommit(JobStore):
    """A job store whose first ``finish`` dies, as a worker would between the commit and the job record."""

    crashed = False

    def finish(self, job_id: str, *, result: dict[str, Any] | None = None,
               error: dict[str, Any] | None = None) -> None:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("simulated worker crash after the commit")
        super().finish(job_id, result=result, error=error)


@dataclass
class Deployment:
    """An API node (client) and the parts a worker is built from."""

    client: TestClient
    config: ServerConfig
    dsn: str
    key_a: str
    key_b: str
    api_memory: Memory
    opened: list[Any]

    def h(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key_a}"}

    def submit(self, user: str, texts: list[str], **headers: str) -> str:
        r = self.client.post(f"/v1/sessions?user_id={user}", headers={**self.h(), **headers},
                             json={"messages": [{"role": "user", "content": t} for t in texts]})
        assert r.status_code == 202, r.text
        job_id: str = r.json()["job_id"]
        return job_id

    def job(self, job_id: str, key: str | None = None) -> dict[str, Any]:
        r = self.client.get(f"/v1/jobs/{job_id}", headers=self.h(key))
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def executor(self, model: Callable[[Sequence[Any]], str], *, store_cls: type[JobStore] = JobStore,
                 ) -> JobExecutor:
        memory = Memory(store=PostgresStore(self.dsn), embedder=HashingEmbedder(dim=64),
                        llm=ScriptedChatModel(default=model), config=SESSION_MODE)
        db = PostgresStateDB(self.dsn)
        self.opened += [memory, db]
        return JobExecutor(memory, store_cls(db), tenant_prefix=tenant_prefix)

    def drain(self, executor: JobExecutor) -> procrastinate.App:
        """One worker (concurrency 1) until the queue is empty."""
        app = build_worker_app(executor, dsn=self.dsn, config=self.config)
        app.run_worker(**{**worker_options(self.config, concurrency=1), "wait": False, "listen_notify": False,
                          "fetch_job_polling_interval": 0.1, "install_signal_handlers": False})
        return app


class WorkerThread:
    """A worker (``wait=True``) on its own event loop in a thread, as ``deltamem worker`` runs it; stop() cancels it,
    which lets running jobs finish."""

    def __init__(self, app: procrastinate.App, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task: asyncio.Task[None] | None = None

        async def main() -> None:
            async with app.open_async():
                await app.run_worker_async(**options)

        def run() -> None:
            self._task = self._loop.create_task(main())
            self._ready.set()
            try:
                self._loop.run_until_complete(self._task)
            except asyncio.CancelledError:
                pass
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        assert self._task is not None
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)
        assert not self._thread.is_alive()


@pytest.fixture
def dep(pg_dsn: str) -> Iterator[Deployment]:
    store = StoreConfig(provider="postgres", dsn=pg_dsn)
    config = ServerConfig(memory=MemoryConfig(store=store, embedder=EmbedderConfig(provider="hashing"),
                                              llm=LLMConfig(provider="none")),
                          queue="procrastinate", rate_per_s=0, job_attempts=3, job_retry_wait_s=0,
                          stalled_after_s=5)
    api_memory = Memory(store=PostgresStore(pg_dsn), embedder=HashingEmbedder(dim=64))
    app = create_app(config, memory=api_memory)
    with TestClient(app) as client:
        keys = app.state.deltamem.keys
        d = Deployment(client, config, pg_dsn, keys.create(tenant="acme")[1], keys.create(tenant="bravo")[1],
                       api_memory, [api_memory])
        yield d
    for part in d.opened:
        part.close()


def _agent_runs(executor: JobExecutor, message: str) -> int:
    """How many agent requests had ``message`` as a message of the session (not merely among the memories shown)."""
    model = executor.memory.llm
    assert isinstance(model, ScriptedChatModel)
    line = re.compile(rf"^\[\d+\] [^:]+: {re.escape(message)}$", re.M)
    return sum(1 for r in model.requests if line.search(r["messages"][-1]["content"]))


def _session_order(memory: Memory, namespace: str) -> list[str]:
    """Session ids of the namespace's change sets in commit order."""
    seen: list[str] = []
    for rec in memory.history(namespace=namespace):
        if rec.session_id not in seen:
            seen.append(str(rec.session_id))
    return seen


def test_jobs_run_in_order_per_namespace_and_in_parallel_across(dep: Deployment) -> None:
    ids = {"alice": [], "bob": []}  # type: dict[str, list[str]]
    for i in range(4):
        for user in ("alice", "bob"):
            ids[user].append(dep.submit(user, [f"{user} fact {i}"]))
    assert dep.job(ids["alice"][0])["status"] == "pending"
    replay = dep.client.post("/v1/sessions?user_id=alice", headers={**dep.h(), "Idempotency-Key": "k1"},
                             json={"messages": [{"role": "user", "content": "alice fact 4"}]})
    again = dep.client.post("/v1/sessions?user_id=alice", headers={**dep.h(), "Idempotency-Key": "k1"},
                            json={"messages": [{"role": "user", "content": "alice fact 4"}]})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == replay.json()
    ids["alice"].append(replay.json()["job_id"])

    model = SlowTrackingModel(pause_s=0.15)
    app = build_worker_app(dep.executor(model), dsn=dep.dsn, config=dep.config, concurrency=3)
    worker = WorkerThread(app, **{**worker_options(dep.config, concurrency=3), "install_signal_handlers": False,
                                  "fetch_job_polling_interval": 0.1})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(dep.job(j)["status"] in ("done", "failed") for js in ids.values() for j in js):
                break
            time.sleep(0.05)
    finally:
        worker.stop()
    for user, job_ids in ids.items():
        for jid in job_ids:
            job = dep.job(jid)
            assert job["status"] == "done", job
            assert job["change_set"]["session_id"] == jid and job["change_set"]["counts"]["ADD"] == 1
            assert job["namespace"] == f"user:{user}"
        assert _session_order(dep.api_memory, f"tenant:acme/user:{user}") == job_ids
    texts = [e.text for e in dep.api_memory.get_all(namespace=ALICE)]
    assert texts == [f"alice fact {i}" for i in range(5)]
    assert model.max_same_user == 1  # the per-namespace lock held
    assert model.max_total >= 2  # while the two namespaces ran side by side
    assert dep.client.get(f"/v1/jobs/{ids['alice'][0]}", headers=dep.h(dep.key_b)).status_code == 404


def test_failing_job_is_failed_with_reason_and_memory_untouched(dep: Deployment) -> None:
    first = dep.submit("alice", ["alice fact 1"])
    bad = dep.submit("alice", ["GARBAGE alice fact 2"])
    after = dep.submit("alice", ["alice fact 3"])
    app = dep.drain(dep.executor(scripted_reply))
    job = dep.job(bad)
    assert job["status"] == "failed" and job["change_set"] is None
    assert job["error"]["type"] == "AgentOutputError"
    assert "not going to answer in JSON" in job["error"]["details"]["raw"]
    assert dep.job(first)["status"] == dep.job(after)["status"] == "done"
    assert _session_order(dep.api_memory, ALICE) == [first, after]
    assert [e.text for e in dep.api_memory.get_all(namespace=ALICE)] == ["alice fact 1", "alice fact 3"]
    # the executor recorded the failure, so the queue ran each job once (attempts counts runs), without retries
    with app.open():
        queued = app.job_manager.list_jobs(task=TASK, queue=QUEUE)
    assert sorted((j.status, j.attempts) for j in queued) == [("succeeded", 1)] * 3


def test_crash_after_commit_is_retried_without_applying_twice(dep: Deployment) -> None:
    job_id = dep.submit("alice", ["alice fact 1"])
    model = SlowTrackingModel()
    executor = dep.executor(model, store_cls=CrashAfterCommit)
    app = dep.drain(executor)
    job = dep.job(job_id)
    assert job["status"] == "done"
    committed = dep.api_memory.change_sets(namespace=ALICE)
    assert [c.session_id for c in committed] == [job_id]  # one commit, found again by the second attempt
    assert job["change_set"]["id"] == committed[0].id
    assert [e.text for e in dep.api_memory.get_all(namespace=ALICE)] == ["alice fact 1"]
    assert _agent_runs(executor, "alice fact 1") == 1  # the retry found the commit and did not run the agent
    with app.open():
        [queued] = app.job_manager.list_jobs(task=TASK)
    assert (queued.status, queued.attempts) == ("succeeded", 2)  # the crashed run, then the retry


@pytest.mark.parametrize("committed", [True, False])
def test_stalled_worker_job_is_recovered(dep: Deployment, committed: bool) -> None:
    job_id = dep.submit("alice", ["alice fact 1"])
    nxt = dep.submit("alice", ["alice fact 2"])
    executor = dep.executor(scripted_reply)
    app = build_worker_app(executor, dsn=dep.dsn, config=dep.config)

    async def take() -> None:  # a worker takes the job, starts it (maybe commits), then stops sending heartbeats
        async with app.open_async():
            wid = await app.job_manager.register_worker()
            job = await app.job_manager.fetch_job(queues=[QUEUE], worker_id=wid)
            assert job is not None and job.task_kwargs["job_id"] == job_id
    asyncio.run(take())
    assert executor.jobs.start(job_id)
    if committed:
        executor.memory.add([{"role": "user", "content": "alice fact 1"}], namespace=ALICE, session_id=job_id)
    with psycopg.connect(dep.dsn, autocommit=True) as c:
        c.execute("UPDATE procrastinate.procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")

    async def recover() -> tuple[list[str], list[str]]:
        async with app.open_async():
            return await recover_stalled(app, executor, attempts=3, stalled_after_s=5)
    assert asyncio.run(recover()) == ([job_id], [])
    assert dep.job(job_id)["status"] == "running"  # requeued, not yet run again
    dep.drain(executor)
    assert dep.job(job_id)["status"] == dep.job(nxt)["status"] == "done"
    assert _session_order(dep.api_memory, ALICE) == [job_id, nxt]
    assert [e.text for e in dep.api_memory.get_all(namespace=ALICE)] == ["alice fact 1", "alice fact 2"]
    assert _agent_runs(executor, "alice fact 1") == 1  # before the crash, or after it: never both


def test_stalled_job_at_the_attempt_limit_is_failed_with_reason(dep: Deployment) -> None:
    job_id = dep.submit("alice", ["alice fact 1"])
    executor = dep.executor(scripted_reply)
    app = build_worker_app(executor, dsn=dep.dsn, config=dep.config)

    async def take_and_recover() -> tuple[list[str], list[str]]:
        async with app.open_async():
            wid = await app.job_manager.register_worker()
            assert await app.job_manager.fetch_job(queues=[QUEUE], worker_id=wid) is not None
            await asyncio.to_thread(executor.jobs.start, job_id)
            await app.job_manager.unregister_worker(wid)  # gone: its job has no worker any more
            return await recover_stalled(app, executor, attempts=1, stalled_after_s=5)
    assert asyncio.run(take_and_recover()) == ([], [job_id])
    job = dep.job(job_id)
    assert job["status"] == "failed" and job["error"]["type"] == "Interrupted"
    assert job["error"]["details"]["session_id"] == job_id and "resubmit" in job["error"]["message"]
    assert dep.api_memory.get_all(namespace=ALICE) == []
