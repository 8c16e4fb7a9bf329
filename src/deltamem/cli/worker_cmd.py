"""``deltamem worker``: run the server's ingestion jobs from the procrastinate queue in PostgreSQL.

Start N of these (on any machines that reach the database and the LLM endpoint) next to API nodes started with
``DELTAMEM_SERVER__QUEUE=procrastinate deltamem serve --store postgres --dsn ...``; see docs/server.md.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from deltamem.cli.common import OPTS, run_safely


def _worker_config(dsn: str | None) -> Any:
    from deltamem.registry import parse_llm_spec
    from deltamem.server.config import load_server_config

    memory: dict[str, Any] = {}
    if dsn is not None:
        memory["store"] = {"provider": "postgres", "dsn": dsn}
    if OPTS.embedder is not None:
        memory["embedder"] = {"provider": OPTS.embedder}
    if OPTS.llm is not None:
        memory["llm"] = {k: v for k, v in parse_llm_spec(OPTS.llm).items() if v is not None}
    return load_server_config(OPTS.config, overrides={"queue": "procrastinate"}, memory_overrides=memory)


def worker(dsn: Annotated[str | None, typer.Option(
               help="PostgreSQL DSN of the store, the server tables and the queue (default: the config's store.dsn).")]
           = None,
           concurrency: Annotated[int, typer.Option(
               min=1, max=64, help="Jobs run at once by this process (threads; one namespace is never run twice at "
                                   "once).")] = 1,
           log_level: Annotated[str, typer.Option(help="Log level (debug, info, warning, error).")] = "info") -> None:
    """Run ingestion jobs queued by API nodes (procrastinate); SIGINT / SIGTERM let running jobs finish first."""
    def body() -> None:
        if OPTS.db is not None:
            raise ValueError("--db names a SQLite store; a worker needs the PostgreSQL store: --dsn postgresql://...")
        level = getattr(logging, log_level.upper(), None)
        if not isinstance(level, int):
            raise ValueError(f"unknown log level {log_level!r}")
        config = _worker_config(dsn)
        try:
            from deltamem.server.pg_jobs import run_worker
        except ImportError as e:
            raise ValueError(f"the worker needs the 'server' and 'postgres' extras: pip install "
                             f"'deltamem[server,postgres]' ({e})") from e
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        run_worker(config, concurrency=concurrency)
    run_safely(body)


def register(app: typer.Typer) -> None:
    """Add ``worker`` to the main app."""
    app.command("worker")(worker)
