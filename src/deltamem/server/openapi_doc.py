"""Write the published OpenAPI schema to ``docs/openapi.json``: ``python -m deltamem.server.openapi_doc [PATH]``.

The schema does not depend on the store or models, so it is generated from an app over an in-memory store;
``tests/server/test_openapi_doc.py`` fails when the committed file is out of date.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def schema() -> dict[str, Any]:
    """The app's OpenAPI schema."""
    from deltamem.embed.hashing import HashingEmbedder
    from deltamem.facade.memory import Memory
    from deltamem.server import ServerConfig, create_app
    from deltamem.server.state import StateDB
    from deltamem.stores.memory import InMemoryStore

    with tempfile.TemporaryDirectory() as tmp:
        db = StateDB(Path(tmp) / "server.db")
        try:
            app = create_app(ServerConfig(), memory=Memory(store=InMemoryStore(), embedder=HashingEmbedder()), db=db)
            return app.openapi()
        finally:
            db.close()


def render() -> str:
    """The schema as the committed text (sorted keys, two-space indent, final newline)."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write the schema file."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path("docs/openapi.json")
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
