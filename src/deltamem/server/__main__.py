"""``python -m deltamem.server [--host H] [--port P] [--store ...] ...``: the REST server of ``deltamem serve``,
configured from the environment and these flags only (handy for subprocesses and containers).

For example ``DELTAMEM_STORE__PATH=/tmp/m.db DELTAMEM_EMBEDDER__PROVIDER=hashing DELTAMEM_LLM__PROVIDER=none
python -m deltamem.server --port 8081`` (see docs/server.md for every variable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deltamem.core import DeltamemError


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and serve until stopped; a configuration error exits with status 1 and one line."""
    parser = argparse.ArgumentParser(prog="python -m deltamem.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8080, help="port")
    parser.add_argument("--store", help="sqlite | postgres (default: the config's)")
    parser.add_argument("--dsn", help="PostgreSQL DSN for --store postgres")
    parser.add_argument("--queue", help="local (in-process jobs) | procrastinate (PostgreSQL queue and workers)")
    parser.add_argument("--workers-in-process", type=int, help="ingestion worker threads (default 1)")
    parser.add_argument("--state-db", type=Path, help="server database (keys, jobs); default next to the store")
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from deltamem.server.run import serve, server_config

    try:
        serve(server_config(store=args.store, dsn=args.dsn, workers=args.workers_in_process, state_db=args.state_db,
                            queue=args.queue), host=args.host, port=args.port, log_level=args.log_level)
    except (DeltamemError, OSError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
