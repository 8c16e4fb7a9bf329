"""A scripted fake ChatModel for tests (and for users testing their own code without a model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deltamem.core.errors import LLMError
from deltamem.llm.base import ChatModel, ChatRequest, ChatResponse, Message, Usage

Reply = str | ChatResponse | Callable[[Sequence[Message]], str | ChatResponse]


class ScriptedChatModel(ChatModel):
    """Returns the scripted replies in order; each may be a string, a ChatResponse or a function of the messages.

    Every request is recorded in ``requests`` (as :meth:`ChatRequest.as_dict`) so tests can assert on what was sent.
    Running out of replies raises :class:`LLMError`, so a test that makes more calls than it expects fails loudly.
    Usage counts whitespace-separated words as tokens, which is enough to test budgets.
    """

    def __init__(self, replies: Sequence[Reply] = (), *, name: str = "scripted", supports_tools: bool = False,
                 default: Reply | None = None) -> None:
        self._replies = list(replies)
        self._default = default
        self._name = name
        self._supports_tools = supports_tools
        self.requests: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        return self._supports_tools

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The next scripted reply (or the default); :class:`LLMError` when none is left."""
        self.requests.append(request.as_dict())
        messages = request.messages
        if self._replies:
            reply = self._replies.pop(0)
        elif self._default is not None:
            reply = self._default
        else:
            raise LLMError(f"scripted model has no reply left for call #{len(self.requests)}")
        if callable(reply):
            reply = reply(messages)
        if isinstance(reply, ChatResponse):
            return reply
        prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
        return ChatResponse(content=reply, usage=Usage(prompt, len(reply.split()), 0, 1, 0.0))
