"""``deltamem serve`` (the REST server) and ``deltamem keys create|list|revoke`` (tenant API keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely

keys_app = typer.Typer(help="Create, list and revoke API keys of the server.", no_args_is_help=True)


def _server_config(*, store: str | None = None, dsn: str | None = None, workers: int | None = None,
                   state_db: Path | None = None, queue: str | None = None) -> Any:
    from deltamem.server.run import server_config

    return server_config(config=OPTS.config, db=OPTS.db, embedder=OPTS.embedder, llm=OPTS.llm, store=store, dsn=dsn,
                         workers=workers, state_db=state_db, queue=queue)


StateDb = Annotated[Path | None, typer.Option("--state-db", help="Server database (keys, jobs); default next to the "
                                               "store.")]
Queue = Annotated[str | None, typer.Option("--queue", help="local (in-process jobs) | procrastinate (PostgreSQL "
                                                          "queue and `deltamem worker` processes; server tables in "
                                                          "Postgres).")]
Store = Annotated[str | None, typer.Option(help="sqlite | postgres (default: the config's).")]
Dsn = Annotated[str | None, typer.Option(help="PostgreSQL DSN for --store postgres.")]


def _keys(state_db: Path | None, *, store: str | None = None, dsn: str | None = None,
          queue: str | None = None) -> Any:
    from deltamem.server.keys import KeyStore
    from deltamem.server.state import open_state_db

    return KeyStore(open_state_db(_server_config(state_db=state_db, store=store, dsn=dsn, queue=queue)))


@keys_app.command("create")
def keys_create(tenant: Annotated[str | None, typer.Option(help="The tenant this key acts for.")] = None,
                admin: Annotated[bool, typer.Option("--admin", help="An admin key (manages keys over HTTP).")]
                = False,
                label: Annotated[str, typer.Option(help="A note for the key list.")] = "",
                state_db: StateDb = None, store: Store = None, dsn: Dsn = None, queue: Queue = None) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    def body() -> None:
        if (tenant is None) == (not admin):
            raise ValueError("give --tenant NAME for a tenant key, or --admin for an admin key")
        record, key = _keys(state_db, store=store, dsn=dsn, queue=queue).create(tenant=tenant, admin=admin, label=label)
        if OPTS.json:
            render.print_json({"id": record.id, "tenant": record.tenant, "admin": record.admin, "key": key})
        else:
            render.console.print(f"key {record.id} for {'admin' if admin else f'tenant {tenant}'}:")
            print(key)
            render.err_console.print("store it now: only its hash is kept")
    run_safely(body)


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
              state_db: StateDb = None, store: Store = None, dsn: Dsn = None, queue: Queue = None) -> None:
    """List keys (never the keys themselves)."""
    def body() -> None:
        records = _keys(state_db, store=store, dsn=dsn, queue=queue).list(tenant=tenant)
        rows = [{"id": r.id, "tenant": r.tenant, "admin": r.admin, "label": r.label,
                 "created_at": r.created_at.isoformat(),
                 "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None} for r in records]
        if OPTS.json:
            render.print_json(rows)
            return
        from rich.table import Table

        table = Table(title="API keys")
        for col in ("id", "tenant", "label", "created", "revoked"):
            table.add_column(col)
        for r in records:
            table.add_row(r.id, "(admin)" if r.admin else str(r.tenant), r.label,
                          r.created_at.strftime("%Y-%m-%d %H:%M"),
                          r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else "")
        render.console.print(table)
    run_safely(body)


@keys_app.command("revoke")
def keys_revoke(key_id: str, state_db: StateDb = None, store: Store = None, dsn: Dsn = None,
                queue: Queue = None) -> None:
    """Revoke a key: its requests get 401 from now on."""
    def body() -> None:
        record = _keys(state_db, store=store, dsn=dsn, queue=queue).revoke(key_id)
        if OPTS.json:
            render.print_json({"id": record.id, "revoked_at": record.revoked_at.isoformat() if record.revoked_at
                               else None})
        else:
            render.console.print(f"revoked key {record.id}")
    run_safely(body)


def serve(host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port.")] = 8080,
          store: Store = None, dsn: Dsn = None, queue: Queue = None,
          workers_in_process: Annotated[int | None, typer.Option(
              "--workers-in-process", help="Ingestion worker threads (default 1).")] = None,
          state_db: StateDb = None,
          log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info") -> None:
    """Run the REST server (OpenAPI at /openapi.json, interactive docs at /docs)."""
    def body() -> None:
        from deltamem.server.run import serve as run_server

        run_server(_server_config(store=store, dsn=dsn, workers=workers_in_process, state_db=state_db, queue=queue),
                   host=host, port=port, log_level=log_level)
    run_safely(body)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``keys`` group to the main app."""
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
