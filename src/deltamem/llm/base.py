"""The ChatModel capability: OpenAI-style messages (and optional tools / JSON schema) in, a reply with usage out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: One chat message, OpenAI style: ``{"role": "system"|"user"|"assistant"|"tool", "content": str, ...}``.
Message = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A native tool call requested by the model."""

    id: str
    name: str
    arguments: str  # JSON text, as the model produced it (may be malformed; the caller parses)


@dataclass(slots=True)
class Usage:
    """What a call (or a sum of calls) cost."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens served from a KV / prefix cache, not recomputed
    calls: int = 0
    seconds: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
            self.calls + other.calls,
            self.seconds + other.seconds,
        )


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """The model's reply: text content, any native tool calls, why it stopped and the usage of this call."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    cached: bool = False  # served from the on-disk response cache


@runtime_checkable
class ChatModel(Protocol):
    """A chat-completions backend: the local GGUF model, any OpenAI-compatible endpoint, or a scripted fake."""

    @property
    def name(self) -> str:
        """Model identifier (part of cache keys and reports)."""
        ...

    @property
    def supports_tools(self) -> bool:
        """Whether native tool calls are available; callers fall back to a plain-text protocol otherwise."""
        ...

    def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> ChatResponse:
        """One chat completion. Raises :class:`deltamem.core.errors.LLMError` on backend failure."""
        ...
