"""Checking chat arguments and building the OpenAI-style request body (shared by the local and remote backends)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.llm.base import Message


def build_request(messages: Sequence[Message], *, tools: Sequence[Mapping[str, Any]] | None,
                  json_schema: Mapping[str, Any] | None, max_tokens: int, temperature: float,
                  stop: Sequence[str] | None, seed: int | None) -> dict[str, Any]:
    """The OpenAI-style request body for llama.cpp, after checking the arguments."""
    if not messages:
        raise ConfigError("messages must not be empty")
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise ConfigError(f"message #{i} must be a mapping with a string 'role', got {m!r:.80}")
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be at least 1, got {max_tokens}")
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    if isinstance(stop, str):
        raise ConfigError("stop must be a sequence of strings, not a string")
    request: dict[str, Any] = {
        "messages": [dict(m) for m in messages],
        "max_tokens": max_tokens,
        "temperature": temperature,
        "cache_prompt": True,
    }
    if stop:
        request["stop"] = list(stop)
    if seed is not None:
        request["seed"] = seed
    if tools:
        request["tools"] = [dict(t) for t in tools]
    if json_schema is not None:
        request["response_format"] = {"type": "json_schema",
                                      "json_schema": {"name": "reply", "schema": dict(json_schema), "strict": True}}
    return request
