"""``deltamem mcp``: serve the memory as MCP tools over stdio (desktop clients) or streamable HTTP (loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely

#: Environment variable holding the HTTP bearer token (the value of ``deltamem.mcp_server.run.TOKEN_ENV``, spelled
#: out so that ``--help`` does not import the MCP server).
TOKEN_ENV = "DELTAMEM_MCP_TOKEN"


def mcp(
    transport: Annotated[str, typer.Option(help="stdio (a client launches this command) | http (streamable "
                                                "HTTP at http://HOST:PORT/mcp).")] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP: address to bind; only loopback unless a token is set.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP: port to listen on.", min=1, max=65535)] = 8765,
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file (as `deltamem --config`).")]
    = None,
    user_id: Annotated[str | None, typer.Option("--user-id", "--user", "-u",
                                                help="Default user for tool calls that name none.")] = None,
    agent_id: Annotated[str | None, typer.Option("--agent-id", "--agent",
                                                 help="Default agent scope for tool calls that name none.")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", envvar=TOKEN_ENV, show_envvar=True,
        help="HTTP: require `Authorization: Bearer TOKEN` on every request (401 otherwise).")] = None,
) -> None:
    """Serve the memory to MCP clients: add, search, list, get, update, delete, history and answer tools."""
    def body() -> None:
        from deltamem.mcp_server.run import serve_mcp
        from deltamem.registry import flag_overrides

        serve_mcp(transport=transport, host=host, port=port, config=config or OPTS.config,
                  overrides=flag_overrides(db=OPTS.db, embedder=OPTS.embedder, llm=OPTS.llm), user_id=user_id,
                  agent_id=agent_id, token=token,
                  report=lambda line: render.err_console.print(line, style="dim", markup=False))
    run_safely(body)


def register(app: typer.Typer) -> None:
    """Add ``deltamem mcp`` to the main app."""
    app.command("mcp")(mcp)
