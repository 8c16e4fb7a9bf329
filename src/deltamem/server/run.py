"""Running the REST server: its config from flags and the environment, and the uvicorn process. Shared by
``deltamem serve`` and ``python -m deltamem.server``, which differ only in how they read their flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deltamem.registry import flag_overrides
from deltamem.server.app import create_app
from deltamem.server.config import ServerConfig, load_server_config


def server_config(*, config: Path | None = None, db: Path | None = None, embedder: str | None = None,
                  llm: str | None = None, store: str | None = None, dsn: str | None = None, workers: int | None = None,
                  state_db: Path | None = None, queue: str | None = None) -> ServerConfig:
    """The server's config: the TOML file ``config`` and the environment, then these flags (a flag left out keeps
    the configured value). Raises ValueError for a flag that cannot work (an unknown store or queue, PostgreSQL
    without a DSN)."""
    if store not in (None, "sqlite", "postgres", "memory"):
        raise ValueError("--store must be sqlite or postgres")
    if store == "postgres" and not dsn:
        raise ValueError("--store postgres needs --dsn postgresql://...")
    if queue not in (None, "local", "procrastinate"):
        raise ValueError("--queue must be local or procrastinate")
    memory = flag_overrides(db=db, embedder=embedder, llm=llm)
    if store is not None:
        memory["store"] = {**memory.get("store", {}), "provider": store, **({"dsn": dsn} if dsn else {})}
    server: dict[str, Any] = {}
    if workers is not None:
        server["workers"] = workers
    if state_db is not None:
        server["state_path"] = str(state_db)
    if queue is not None:
        server["queue"] = queue
    return load_server_config(config, overrides=server, memory_overrides=memory)


def serve(config: ServerConfig, *, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info") -> None:
    """Build the app from ``config`` and serve it with uvicorn until stopped."""
    try:
        import uvicorn
    except ImportError as e:
        raise ValueError(f"the server needs the 'server' extra: pip install 'deltamem[server]' ({e})") from e
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level)
