"""A static bearer token in front of the streamable-HTTP MCP app.

The SDK's own auth path is OAuth (an authorization server, protected-resource metadata); a local memory server
needs only "this client knows the shared secret", so this is a plain ASGI wrapper.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from deltamem.core import ConfigError


class BearerTokenMiddleware:
    """Reject every HTTP request without ``Authorization: Bearer <token>`` with 401; pass lifespan events through."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        if not token.strip():
            raise ConfigError("the MCP bearer token must not be empty")
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan (starts the SDK's session manager) carries no headers
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k.lower() == b"authorization"), b"")
        # Constant-time comparison, so response timing does not leak how much of the token matched.
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "unauthorized",
                           "error_description": "missing or wrong bearer token"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b'Bearer realm="deltamem-mcp"')]})
        await send({"type": "http.response.body", "body": body})
