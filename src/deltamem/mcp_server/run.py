"""Running the MCP server from a config: shared by ``deltamem mcp`` and ``python -m deltamem.mcp_server``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deltamem.config import load_config
from deltamem.facade.memory import Memory
from deltamem.mcp_server.app import build_server, run_http, run_stdio
from deltamem.registry import reusing_chat_model

#: Environment variable holding the HTTP bearer token (safer than --token, which other users can see in `ps`).
TOKEN_ENV = "DELTAMEM_MCP_TOKEN"


def serve_mcp(*, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8765, config: Path | None = None,
              overrides: Mapping[str, Any] | None = None, user_id: str | None = None, agent_id: str | None = None,
              token: str | None = None, report: Callable[[str], None] = lambda line: None) -> None:
    """Build the memory from ``config`` (a TOML file), the environment and ``overrides``, then serve it over stdio
    (a client launches the process) or streamable HTTP at ``http://host:port/mcp`` until stopped. ``report``
    gets a line about the chat model used (stdout belongs to the protocol on stdio)."""
    if transport not in ("stdio", "http"):
        raise ValueError("--transport must be stdio or http")
    # load_config reads every DELTAMEM_* variable as a config key (and rejects unknown ones), and the token should
    # not leak into processes the server might start.
    os.environ.pop(TOKEN_ENV, None)
    cfg = load_config(config, overrides=dict(overrides or {}))
    with Memory.from_config(cfg, llm=reusing_chat_model(cfg.llm, os.environ, report=report)) as memory:
        server = build_server(memory, user_id=user_id, agent_id=agent_id)
        if transport == "stdio":
            run_stdio(server)  # a token is meaningless on a pipe the client itself opened
        else:
            run_http(server, host=host, port=port, token=token)
