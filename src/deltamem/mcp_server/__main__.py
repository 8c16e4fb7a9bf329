"""``python -m deltamem.mcp_server [--transport stdio|http] ...``: the ``deltamem mcp`` server as its own program."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deltamem.core import DeltamemError


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and serve until stopped; a configuration error exits with status 1 and one line."""
    from deltamem.mcp_server.run import TOKEN_ENV, serve_mcp

    parser = argparse.ArgumentParser(prog="python -m deltamem.mcp_server",
                                     description="Serve the memory to MCP clients (stdio or streamable HTTP).")
    parser.add_argument("--transport", default="stdio", help="stdio (a client launches this program) | http")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP: address to bind; only loopback unless a token "
                                                             "is set")
    parser.add_argument("--port", type=int, default=8765, help="HTTP: port to listen on")
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument("--user-id", "--user", "-u", dest="user_id", help="default user for tool calls naming none")
    parser.add_argument("--agent-id", "--agent", dest="agent_id", help="default agent scope for tool calls")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"HTTP: require `Authorization: Bearer TOKEN` (default: ${TOKEN_ENV})")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not 1 <= args.port <= 65535:
        parser.error("--port must lie between 1 and 65535")
    try:
        serve_mcp(transport=args.transport, host=args.host, port=args.port, config=args.config,
                  user_id=args.user_id, agent_id=args.agent_id, token=args.token,
                  report=lambda line: print(line, file=sys.stderr))
    except (DeltamemError, OSError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
