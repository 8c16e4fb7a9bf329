"""A ChatModel that builds its backend on first use (loading a local GGUF costs seconds; many commands never chat)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from deltamem.llm.base import ChatModel, ChatRequest, ChatResponse


class LazyChatModel(ChatModel):
    """Defers ``factory()`` until the first call; ``name`` and ``supports_tools`` are known up front."""

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

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The backend's answer (building it first if this is the first call)."""
        return self.loaded.complete(request)

    def close(self) -> None:
        """Close the backend if it was built (a local model frees its memory); a later call builds it again."""
        with self._lock:
            model, self._model = self._model, None
        close = getattr(model, "close", None)
        if callable(close):
            close()
