"""docs/openapi.json is the schema the app publishes (regenerate: python -m deltamem.server.openapi_doc)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.server.conftest import Srv

from deltamem.server.openapi_doc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_schema_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m deltamem.server.openapi_doc"


def test_served_schema_equals_the_committed_one(srv: Srv) -> None:
    served = srv.client.get("/openapi.json").json()
    assert served == json.loads(DOC.read_text(encoding="utf-8"))
    assert {"HTTPBearer", "APIKeyHeader"} <= set(served["components"]["securitySchemes"])
    assert served["paths"]["/v1/sessions"]["post"]["responses"]["202"]
