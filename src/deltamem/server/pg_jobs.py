"""Scaled-out ingestion jobs on procrastinate, a job queue kept in PostgreSQL: API nodes queue, workers run.

``POST /v1/sessions`` on an API node writes the job record (server tables in Postgres, :class:`PostgresStateDB`) and
:class:`ProcrastinateJobRunner` defers the task ``deltamem.ingest`` with ``lock = "deltamem:" + namespace``:
procrastinate never runs two jobs with one lock at once, and runs them in the order they were deferred, so one
namespace's sessions are applied in submission order while other namespaces run in parallel. ``deltamem worker``
processes (:func:`run_worker`, on any machine that reaches the database and the LLM) run
:meth:`JobExecutor.process`, the function the embedded runner calls.

Delivery is at least once; a job ends ``done`` or ``failed`` with a reason, never silently lost:

- A job whose run raised (the state database or the store failed; agent and LLM errors are recorded by the
  executor and do not raise) runs again after ``job_retry_wait_s``, up to ``job_attempts`` runs; after the last one
  its record is marked failed with the error.
- A job whose worker died (no heartbeat for ``stalled_after_s``) is put back in the queue by the periodic task
  ``deltamem.recover_stalled`` (every minute, on any live worker) with its attempt counted; at the limit the job is
  finished instead: done if its session's change set exists, else failed with type ``Interrupted``.
- A redelivered job finds its record ``running``; the executor then looks for its session's change set before
  running the agent again, so a commit is never applied twice.
- A record left ``pending`` with no queued task (an API node died between writing it and queueing it) is marked
  failed by the same periodic task after ten minutes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager

from deltamem.core import NotFoundError, StoreError, utcnow
from deltamem.server.convert import error_info
from deltamem.server.jobs import JobExecutor, JobRecord, JobStore

if TYPE_CHECKING:
    from procrastinate.job_context import JobContext

    from deltamem.server.config import ServerConfig

log = logging.getLogger(__name__)

TASK = "deltamem.ingest"  # the queued task's name, kept stable across versions (not a module path)
RECOVER_TASK = "deltamem.recover_stalled"
QUEUE = "deltamem"
ORPHAN_AFTER = timedelta(minutes=10)  # a pending record this old with no queued task was never queued


def lock_for(namespace: str) -> str:
    """The procrastinate lock of a namespace's jobs (prefixed: locks are global to the database)."""
    return "deltamem:" + namespace


def make_app(dsn: str, *, schema: str = "procrastinate", max_connections: int = 4) -> procrastinate.App:
    """A procrastinate app on ``dsn`` whose tables live in ``schema`` (see :func:`ensure_schema`)."""
    from deltamem.stores.postgres_schema import check_schema_name

    connector = procrastinate.PsycopgConnector(
        conninfo=dsn, min_size=1, max_size=max_connections,
        kwargs={"options": f"-c search_path={check_schema_name(schema)}"})
    return procrastinate.App(connector=connector)


def ensure_schema(dsn: str, *, schema: str = "procrastinate") -> None:
    """Create procrastinate's tables in ``schema`` unless they exist (under a lock: nodes may start together).

    Upgrading procrastinate across versions that change its schema needs its migrations (``procrastinate schema``).
    """
    import psycopg

    from deltamem.stores.postgres_schema import check_schema_name

    schema = check_schema_name(schema)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("deltamem:queue:" + schema,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            conn.execute(f"SET LOCAL search_path TO {schema}")
            if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone() == (None,):
                conn.execute(SchemaManager.get_schema())
    except psycopg.Error as e:
        raise StoreError(f"cannot set up the procrastinate queue in schema {schema!r}: {e}") from e


class ProcrastinateJobRunner:
    """The API node's :class:`~deltamem.server.jobs.JobRunner`: defers each job; ``deltamem worker`` runs it."""

    def __init__(self, dsn: str, jobs: JobStore, *, schema: str = "procrastinate") -> None:
        self._dsn = dsn
        self._schema = schema
        self._jobs = jobs
        self._app = make_app(dsn, schema=schema)
        self._lock = threading.Lock()
        self._open = False

    def start(self) -> None:
        """Create the queue tables if needed and open the connection pool (idempotent)."""
        with self._lock:
            if not self._open:
                ensure_schema(self._dsn, schema=self._schema)
                self._app.open()
                self._open = True

    def submit(self, job: JobRecord) -> None:
        """Defer the job; if the queue cannot take it, the record is failed (never left pending) and StoreError
        raised."""
        self.start()
        try:
            self._app.configure_task(TASK, queue=QUEUE, lock=lock_for(job.namespace)).defer(job_id=job.id)
        except Exception as e:  # the queue is an edge: whatever went wrong, record it on the job
            self._jobs.fail_unfinished(job.id, error_info(e, type_name="QueueError"))
            raise StoreError(f"could not queue ingestion job {job.id}: {e}") from e

    def close(self) -> None:
        """Close the pool. Deferred jobs stay queued in the database."""
        with self._lock:
            if self._open:
                self._app.close()
                self._open = False


def _give_up(executor: JobExecutor, job_id: str, message: str) -> None:
    """Finish a job procrastinate will not run again: done if its change set exists, else failed with the reason."""
    try:
        record = executor.jobs.load(job_id)
    except NotFoundError:
        return
    result = executor.previous_result(record) if record.status == "running" else None
    if result is not None:
        executor.jobs.finish(job_id, result=result)
    else:
        executor.jobs.fail_unfinished(job_id, {"type": "Interrupted", "message": message,
                                               "details": {"session_id": record.session_id}})


async def recover_stalled(app: procrastinate.App, executor: JobExecutor, *, attempts: int,
                          stalled_after_s: float) -> tuple[list[str], list[str]]:
    """Requeue the jobs of dead workers (or finish them at the attempt limit) and fail never-queued records.

    Returns (job ids requeued, job ids finished). Run periodically by every worker; safe to run concurrently.
    """
    requeued, finished = [], []
    for job in await app.job_manager.get_stalled_jobs(task_name=TASK, seconds_since_heartbeat=stalled_after_s):
        job_id = str(job.task_kwargs["job_id"])
        if job.attempts + 1 >= attempts:
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            msg = (f"the worker running this job stopped, {job.attempts + 1} times; no change set of its session "
                   "was committed: resubmit it")
            await asyncio.to_thread(_give_up, executor, job_id, msg)
            finished.append(job_id)
        else:
            await app.job_manager.retry_job(job)
            requeued.append(job_id)
    for record in await asyncio.to_thread(executor.jobs.pending_before, utcnow() - ORPHAN_AFTER):
        queued = await app.job_manager.list_jobs_async(task=TASK, lock=lock_for(record.namespace))
        if not any(j.task_kwargs.get("job_id") == record.id for j in queued):
            await asyncio.to_thread(executor.jobs.fail_unfinished, record.id, {
                "type": "Interrupted", "details": {"session_id": record.session_id},
                "message": "the job was recorded but never queued (its API node stopped); nothing ran: resubmit"})
            finished.append(record.id)
    return requeued, finished


def build_worker_app(executor: JobExecutor, *, dsn: str, config: ServerConfig,
                     concurrency: int = 1) -> procrastinate.App:
    """A procrastinate app with the ingestion task (running ``executor``) and the periodic stalled-job recovery."""
    app = make_app(dsn, schema=config.queue_schema, max_connections=concurrency + 4)
    attempts = config.job_attempts
    retry: procrastinate.RetryStrategy | bool = (
        procrastinate.RetryStrategy(max_attempts=attempts - 1, wait=config.job_retry_wait_s) if attempts > 1
        else False)

    @app.task(name=TASK, queue=QUEUE, retry=retry, pass_context=True)
    def ingest(context: JobContext, job_id: str) -> None:
        try:
            executor.process(job_id)
        except Exception as e:
            if context.job.attempts + 1 >= attempts:  # procrastinate gives up after this run: say why on the record
                try:
                    executor.jobs.fail_unfinished(job_id, error_info(
                        e, type_name="WorkerError", details={"attempts": context.job.attempts + 1}))
                except Exception:  # the state database is what failed; the job stays running (and logged)
                    log.exception("could not record the failure of job %s", job_id)
            raise

    @app.periodic(cron="* * * * *", periodic_id=RECOVER_TASK)
    @app.task(name=RECOVER_TASK, queue=QUEUE, queueing_lock=RECOVER_TASK)
    async def recover(timestamp: int) -> None:
        requeued, finished = await recover_stalled(app, executor, attempts=attempts,
                                                   stalled_after_s=config.stalled_after_s)
        if requeued or finished:
            log.warning("stalled ingestion jobs: requeued %s, finished %s", requeued, finished)

    del ingest, recover  # registered on the app
    return app


def worker_options(config: ServerConfig, *, concurrency: int) -> dict[str, Any]:
    """``run_worker`` options matching the config (heartbeats well inside the stalled timeout).

    The 1 s poll matters: when a job finishes, the next job of its namespace becomes runnable without any
    notification (procrastinate notifies on defer only), so a worker finds it on its next poll.
    """
    return {"queues": [QUEUE], "concurrency": concurrency, "name": "deltamem-worker",
            "fetch_job_polling_interval": 1.0,
            "stalled_worker_timeout": config.stalled_after_s,
            "update_heartbeat_interval": config.stalled_after_s / 3}


def run_worker(config: ServerConfig, *, concurrency: int = 1) -> None:
    """Run ingestion jobs until stopped (SIGINT / SIGTERM finish the running jobs first)."""
    from deltamem.facade.memory import Memory
    from deltamem.server.deps import tenant_prefix
    from deltamem.server.state import open_state_db

    dsn = config.memory.store.dsn
    if config.queue != "procrastinate" or not dsn:
        raise StoreError("a worker needs queue = 'procrastinate' and the PostgreSQL store")
    ensure_schema(dsn, schema=config.queue_schema)
    db = open_state_db(config)
    memory = Memory.from_config(config.memory)
    try:
        executor = JobExecutor(memory, JobStore(db), tenant_prefix=tenant_prefix)
        app = build_worker_app(executor, dsn=dsn, config=config, concurrency=concurrency)
        app.run_worker(**worker_options(config, concurrency=concurrency))
    finally:
        memory.close()
        db.close()
