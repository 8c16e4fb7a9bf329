"""The HTTP edge without a socket: the bearer-token wrapper, the loopback rule, and the command's own errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import typer
from starlette.types import Receive, Scope, Send
from tests.mcp_server.conftest import run_async
from typer.testing import CliRunner

from deltamem.cli.mcp_cmd import register
from deltamem.core import ConfigError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.mcp_server import build_server, http_app
from deltamem.mcp_server.app import is_loopback
from deltamem.mcp_server.auth import BearerTokenMiddleware
from deltamem.stores.memory import InMemoryStore

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """A fake inner ASGI app: answers 200 and records the scope types it was given."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope["type"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})


def get(app: Any, headers: dict[str, str]) -> httpx.Response:
    async def body() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
            return await c.post("/mcp", headers=headers)

    response: httpx.Response = run_async(body)
    return response


@pytest.mark.parametrize(("headers", "status"), [
    ({"Authorization": "Bearer s3cret-token"}, 200),
    ({"authorization": "Bearer s3cret-token"}, 200),  # header names are case-insensitive
    ({}, 401),
    ({"Authorization": "Bearer s3cret-toke"}, 401),
    ({"Authorization": "Bearer s3cret-token-and-more"}, 401),
    ({"Authorization": "bearer s3cret-token"}, 401),
    ({"Authorization": "s3cret-token"}, 401),
])
def test_bearer_token_gate(headers: dict[str, str], status: int) -> None:
    inner = Recorder()
    r = get(BearerTokenMiddleware(inner, token="s3cret-token"), headers)
    assert r.status_code == status
    assert inner.seen == (["http"] if status == 200 else [])  # a refused request never reaches the MCP app
    if status == 401:
        assert r.headers["www-authenticate"] == 'Bearer realm="deltamem-mcp"'


def test_empty_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="must not be empty"):
        BearerTokenMiddleware(Recorder(), token="  ")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.com", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_public_address_needs_a_token() -> None:
    server = build_server(Memory(store=InMemoryStore(), embedder=HashingEmbedder(dim=64)), user_id="alice")
    with pytest.raises(ConfigError, match="without a bearer token"):
        http_app(server, host="0.0.0.0")
    assert isinstance(http_app(server, host="0.0.0.0", token="t0ken"), BearerTokenMiddleware)
    assert not isinstance(http_app(server, host="127.0.0.1"), BearerTokenMiddleware)


def test_bad_default_user_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="user_id"):
        build_server(Memory(store=InMemoryStore(), embedder=HashingEmbedder(dim=64)), user_id="not valid")


@pytest.mark.parametrize(("args", "message"), [
    (["--transport", "carrier-pigeon"], "--transport must be stdio or http"),
    (["--transport", "stdio", "--config", "/nonexistent/deltamem.toml"], "cannot read config file"),
])
def test_command_errors_are_readable(args: list[str], message: str) -> None:
    app = typer.Typer()
    register(app)
    app.callback()(lambda: None)  # a group, as in the main app, so the command is called by name
    result = CliRunner().invoke(app, ["mcp", *args], env={"DELTAMEM_MCP_TOKEN": ""})
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
