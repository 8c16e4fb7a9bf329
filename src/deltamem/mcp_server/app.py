"""Build the deltamem MCP server around an injected :class:`deltamem.Memory`, and run it over stdio or HTTP."""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from starlette.types import ASGIApp

from deltamem._version import __version__
from deltamem.core import ConfigError
from deltamem.mcp_server.auth import BearerTokenMiddleware
from deltamem.mcp_server.tools import MemoryTools

if TYPE_CHECKING:
    from deltamem.facade.memory import Memory

log = logging.getLogger(__name__)

#: The path the streamable-HTTP endpoint is served under (the SDK's default).
HTTP_PATH = "/mcp"

INSTRUCTIONS = """\
deltamem is the user's long-term memory. Search it (search_memory) before answering questions that may depend on \
what the user told you earlier. Store durable facts about the user with add_memory: either short self-contained \
facts, or the conversation as messages so that deltamem's memory agent decides what to add, update or delete. \
Correct outdated facts with update_memory and retire wrong ones with delete_memory; every change is kept in \
memory_history."""

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
# Overwrites and deletes are revertable, but from the client's point of view they replace or remove a fact.
_OVERWRITE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


def build_server(memory: Memory, *, user_id: str | None = None, agent_id: str | None = None,
                 name: str = "deltamem") -> MCPServer[Any]:
    """An MCP server exposing ``memory`` as tools; ``user_id`` / ``agent_id`` are the default scope of calls."""
    tools = MemoryTools(memory, user_id=user_id, agent_id=agent_id)
    server: MCPServer[Any] = MCPServer(name, title="deltamem memory", instructions=INSTRUCTIONS, version=__version__,
                                       log_level="WARNING")
    for fn, title, hints in (
        (tools.add_memory, "Add memory", _WRITE),
        (tools.search_memory, "Search memory", _READ),
        (tools.list_memories, "List memories", _READ),
        (tools.get_memory, "Get memory", _READ),
        (tools.update_memory, "Update memory", _OVERWRITE),
        (tools.delete_memory, "Delete memory", _OVERWRITE),
        (tools.memory_history, "Memory history", _READ),
        (tools.answer, "Answer from memory", _READ),
    ):
        server.add_tool(fn, title=title, annotations=hints, structured_output=True)
    return server


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_app(server: MCPServer[Any], *, host: str = "127.0.0.1", token: str | None = None) -> ASGIApp:
    """The streamable-HTTP ASGI app at :data:`HTTP_PATH`, behind a bearer token when one is given.

    Without a token the app may only be bound to a loopback address: the memories are personal data.
    """
    if token is None and not is_loopback(host):
        raise ConfigError(f"refusing to serve memories on {host} without a bearer token; "
                          "set --token / DELTAMEM_MCP_TOKEN or bind to 127.0.0.1")
    app: ASGIApp = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    return BearerTokenMiddleware(app, token=token) if token is not None else app


def run_http(server: MCPServer[Any], *, host: str = "127.0.0.1", port: int = 8765,
             token: str | None = None) -> None:
    """Serve streamable HTTP until interrupted (blocking)."""
    import uvicorn

    app = http_app(server, host=host, token=token)
    log.warning("deltamem MCP server on http://%s:%d%s (%s)", host, port, HTTP_PATH,
                "bearer token required" if token else "no token")
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()


def run_stdio(server: MCPServer[Any]) -> None:
    """Serve over stdin/stdout until the client closes the pipe (blocking). Logs go to stderr."""
    server.run("stdio")
