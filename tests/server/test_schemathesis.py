"""Property-based requests generated from the published OpenAPI schema: no input produces a 500.

Bounded (a few examples per operation) and in-process (the ASGI app, no network). Requests carry a valid tenant
key, so generated bodies reach the routes instead of stopping at authentication.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from tests.server.conftest import make_memory  # noqa: E402

from deltamem.server import ServerConfig, create_app  # noqa: E402
from deltamem.server.keys import KeyStore  # noqa: E402
from deltamem.server.state import StateDB  # noqa: E402

# Made at import (schemathesis needs the app to build its tests), removed when the test process exits: also when
# this module was only collected (e.g. deselected by -k), which a fixture's teardown would miss.
_TMP = Path(tempfile.mkdtemp(prefix="deltamem-schemathesis-"))
atexit.register(shutil.rmtree, _TMP, True)
_DB = StateDB(_TMP / "server.db")
_KEY = KeyStore(_DB).create(tenant="fuzz")[1]
_ADMIN = "admin-key-for-fuzzing"
APP = create_app(ServerConfig(state_path=_TMP / "server.db", rate_per_s=0, admin_key=_ADMIN),
                 memory=make_memory(_TMP / "memory.db"), db=_DB)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    # The import body is generated as an arbitrary string or bytes: a (nearly always invalid) export.
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case: Any) -> None:
    key = _ADMIN if case.path.startswith("/v1/admin") else _KEY
    response = case.call(headers={"Authorization": f"Bearer {key}"})
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, response.text
