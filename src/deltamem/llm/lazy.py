"""A ChatModel that builds its backend on first use (loading a local GGUF costs seconds; many commands never chat)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deltamem.llm.base import ChatModel, ChatResponse, Message


class LazyChatModel:
    """Defers ``factory()`` until the first ``chat``; ``name`` and ``supports_tools`` are known up front."""

    def __init__(self, factory: Callable[[], ChatModel], *, name: str, supports_tools: bool = False) -> None:
        self._factory = factory
        self._name = name
        self._supports_tools = supports_tools
        self._model: ChatModel | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        return self._model.supports_tools if self._model is not None else self._supports_tools

    @property
    def loaded(self) -> ChatModel:
        """The backend, built now if needed."""
        with self._lock:
            if self._model is None:
                self._model = self._factory()
            return self._model

    def chat(self, messages: Sequence[Message], *, tools: Sequence[Mapping[str, Any]] | None = None,
             json_schema: Mapping[str, Any] | None = None, max_tokens: int = 512, temperature: float = 0.0,
             stop: Sequence[str] | None = None, seed: int | None = None) -> ChatResponse:
        return self.loaded.chat(messages, tools=tools, json_schema=json_schema, max_tokens=max_tokens,
                                temperature=temperature, stop=stop, seed=seed)

    def close(self) -> None:
        """Close the backend if it was built (a local model frees its memory); a later ``chat`` builds it again."""
        with self._lock:
            model, self._model = self._model, None
        close = getattr(model, "close", None)
        if callable(close):
            close()
