"""deltamem as an MCP server: memory tools for any MCP client (Claude Desktop, IDEs, agents).

Build one around a :class:`deltamem.Memory` with :func:`build_server`, then serve it with :func:`run_stdio` or
:func:`run_http`; ``deltamem mcp`` does this from the command line. Needs the ``server`` extra (``mcp``).
"""

from deltamem.mcp_server.app import HTTP_PATH, build_server, http_app, run_http, run_stdio
from deltamem.mcp_server.tools import MemoryTools

__all__ = ["HTTP_PATH", "MemoryTools", "build_server", "http_app", "run_http", "run_stdio"]
