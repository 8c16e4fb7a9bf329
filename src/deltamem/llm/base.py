"""The ChatModel capability: a :class:`ChatRequest` (OpenAI-style messages, optional tools / JSON schema) in, a reply
with usage out.

A backend implements one method, :meth:`ChatModel.complete`, which receives the request whole; :meth:`ChatModel.chat`
is the keyword form callers use (``model.chat(messages, max_tokens=64)``), defined once here: it builds the request
and calls ``complete``. Implementations subclass :class:`ChatModel` to inherit it; wrappers (cache, lazy loading,
metering) subclass :class:`ChatModelWrapper` and pass the request on unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol, runtime_checkable

from deltamem.core.errors import ConfigError

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


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion request, checked on construction and then forwarded whole by every wrapper.

    ``messages``, ``tools`` and ``stop`` are stored as tuples (a caller appending to its message list afterwards
    does not change a request already made); the mappings inside are not copied.

    Raises:
        ConfigError: no messages, a message without a string ``role``, ``max_tokens < 1``, ``temperature < 0``,
            or ``stop`` given as one string.
    """

    messages: Sequence[Message]
    _: KW_ONLY
    tools: Sequence[Mapping[str, Any]] | None = None
    json_schema: Mapping[str, Any] | None = None
    max_tokens: int = 512
    temperature: float = 0.0
    stop: Sequence[str] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        messages = tuple(self.messages)
        if not messages:
            raise ConfigError("messages must not be empty")
        for i, m in enumerate(messages):
            if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
                raise ConfigError(f"message #{i} must be a mapping with a string 'role', got {m!r:.80}")
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if isinstance(self.stop, str):
            raise ConfigError("stop must be a sequence of strings, not a string")
        object.__setattr__(self, "messages", messages)
        if self.tools is not None:
            object.__setattr__(self, "tools", tuple(self.tools))
        if self.stop is not None:
            object.__setattr__(self, "stop", tuple(self.stop))

    def as_dict(self) -> dict[str, Any]:
        """The request as plain data (messages and tools copied into lists of dicts, ``stop`` a list)."""
        return {"messages": [dict(m) for m in self.messages],
                "tools": None if self.tools is None else [dict(t) for t in self.tools],
                "json_schema": self.json_schema, "max_tokens": self.max_tokens, "temperature": self.temperature,
                "stop": None if self.stop is None else list(self.stop), "seed": self.seed}


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

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion. Raises :class:`deltamem.core.errors.LLMError` on backend failure."""
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
        """``complete(ChatRequest(messages, ...))``: the keyword form of a call. Raises :class:`ConfigError` for an
        invalid request (see :class:`ChatRequest`) and :class:`~deltamem.core.errors.LLMError` on backend failure.
        """
        return self.complete(ChatRequest(messages, tools=tools, json_schema=json_schema, max_tokens=max_tokens,
                                         temperature=temperature, stop=stop, seed=seed))


class ChatModelWrapper(ChatModel):
    """A ChatModel in front of ``inner``: same name, same tool support; :meth:`complete` forwards the request whole.

    Subclasses override :meth:`complete` to add what they are for (caching, metering, ...).
    """

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def supports_tools(self) -> bool:
        return self.inner.supports_tools

    def complete(self, request: ChatRequest) -> ChatResponse:
        """``inner.complete(request)``."""
        return self.inner.complete(request)
