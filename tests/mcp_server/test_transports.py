"""The server as a real process: stdio (a client launches it) and streamable HTTP with a bearer token."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult
from tests.mcp_server.conftest import HTTP_TOKEN, HttpServer, run_async, server_args, server_env

pytestmark = pytest.mark.timeout(60)

TOOLS = {"add_memory", "search_memory", "list_memories", "get_memory", "update_memory", "delete_memory",
         "memory_history", "answer"}


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    out: dict[str, Any] = result.structured_content
    assert out is not None
    return out


async def round_trip(session: ClientSession) -> dict[str, Any]:
    """The same conversation over any transport; returns what it observed."""
    await session.initialize()
    tools = {t.name for t in (await session.list_tools()).tools}
    added = data(await session.call_tool("add_memory", {"facts": ["Alice lives in Boston", "Alice likes tea"]}))
    ids = {c["after"]: c["memory_id"] for c in added["changes"]}
    boston = ids["Alice lives in Boston"]
    found = data(await session.call_tool("search_memory", {"query": "Boston", "limit": 1}))
    updated = data(await session.call_tool("update_memory", {"memory_id": boston, "text": "Alice lives in Denver"}))
    deleted = data(await session.call_tool("delete_memory", {"memory_id": ids["Alice likes tea"]}))
    history = data(await session.call_tool("memory_history", {"memory_id": boston}))
    listed = data(await session.call_tool("list_memories", {"limit": 10}))
    missing = await session.call_tool("get_memory", {"memory_id": "no-such-id"})
    oversize = await session.call_tool("add_memory", {"facts": ["y" * 5000]})
    return {"tools": tools, "found": [r["text"] for r in found["results"]],
            "updated": updated["changes"][0]["after"], "deleted": deleted["changes"][0]["kind"],
            "history": [(e["kind"], e["after"]) for e in history["events"]],
            "listed": [m["text"] for m in listed["memories"]],
            "missing": (missing.is_error, json.dumps([c.model_dump() for c in missing.content])),
            "oversize": (oversize.is_error, json.dumps([c.model_dump() for c in oversize.content]))}


def check_round_trip(seen: dict[str, Any]) -> None:
    assert seen["tools"] == TOOLS
    assert seen["found"] == ["Alice lives in Boston"]
    assert seen["updated"] == "Alice lives in Denver"
    assert seen["deleted"] == "DELETE"
    assert seen["history"] == [("ADD", "Alice lives in Boston"), ("UPDATE", "Alice lives in Denver")]
    assert seen["listed"] == ["Alice lives in Denver"]
    assert seen["missing"][0] and "NotFoundError: no live memory 'no-such-id'" in seen["missing"][1]
    assert seen["oversize"][0] and "text has 5000 characters; the limit is 2000" in seen["oversize"][1]


def test_stdio_round_trip(config_file: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=server_args(config_file, "--transport", "stdio"),
                                   env=server_env(), cwd=str(tmp_path))

    async def body() -> dict[str, Any]:
        with open(tmp_path / "stderr.log", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                return await round_trip(session)

    check_round_trip(run_async(body))
    # The process wrote to the configured SQLite file, not somewhere else.
    assert (tmp_path / "memory.db").exists()


def test_http_round_trip_with_token(http_server: HttpServer) -> None:
    async def body() -> dict[str, Any]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"}, timeout=10) as http,
            streamable_http_client(http_server.url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            return await round_trip(session)

    check_round_trip(run_async(body))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"},
                                     {"Authorization": HTTP_TOKEN}, {"Authorization": f"Basic {HTTP_TOKEN}"}])
def test_http_rejects_requests_without_the_token(http_server: HttpServer, headers: dict[str, str]) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    r = httpx.post(http_server.url, json=ping, timeout=5,
                   headers={"Accept": "application/json, text/event-stream", **headers})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"] == "unauthorized"


def test_http_client_without_token_cannot_connect(http_server: HttpServer) -> None:
    async def body() -> None:
        async with (
            httpx2.AsyncClient(timeout=10) as http,
            streamable_http_client(http_server.url, http_client=http) as (read, write),
            ClientSession(read, write, read_timeout_seconds=5) as session,
        ):
            await session.initialize()

    # The 401 surfaces as the SDK's MCPError inside its task groups: refused, not hung until the timeout.
    with pytest.raises(ExceptionGroup) as info:
        run_async(body)
    assert info.group_contains(MCPError, match="error response")

