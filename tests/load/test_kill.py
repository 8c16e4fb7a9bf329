"""Fault test: SIGKILL the server while ingestion jobs and fact writes are in flight, restart it on the same data.

The server runs with a slow OpenAI-compatible agent stub (``load_harness.SlowAgentLLM``, 1 s per reply) and one
ingestion worker, so when it is killed one job is running and others are pending. After the restart:

- every job ends ``done`` (its change set in the log, its session's facts live) or ``failed`` with the
  ``Interrupted`` reason naming its session (only a job that was running at the kill); the pending ones complete;
- no session is applied twice;
- every acknowledged fact write is present; a write whose connection was refused is absent; a write cut off
  mid-request is present entirely or not at all;
- every namespace is the replay of its history, and its export imports cleanly into a fresh store.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from load_harness import (
    ServerProcess,
    ServerSpec,
    SlowAgentLLM,
    check_namespace,
    create_key_cli,
    export_imports_cleanly,
    get_json,
    live_memories,
)

pytestmark = pytest.mark.integration

JOBS = 6
WRITERS = 3
SESSION_NS = ("s0", "s1")


@dataclass
class Writer:
    """One thread adding two facts per request to ``user:w<i>`` until told to stop; every outcome is kept."""

    index: int
    base_url: str
    key: str
    acked: list[dict[str, Any]] = field(default_factory=list)  # change sets answered 201
    refused: list[list[str]] = field(default_factory=list)  # never reached the server (connect failed)
    unknown: list[list[str]] = field(default_factory=list)  # sent, then the connection broke: outcome unknown
    other: list[int] = field(default_factory=list)  # any other status
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def user_id(self) -> str:
        return f"w{self.index}"

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.key}"}, timeout=20) as c:
            n = 0
            while not self.stop.is_set():
                facts = [f"writer {self.index} request {n} part {p}" for p in ("a", "b")]
                n += 1
                try:
                    r = c.post("/v1/memories", params={"user_id": self.user_id}, json={"facts": facts})
                except httpx.ConnectError:
                    self.refused.append(facts)
                    time.sleep(0.05)
                    continue
                except httpx.TransportError:
                    self.unknown.append(facts)
                    continue
                if r.status_code == 201:
                    self.acked.append(r.json())
                else:
                    self.other.append(r.status_code)
                time.sleep(0.005)


def _jobs(c: httpx.Client) -> dict[str, dict[str, Any]]:
    return {j["id"]: j for j in get_json(c, "/v1/jobs", limit=100)}


def _wait(pred: Any, timeout: float, what: str, server: ServerProcess) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{server.log_tail()}"
        time.sleep(0.05)


def _run(tmp_path: Path, *, store: str, dsn: str | None = None, with_writers: bool) -> None:
    with SlowAgentLLM(delay_s=1.0) as llm:
        spec = ServerSpec(tmp_path, store=store, dsn=dsn, llm=llm.spec, workers=1, rate_per_s=0)
        key = create_key_cli(spec)
        auth = {"Authorization": f"Bearer {key}"}
        sessions: dict[str, list[str]] = {}
        writers = [Writer(i, "", key) for i in range(WRITERS)] if with_writers else []
        first = ServerProcess(spec)
        try:
            first.wait_ready()
            with httpx.Client(base_url=first.base_url, headers=auth, timeout=30) as c:
                for k in range(JOBS):
                    texts = [f"In session {k} Dana said her locker code is {1000 + k}",
                             f"In session {k} Dana booked a trip to city number {k}"]
                    r = c.post("/v1/sessions", params={"user_id": SESSION_NS[k % 2]},
                               json={"messages": [{"role": "user", "content": t} for t in texts]})
                    assert r.status_code == 202, r.text
                    sessions[r.json()["job_id"]] = texts
                threads = []
                for w in writers:
                    w.base_url = first.base_url
                    threads.append(threading.Thread(target=w.run, name=f"writer-{w.index}"))
                    threads[-1].start()

                def mid_way() -> bool:
                    st = [j["status"] for j in _jobs(c).values()]
                    return st.count("done") >= 1 and st.count("running") == 1 and st.count("pending") >= 2

                _wait(mid_way, 40, "one job done, one running, two pending", first)
                time.sleep(0.3)  # the running job is inside its LLM call; writers are mid-request
                done_before = {i: j["change_set"]["id"] for i, j in _jobs(c).items() if j["status"] == "done"}
                killed_at = datetime.now().astimezone()
                first.sigkill()
            for w in writers:
                w.stop.set()
            for t in threads:
                t.join(timeout=30)
        finally:
            for w in writers:
                w.stop.set()
            first.stop()

        second = ServerProcess(spec)
        try:
            second.wait_ready()
            with httpx.Client(base_url=second.base_url, headers=auth, timeout=30) as c:
                _wait(lambda: all(j["status"] in ("done", "failed") for j in _jobs(c).values()), 45,
                      "every job to finish after the restart", second)
                jobs = _jobs(c)
                _check_jobs(c, jobs, sessions, done_before, killed_at)
                for w in writers:
                    _check_writer(c, w)
                for u in (*SESSION_NS, *(w.user_id for w in writers)):
                    assert export_imports_cleanly(c, u) > 0
        finally:
            second.stop()


def _check_jobs(c: httpx.Client, jobs: dict[str, dict[str, Any]], sessions: dict[str, list[str]],
                done_before: dict[str, str], killed_at: datetime) -> None:
    assert set(jobs) == set(sessions)
    failed = [j for j in jobs.values() if j["status"] == "failed"]
    assert len(failed) <= 1, f"only the one running job may fail: {failed}"
    for j in failed:
        assert j["error"]["type"] == "Interrupted", j["error"]
        assert j["session_id"] in j["error"]["message"]
    for job_id, cs_id in done_before.items():  # a finished job is never touched again
        assert jobs[job_id]["status"] == "done" and jobs[job_id]["change_set"]["id"] == cs_id
    print(f"\njobs: {len(jobs) - len(failed)} done, {len(failed)} interrupted; done before the kill: "
          f"{len(done_before)}", end="")
    resumed = [j for j in jobs.values() if j["status"] == "done" and datetime.fromisoformat(j["finished_at"]) >
               killed_at]
    assert len(resumed) >= 1, "no pending job completed after the restart"
    print(f"; completed after the restart: {len(resumed)}")
    for user_id in SESSION_NS:
        log = get_json(c, "/v1/change-sets", user_id=user_id)["items"]
        per_session: dict[str, list[str]] = {}
        for cs in log:
            per_session.setdefault(cs["session_id"], []).append(cs["id"])
        assert all(len(v) == 1 for v in per_session.values()), f"a session was applied twice: {per_session}"
        mine = [j for j in jobs.values() if j["namespace"] == f"user:{user_id}"]
        done = [j for j in mine if j["status"] == "done"]
        live = set(live_memories(c, user_id).values())
        for j in done:
            assert per_session.get(j["session_id"]) == [j["change_set"]["id"]]
            assert set(sessions[j["id"]]) <= live, f"job {j['id']} is done but its facts are not live"
        # An interrupted job may have committed just before the kill; nothing else is in the log.
        interrupted = {j["session_id"] for j in mine if j["status"] == "failed"}
        assert set(per_session) <= {j["session_id"] for j in done} | interrupted
        check_namespace(c, user_id, [j["change_set"] for j in done], exact=False)


def _check_writer(c: httpx.Client, w: Writer) -> None:
    assert not w.other, f"writer {w.index} got statuses {w.other}"
    assert w.acked, f"writer {w.index} had no acknowledged write before the kill"
    live = set(live_memories(c, w.user_id).values())
    for cs in w.acked:
        assert {ch["after"]["text"] for ch in cs["changes"]} <= live, "an acknowledged write was lost"
    for facts in w.refused:
        assert not set(facts) & live, f"a refused write is present: {facts}"
    committed_unknown = 0
    for facts in w.unknown:
        present = set(facts) & live
        assert present in (set(), set(facts)), f"a cut-off write is half present: {facts}"
        committed_unknown += bool(present)
    found = check_namespace(c, w.user_id, w.acked, exact=False)
    assert found.change_sets == len(w.acked) + committed_unknown
    print(f"writer {w.index}: {len(w.acked)} acknowledged, {len(w.refused)} refused, {len(w.unknown)} cut off "
          f"({committed_unknown} of them committed)")


def test_sigkill_with_jobs_in_flight_sqlite(tmp_path: Path) -> None:
    _run(tmp_path, store="sqlite", with_writers=False)


def test_sigkill_with_jobs_and_writes_in_flight_sqlite(tmp_path: Path) -> None:
    _run(tmp_path, store="sqlite", with_writers=True)


def test_sigkill_with_jobs_and_writes_in_flight_postgres(tmp_path: Path, pg_dsn: str) -> None:
    _run(tmp_path, store="postgres", dsn=pg_dsn, with_writers=True)
