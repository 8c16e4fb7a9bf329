"""One memory, one JSON shape: the REST API, the MCP tools, the CLI's ``--json`` and the Python client all send or
read :class:`deltamem.core.view.MemoryView`, and history records embed it (before / after).

The same stored entries are read through every surface. REST namespaces are relative to the caller's tenant, so
the REST side is compared with the CLI reading the tenant's full namespace; MCP has no tenants, so it is compared
with the CLI on a plain ``user:`` namespace.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp.client.client import Client
from tests.mcp_server.conftest import run_async
from tests.server.conftest import Srv
from tests.server.test_client import sync_client
from typer.testing import CliRunner

from deltamem.cli.main import app
from deltamem.core import Add
from deltamem.core.view import MemoryView
from deltamem.facade.memory import Memory
from deltamem.mcp_server import build_server
from deltamem.mcp_server.models import MEMORY_FIELD_DESCRIPTIONS, MemoryItem, ScoredMemory
from deltamem.server.dto import MemoryOut

pytestmark = pytest.mark.timeout(60)

TENANT_NS = "tenant:acme/user:alice"
FACT = "Alice lives in Oslo"


def write(memory: Memory, namespace: str) -> str:
    """One memory with every field set (provenance, keywords, nested metadata, a fact time), then updated."""
    cs = memory.apply([Add(text=FACT, timestamp=datetime(2024, 5, 1, 9, 30, tzinfo=UTC), keywords=("oslo",),
                           message_indices=(0, 2), metadata={"source": "chat", "seen": {"n": [1, 2.5, None]}})],
                      namespace=namespace, session_id="s1")
    mid = cs.changes[0].memory_id
    memory.update(mid, "Alice lives in Oslo, Norway", namespace=namespace)
    return mid


def cli(srv: Srv, *args: str) -> Any:
    db = Path(srv.memory.store.path)  # type: ignore[attr-defined]  # the SqliteStore of make_server
    result = CliRunner().invoke(app, ["--db", str(db), "--embedder", "hashing", "--llm", "none", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def mcp(memory: Memory, tool: str, args: dict[str, Any]) -> Any:
    async def body() -> Any:
        async with Client(build_server(memory, user_id="alice")) as client:
            result = await client.call_tool(tool, args)
            assert not result.is_error, result.content
            return result.structured_content

    return run_async(body)


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


def relative(view: dict[str, Any]) -> dict[str, Any]:
    """A CLI view of the tenant's namespace as the tenant sees it over REST."""
    return {**view, "namespace": view["namespace"].removeprefix("tenant:acme/")}


def test_every_surface_names_the_one_shape() -> None:
    fields = list(MemoryView.model_fields)
    assert list(MemoryOut.model_fields) == fields == list(MemoryItem.model_fields)
    assert list(ScoredMemory.model_fields) == [*fields, "score"]
    schema = MemoryItem.model_json_schema()["properties"]  # MCP clients read every field's meaning
    assert list(MEMORY_FIELD_DESCRIPTIONS) == fields
    assert {name: schema[name]["description"] for name in fields} == MEMORY_FIELD_DESCRIPTIONS


def test_rest_and_cli_send_the_same_memory(srv: Srv) -> None:
    mid = write(srv.memory, TENANT_NS)
    h, alice = srv.h(), {"user_id": "alice"}
    rest = srv.client.get(f"/v1/memories/{mid}", params=alice, headers=h).json()
    shown = cli(srv, "get", mid, "--namespace", TENANT_NS)
    assert rest == relative(shown)
    assert shown["namespace"] == TENANT_NS and rest["namespace"] == "user:alice"
    assert (rest["timestamp"], rest["session_id"], rest["message_indices"]) == ("2024-05-01T09:30:00Z", "s1", [0, 2])

    assert srv.client.get("/v1/memories", params=alice, headers=h).json()["items"] == [rest]
    assert [relative(v) for v in cli(srv, "list", "--namespace", TENANT_NS)["results"]] == [rest]
    hit = srv.client.post("/v1/search", params=alice, headers=h, json={"query": "Oslo", "k": 1}).json()
    cli_hit = cli(srv, "search", "Oslo", "--namespace", TENANT_NS, "-k", "1")["results"][0]
    assert hit["results"][0]["memory"] == relative(without(cli_hit, "memory", "score")) == rest

    with sync_client(srv) as client:  # the client reads the same shape back
        assert client.get(mid, user_id="alice") == MemoryOut.model_validate(rest)
        assert isinstance(client.get(mid, user_id="alice"), MemoryView)


def test_rest_and_cli_history_embed_the_same_memory(srv: Srv) -> None:
    mid = write(srv.memory, TENANT_NS)
    rest = srv.client.get("/v1/history", params={"user_id": "alice", "memory_id": mid}, headers=srv.h()).json()
    shown = cli(srv, "history", mid, "--namespace", TENANT_NS)
    assert [r["kind"] for r in rest["items"]] == ["ADD", "UPDATE"]
    for r, c in zip(rest["items"], shown, strict=True):
        before, after = (relative(c[side]) if c[side] else None for side in ("before", "after"))
        assert r == {**relative(c), "before": before, "after": after}
    update = rest["items"][1]
    assert update["before"]["text"] == FACT and update["after"]["message_indices"] == [0, 2]
    assert update["created_at"].endswith("Z")


def test_mcp_and_cli_send_the_same_memory(srv: Srv) -> None:
    mid = write(srv.memory, "user:alice")
    got = mcp(srv.memory, "get_memory", {"memory_id": mid})
    assert got == cli(srv, "get", mid, "-u", "alice")
    assert (got["namespace"], got["keywords"]) == ("user:alice", ["oslo"])
    assert got["metadata"] == {"source": "chat", "seen": {"n": [1, 2.5, None]}}
    assert mcp(srv.memory, "list_memories", {})["memories"] == cli(srv, "list", "-u", "alice")["results"] == [got]
    hit = mcp(srv.memory, "search_memory", {"query": "Oslo", "limit": 1})["results"][0]
    assert without(hit, "score") == without(cli(srv, "search", "Oslo", "-u", "alice", "-k", "1")["results"][0],
                                            "memory", "score") == got
