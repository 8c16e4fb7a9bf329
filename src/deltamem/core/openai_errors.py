"""One mapping from openai-SDK errors to messages that say what to fix (shared by the embedder and chat clients)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a message needs to know about the endpoint a call went to."""

    kind: str  # "embeddings" | "chat"
    model: str
    base_url: str
    has_key: bool
    key_source: str
    api_key_env: str
    timeout: float


def describe(e: Exception, openai: Any, ep: Endpoint) -> str:
    """A one-line description of an SDK error: the status, the likely cause and the server's own message."""
    where = f"{ep.kind} model {ep.model!r} at {ep.base_url}"
    body = getattr(e, "body", None)
    detail = body.get("message") if isinstance(body, dict) else None
    detail = detail or getattr(e, "message", None) or str(e)
    if isinstance(e, openai.AuthenticationError):
        hint = (f"wrong API key for {ep.base_url} (from {ep.key_source})" if ep.has_key
                else f"the server wants an API key: set ${ep.api_key_env} or pass api_key")
        return f"{where}: HTTP 401, {hint}: {detail}"
    if isinstance(e, openai.PermissionDeniedError):
        return f"{where}: HTTP 403, the API key may not use this model: {detail}"
    if isinstance(e, openai.NotFoundError):
        return f"{where}: HTTP 404, unknown model or a base_url without /v1: {detail}"
    if isinstance(e, openai.APITimeoutError):
        return f"{where}: no answer within {ep.timeout:g}s"
    if isinstance(e, openai.APIConnectionError):
        return f"cannot connect to the {ep.kind} server at {ep.base_url}: {e}"
    if isinstance(e, openai.APIStatusError):
        return f"{where}: HTTP {e.status_code}: {detail}"
    return f"{where}: {e}"
