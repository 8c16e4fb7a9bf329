"""``python -m deltamem.server [serve options]``: ``deltamem serve`` configured from the environment.

For example ``DELTAMEM_STORE__PATH=/tmp/m.db DELTAMEM_EMBEDDER__PROVIDER=hashing DELTAMEM_LLM__PROVIDER=none
python -m deltamem.server --port 8081`` (see docs/server.md for every variable).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run ``deltamem serve`` with these arguments."""
    from deltamem.cli.main import app

    app(args=["serve", *(sys.argv[1:] if argv is None else argv)], prog_name="python -m deltamem.server")


if __name__ == "__main__":
    main()
