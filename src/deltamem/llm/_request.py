"""The OpenAI-style request body for a :class:`ChatRequest` (shared by the local and remote backends)."""

from __future__ import annotations

from typing import Any

from deltamem.llm.base import ChatRequest


def build_request(request: ChatRequest) -> dict[str, Any]:
    """The OpenAI-style request body for llama.cpp (``cache_prompt`` on; remote backends drop it)."""
    body: dict[str, Any] = {
        "messages": [dict(m) for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "cache_prompt": True,
    }
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.tools:
        body["tools"] = [dict(t) for t in request.tools]
    if request.json_schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply",
                                                                          "schema": dict(request.json_schema),
                                                                          "strict": True}}
    return body
