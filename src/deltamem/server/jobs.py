"""Ingestion jobs: a session for the memory agent runs in the background; its record lives in the server database.

Embedded mode uses :class:`LocalJobRunner`, a small in-process executor that runs the jobs of one namespace one at a
time, in submission order, and jobs of different namespaces in parallel. (procrastinate, the scaled-out runner in
:mod:`deltamem.server.pg_jobs`, needs PostgreSQL; its in-memory connector is a test double that keeps nothing across
a restart, so it cannot serve the SQLite default.) Records survive a restart: on start, jobs that were ``running``
are marked ``failed`` with the reason, and ``pending`` ones are queued again (nothing of them had run).

Both runners call :meth:`JobExecutor.process`. A queue that delivers at least once (procrastinate retries a job whose
worker died) may hand it a job that is already ``running``: it then looks for the change set (or review item) of the
job's session before running the agent again, so a session is never applied twice.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from deltamem.agent.guards import Rejected
from deltamem.core import AgentOutputError, DeltamemError, NotFoundError, as_utc, to_iso, utcnow
from deltamem.facade.memory import Memory
from deltamem.server.convert import change_out, change_set_out, error_info, relative
from deltamem.server.dto import ChangeSetOut, JobOut, JobStatus
from deltamem.server.state import ServerDB

log = logging.getLogger(__name__)

INTERRUPTED = ("the server stopped while this job was running; its change set may or may not have been committed: "
               "look for session_id {sid!r} in the change sets before resubmitting")
# How far a worker's clock may lag the API node's when a redelivered job looks for its own change set.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One ingestion job. ``request``: the session as JSON (messages, session_id, session_date, infer)."""

    id: str
    tenant: str
    namespace: str
    status: JobStatus
    request: dict[str, Any]
    session_id: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def out(self, prefix: str) -> JobOut:
        """The response model (namespace relative to the tenant prefix)."""
        result = self.result or {}
        return JobOut.model_validate({
            "id": self.id, "status": self.status, "namespace": relative(prefix)(self.namespace),
            "session_id": self.session_id, "created_at": self.created_at, "started_at": self.started_at,
            "finished_at": self.finished_at, "change_set": result.get("change_set"),
            "review_id": result.get("review_id"), "rejected": result.get("rejected", []),
            "repaired": result.get("repaired", []), "ignored": result.get("ignored", []), "error": self.error})


_COLS = "id, tenant, namespace, status, request, session_id, created_at, started_at, finished_at, result, error"


def _row(r: tuple[Any, ...]) -> JobRecord:
    def t(v: Any) -> datetime | None:
        return as_utc(str(v)) if v else None

    return JobRecord(str(r[0]), str(r[1]), str(r[2]), r[3], json.loads(r[4]), str(r[5]), as_utc(str(r[6])),
                     t(r[7]), t(r[8]), json.loads(r[9]) if r[9] else None, json.loads(r[10]) if r[10] else None)


class JobStore:
    """Job records in the server database. Every read names the tenant, so ids of other tenants are invisible."""

    def __init__(self, db: ServerDB) -> None:
        self._db = db

    def create(self, *, tenant: str, namespace: str, request: dict[str, Any]) -> JobRecord:
        """A new pending job. The session id defaults to the job id so a committed change set can be traced."""
        job_id = uuid.uuid4().hex
        request = {**request, "session_id": request.get("session_id") or job_id}
        job = JobRecord(job_id, tenant, namespace, "pending", request, request["session_id"], utcnow())
        self._db.execute(f"INSERT INTO jobs ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL)",
                         (job.id, tenant, namespace, "pending", json.dumps(request), job.session_id,
                          to_iso(job.created_at)))
        return job

    def get(self, tenant: str, job_id: str) -> JobRecord:
        """One job of this tenant (NotFoundError otherwise)."""
        rows = self._db.query(f"SELECT {_COLS} FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant))
        if not rows:
            raise NotFoundError(f"no job {job_id!r}")
        return _row(rows[0])

    def load(self, job_id: str) -> JobRecord:
        """One job by id, whatever its tenant (for workers)."""
        rows = self._db.query(f"SELECT {_COLS} FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise NotFoundError(f"no job {job_id!r}")
        return _row(rows[0])

    def for_session(self, tenant: str, namespace: str, session_id: str) -> JobRecord | None:
        """The newest job of this tenant that ingested ``session_id`` into ``namespace`` (None if there is none)."""
        rows = self._db.query(f"SELECT {_COLS} FROM jobs WHERE tenant = ? AND namespace = ? AND session_id = ? "
                              "ORDER BY created_at DESC LIMIT 1", (tenant, namespace, session_id))
        return _row(rows[0]) if rows else None

    def list_jobs(self, tenant: str, *, limit: int = 100, offset: int = 0) -> list[JobRecord]:
        """This tenant's jobs, newest first."""
        return [_row(r) for r in self._db.query(
            f"SELECT {_COLS} FROM jobs WHERE tenant = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
            (tenant, limit, offset))]

    def start(self, job_id: str) -> bool:
        """pending → running; False if the job is not pending (already taken, or finished)."""
        return self._db.execute("UPDATE jobs SET status = 'running', started_at = ? WHERE id = ? AND status = "
                                "'pending'", (to_iso(utcnow()), job_id)) == 1

    def finish(self, job_id: str, *, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None) -> None:
        """running → done (with a result) or failed (with an error)."""
        status = "failed" if error is not None else "done"
        self._db.execute("UPDATE jobs SET status = ?, finished_at = ?, result = ?, error = ? WHERE id = ?",
                         (status, to_iso(utcnow()), json.dumps(result) if result is not None else None,
                          json.dumps(error) if error is not None else None, job_id))

    def fail_unfinished(self, job_id: str, error: dict[str, Any]) -> bool:
        """pending or running → failed (with the error); False if the job had already finished."""
        return self._db.execute("UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ? AND "
                                "status IN ('pending', 'running')",
                                (to_iso(utcnow()), json.dumps(error), job_id)) == 1

    def pending_before(self, before: datetime) -> list[JobRecord]:
        """Jobs still pending that were created before ``before``, oldest first."""
        return [_row(r) for r in self._db.query(
            f"SELECT {_COLS} FROM jobs WHERE status = 'pending' AND created_at < ? ORDER BY created_at, id",
            (to_iso(before),))]

    def recover(self) -> list[JobRecord]:
        """After a restart: fail the jobs that were running (with the reason); return the pending ones, oldest first."""
        now = to_iso(utcnow())
        with self._db.transaction() as c:
            for job_id, sid in c.execute("SELECT id, session_id FROM jobs WHERE status = 'running'").fetchall():
                err = {"type": "Interrupted", "message": INTERRUPTED.format(sid=sid), "details": {"session_id": sid}}
                c.execute("UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                          (now, json.dumps(err), job_id))
        return [_row(r) for r in self._db.query(
            f"SELECT {_COLS} FROM jobs WHERE status = 'pending' ORDER BY created_at, id")]


class JobExecutor:
    """Runs one job against a Memory and records the outcome; the one place that turns job errors into records."""

    def __init__(self, memory: Memory, jobs: JobStore, *, tenant_prefix: Callable[[str], str]) -> None:
        self.memory = memory
        self.jobs = jobs
        self._prefix = tenant_prefix

    def process(self, job_id: str) -> None:
        """Run a job to done or failed. A finished job is left alone; a ``running`` one was delivered again after its
        worker died: if its session's change set (or review item) exists, that is recorded as the result, else the
        job runs again."""
        job = self.jobs.load(job_id)
        if job.status == "running":
            result = self.previous_result(job)
            if result is not None:
                self.jobs.finish(job_id, result=result)
                return
        elif job.status != "pending" or not self.jobs.start(job_id):
            return
        req = job.request
        try:
            res = self.memory.add(req["messages"], namespace=job.namespace, session_id=job.session_id,
                                  session_date=req.get("session_date"), infer=bool(req.get("infer", True)))
        except AgentOutputError as e:
            self.jobs.finish(job_id, error=error_info(e, details={"raw": e.raw}))
            return
        except DeltamemError as e:
            self.jobs.finish(job_id, error=error_info(e))
            return
        except Exception as e:  # the job boundary is an edge: record it, never lose it
            log.exception("ingestion job %s failed", job_id)
            self.jobs.finish(job_id, error=error_info(e, type_name="InternalError"))
            return
        rel = relative(self._prefix(job.tenant))
        def trace(items: list[Rejected]) -> list[dict[str, str]]:
            return [{"op": repr(r.op), "reason": r.reason} for r in items]

        result = {"change_set": change_set_out(res.change_set, rel).model_dump(mode="json") if res.change_set else None,
                  "review_id": res.review_id, "rejected": trace(res.agent.rejected if res.agent else []),
                  "repaired": trace(res.agent.repaired if res.agent else []),
                  "ignored": trace(res.agent.ignored if res.agent else [])}
        self.jobs.finish(job_id, result=result)

    def previous_result(self, job: JobRecord) -> dict[str, Any] | None:
        """The result an earlier run of this job left: a change set or review item of its session, made after the job
        was submitted; None if there is none (nothing was committed)."""
        since = job.created_at - CLOCK_SKEW
        rel = relative(self._prefix(job.tenant))
        for rec in self.memory.store.change_sets(job.namespace):  # newest first
            if rec.created_at < since:
                break
            if rec.session_id == job.session_id and rec.reverts is None:
                hist = self.memory.store.history(job.namespace, change_set_id=rec.id)
                out = ChangeSetOut(
                    id=rec.id, namespace=rel(rec.namespace), session_id=rec.session_id, actor=rec.actor,
                    created_at=rec.created_at, reverts=rec.reverts, counts=dict(rec.counts),
                    ops=[dict(o) for o in rec.ops],
                    changes=[change_out(h.kind, h.memory_id, h.before, h.after, rel) for h in hist])
                return {"change_set": out.model_dump(mode="json"), "review_id": None, "rejected": []}
        for item in self.memory.review.queue.queue_list(job.namespace, status=None):
            if item.session_id == job.session_id and item.created_at >= since:
                return {"change_set": None, "review_id": item.id, "rejected": []}
        return None


class JobRunner(Protocol):
    """Where submitted jobs go to be run."""

    def submit(self, job: JobRecord) -> None:
        """Queue a pending job."""
        ...

    def start(self) -> None:
        """Start working (idempotent)."""
        ...

    def close(self) -> None:
        """Stop after the jobs now running; queued ones stay pending in the database."""
        ...


class LocalJobRunner:
    """N worker threads; one namespace's jobs run one at a time, in order; different namespaces run in parallel."""

    def __init__(self, executor: JobExecutor, *, workers: int = 1) -> None:
        self._executor = executor
        self._workers = max(1, workers)
        self._queues: dict[str, deque[str]] = {}  # namespace -> job ids not yet started
        self._ready: deque[str] = deque()  # namespaces with queued jobs and no job running
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closing = False

    def start(self) -> None:
        with self._cond:
            if self._threads or self._closing:
                return
            self._threads = [threading.Thread(target=self._work, name=f"deltamem-job-{i}", daemon=True)
                             for i in range(self._workers)]
        for job in self._executor.jobs.recover():
            self.submit(job)
        for t in self._threads:
            t.start()

    def submit(self, job: JobRecord) -> None:
        with self._cond:
            q = self._queues.get(job.namespace)
            if q is None:  # no job of this namespace queued or running: it becomes ready
                self._queues[job.namespace] = deque([job.id])
                self._ready.append(job.namespace)
                self._cond.notify()
            else:
                q.append(job.id)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                ns = self._ready.popleft()
                job_id = self._queues[ns].popleft()
            try:
                self._executor.process(job_id)
            except Exception:  # the state database failed; the job stays visible as running until a restart
                log.exception("could not record the outcome of job %s", job_id)
            finally:
                with self._cond:
                    if self._queues[ns]:
                        self._ready.append(ns)  # at the back: namespaces take turns
                        self._cond.notify()
                    else:
                        del self._queues[ns]

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for t in threads:
            t.join(timeout=30)
