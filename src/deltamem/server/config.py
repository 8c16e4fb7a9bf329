"""Server configuration: the memory config plus limits, workers and the admin key.

Loaded at the edge only (``deltamem serve``, ``python -m deltamem.server``): the memory part as usual (TOML +
``DELTAMEM_*``), server settings from ``DELTAMEM_SERVER__<FIELD>`` and the admin key from ``DELTAMEM_ADMIN_KEY``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from deltamem.config import MemoryConfig, default_home, load_config
from deltamem.core import ConfigError

MiB = 1024 * 1024
_PREFIX = "DELTAMEM_SERVER__"


class ServerConfig(BaseModel):
    """Everything :func:`deltamem.server.create_app` needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    state_path: Path | None = None  # keys, jobs, idempotency; default: server.db next to the SQLite store
    max_json_bytes: int = Field(default=1 * MiB, ge=1024)
    max_import_bytes: int = Field(default=512 * MiB, ge=1024)
    rate_per_s: float = Field(default=20.0, ge=0)  # 0 turns rate limiting off
    rate_burst: int = Field(default=60, ge=1)
    workers: int = Field(default=1, ge=1, le=64)  # in-process ingestion workers
    idempotency_ttl_s: float = Field(default=86_400.0, gt=0)
    admin_key: SecretStr | None = None
    max_page: int = Field(default=1000, ge=1)
    # Ingestion jobs: "local" = worker threads in this process (any store); "procrastinate" = a PostgreSQL queue
    # served by `deltamem worker` processes, with the server tables in Postgres (needs the postgres store).
    queue: Literal["local", "procrastinate"] = "local"
    state_schema: str = "deltamem_server"  # procrastinate: the schema of the server tables
    queue_schema: str = "procrastinate"  # procrastinate: the schema of its own tables
    job_attempts: int = Field(default=3, ge=1, le=100)  # procrastinate: runs of a job before it is marked failed
    job_retry_wait_s: int = Field(default=5, ge=0)  # procrastinate: pause before a job that raised runs again
    stalled_after_s: float = Field(default=30.0, ge=5)  # procrastinate: a worker this long silent is presumed dead

    @model_validator(mode="after")
    def _queue_needs_postgres(self) -> ServerConfig:
        if self.queue == "procrastinate" and (self.memory.store.provider != "postgres" or not self.memory.store.dsn):
            raise ValueError("queue 'procrastinate' needs the PostgreSQL store (store provider 'postgres' and a dsn)")
        return self

    def state_file(self) -> Path:
        """Where the SQLite server database lives (with ``queue = "local"``)."""
        if self.state_path is not None:
            return self.state_path
        if self.memory.store.provider == "sqlite":
            return self.memory.sqlite_path().parent / "server.db"
        return (self.memory.home or default_home()) / "server.db"


def load_server_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                       overrides: Mapping[str, Any] | None = None,
                       memory_overrides: Mapping[str, Any] | None = None) -> ServerConfig:
    """Build a ServerConfig from a TOML file (memory part), the environment and explicit overrides.

    The memory part is :func:`deltamem.config.load_config` of ``path`` with the ``DELTAMEM_*`` variables and
    ``memory_overrides``; the server settings come from ``DELTAMEM_SERVER__<FIELD>`` and ``overrides``, the admin
    key from ``DELTAMEM_ADMIN_KEY`` (before ``DELTAMEM_SERVER__ADMIN_KEY``; empty means unset).
    """
    from deltamem.config.settings import problems, read_settings  # pydantic-settings: only when loading

    env = os.environ if env is None else env
    memory_env = {k: v for k, v in env.items() if not k.startswith(_PREFIX) and k != "DELTAMEM_ADMIN_KEY"}
    memory = load_config(path, env=memory_env, overrides=memory_overrides)
    server_env = {k: v for k, v in env.items() if k.startswith(_PREFIX)}
    if env.get("DELTAMEM_ADMIN_KEY"):
        server_env[f"{_PREFIX}ADMIN_KEY"] = env["DELTAMEM_ADMIN_KEY"]
    try:
        return read_settings(ServerConfig, env=server_env, prefix=_PREFIX, overrides={**(overrides or {}),
                                                                                       "memory": memory})
    except ValidationError as e:
        raise ConfigError(f"invalid server configuration: {problems(e)}") from e
