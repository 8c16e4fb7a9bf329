"""``create_app(config)``: the FastAPI application over one Memory, with keys, jobs and limits.

Everything the routes share is built here once and kept on ``app.state.deltamem``. Tests and embedders inject a
ready Memory (and optionally the other parts); ``deltamem serve`` and ``python -m deltamem.server`` build them from
the config. With ``queue = "procrastinate"`` the server tables live in PostgreSQL and sessions are queued for
``deltamem worker`` processes (:mod:`deltamem.server.pg_jobs`); otherwise jobs run in this process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from deltamem._version import __version__
from deltamem.facade.memory import Memory
from deltamem.server.config import ServerConfig
from deltamem.server.deps import ServerState, tenant_prefix
from deltamem.server.errors import BodyLimit
from deltamem.server.errors import install as install_error_handlers
from deltamem.server.idempotency import IdempotencyStore
from deltamem.server.jobs import JobExecutor, JobRunner, JobStore, LocalJobRunner
from deltamem.server.keys import KeyStore
from deltamem.server.ratelimit import RateLimiter
from deltamem.server.routes_admin import public
from deltamem.server.routes_admin import router as admin_router
from deltamem.server.routes_archive import router as archive_router
from deltamem.server.routes_history import router as history_router
from deltamem.server.routes_memory import router as memory_router
from deltamem.server.routes_review import router as review_router
from deltamem.server.state import ServerDB, open_state_db
from deltamem.server.ui.app import LARGE_BODY_PATHS, create_ui

DESCRIPTION = """Long-term memory for LLM assistants over HTTP. Every request carries a tenant API key; every
namespace is inside that tenant. Sessions run the memory agent as background jobs (202 + job id)."""


def create_app(config: ServerConfig | None = None, *, memory: Memory | None = None, db: ServerDB | None = None,
               runner: JobRunner | None = None, limiter: RateLimiter | None = None) -> FastAPI:
    """Build the app. Parts not given are built from ``config``; the app closes only the parts it built."""
    config = config or ServerConfig()
    owns_memory, owns_db = memory is None, db is None
    memory = memory or Memory.from_config(config.memory)
    db = db or open_state_db(config)
    jobs = JobStore(db)
    if runner is None and config.queue == "procrastinate":
        from deltamem.server.pg_jobs import ProcrastinateJobRunner

        assert config.memory.store.dsn is not None  # checked by ServerConfig
        runner = ProcrastinateJobRunner(config.memory.store.dsn, jobs, schema=config.queue_schema)
    runner = runner or LocalJobRunner(JobExecutor(memory, jobs, tenant_prefix=tenant_prefix), workers=config.workers)
    keys = KeyStore(db)
    idempotency = IdempotencyStore(db, ttl_s=config.idempotency_ttl_s)
    st = ServerState(config=config, memory=memory, keys=keys, jobs=jobs, runner=runner, idempotency=idempotency,
                     limiter=limiter or RateLimiter(rate=config.rate_per_s, burst=config.rate_burst))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        st.runner.start()
        try:
            yield
        finally:
            st.runner.close()
            if owns_memory:
                st.memory.close()
            if owns_db:
                db.close()

    app = FastAPI(title="deltamem", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.deltamem = st
    install_error_handlers(app)
    large = {path: config.max_import_bytes for path in ("/v1/import", *LARGE_BODY_PATHS)}
    app.add_middleware(BodyLimit, default=config.max_json_bytes, overrides=large)
    for router in (memory_router, history_router, review_router, archive_router, admin_router, public):
        app.include_router(router)
    app.mount("/ui", create_ui(st, db), name="ui")  # the inspector: pages over the same state and store
    return app
