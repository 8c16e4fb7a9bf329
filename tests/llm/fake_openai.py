"""A tiny OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1 (a :class:`~deltamem.wire.WireServer`) with
canned answers.

Real sockets, real ``openai`` SDK on the client side: status codes, retries, auth and parsing are all exercised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from deltamem.wire import Answer, WireRequest, WireServer


def completion(content: str | None = "ok", *, tool_calls: list[dict[str, Any]] | None = None,
               finish_reason: str = "stop", prompt_tokens: int = 11, completion_tokens: int = 3,
               cached_tokens: int | None = None) -> dict[str, Any]:
    """A chat.completion body as OpenAI returns it."""
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake-chat",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}], "usage": usage}


class FakeChatServer(WireServer):
    """Answers each chat completion with the next queued ``(status, body)``, or ``default`` when the queue is empty.

    ``requests`` holds every JSON body received; ``api_key``, when set, makes any other bearer token a 401.
    Error answers carry ``retry-after-ms: 1`` so that SDK retries do not sleep. ``GET /v1/models`` lists ``models``
    (``gets`` counts those requests).
    """

    def __init__(self, *, api_key: str | None = "test-key",
                 default: Answer | Callable[[dict[str, Any]], Answer] | None = None,
                 models: tuple[str, ...] = ("fake-chat",)) -> None:
        self.models = models
        self.gets = 0
        self.default = default if default is not None else (200, completion())
        self.queue: list[Answer] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__({("POST", "/chat/completions"): self._answer, ("GET", "/models"): self._models},
                         api_key=api_key, error_headers={"retry-after-ms": "1"}, name="fake-chat")

    def _answer(self, request: WireRequest) -> Answer:
        with self._lock:
            self.requests.append(request.payload)
            if self.queue:
                return self.queue.pop(0)
        return self.default(request.payload) if callable(self.default) else self.default

    def _models(self, request: WireRequest) -> Answer:
        with self._lock:
            self.gets += 1
        return 200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]}
