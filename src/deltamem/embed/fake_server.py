"""A tiny OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1 (a :class:`~deltamem.wire.WireServer`), for
tests of the HTTP path.

It is a fake of a real server, not a mock of our code: :class:`~deltamem.embed.openai_compat.OpenAICompatEmbedder`
talks to it over real sockets through the ``openai`` SDK, so auth, status codes, batching, retries and response
parsing are all exercised. Vectors are deterministic (hashed features, deliberately *not* unit length, so the
client's normalisation is tested too).

    with FakeEmbeddingsServer(dim=32) as server:
        emb = OpenAICompatEmbedder(model=server.model, base_url=server.base_url, api_key=server.api_key)
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from deltamem.embed.hashing import HashingEmbedder
from deltamem.wire import Answer, WireRequest, WireServer, embeddings_body, error_body


class FakeEmbeddingsServer(WireServer):
    """Serves ``POST /v1/embeddings`` for one model and one API key; answers 401 to any other key.

    ``requests`` records the input list of every accepted request (to check batching). ``fail_next(status, n)``
    makes the next ``n`` requests fail with ``status`` (to check error mapping and retries); failures carry
    ``retry-after-ms: 1`` so SDK retries do not sleep.
    """

    def __init__(self, *, dim: int = 32, model: str = "fake-embed", api_key: str = "test-key") -> None:
        self.dim = dim
        self.model = model
        self.requests: list[list[str]] = []
        self._hashing = HashingEmbedder(dim=dim)
        self._failures: list[int] = []
        self._lock = threading.Lock()
        super().__init__({("POST", "/embeddings"): self._respond}, api_key=api_key,
                         error_headers={"retry-after-ms": "1"}, name="fake-embeddings")

    def vectors(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """What the server returns for ``texts``: hashed features scaled by ``1 + len(text)`` (not unit length)."""
        scale = np.array([[1.0 + len(t)] for t in texts], dtype=np.float32)
        return (self._hashing.embed(texts) * scale).astype(np.float32)

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` requests with HTTP ``status``."""
        with self._lock:
            self._failures.extend([status] * count)

    def _respond(self, request: WireRequest) -> Answer:
        """Status and JSON body for one authorised request (the protocol logic, apart from the socket handling)."""
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure, _error(f"injected failure {failure}", "server_error")
        req = request.payload
        if req.get("model") != self.model:
            return 404, _error(f"The model {req.get('model')!r} does not exist", "model_not_found")
        inputs = req.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
            return 400, _error("input must be a non-empty string or list of non-empty strings", "invalid_request")
        with self._lock:
            self.requests.append(list(inputs))
        body = embeddings_body(self.vectors(inputs), inputs, model=self.model,
                               encoding="base64" if req.get("encoding_format") == "base64" else "float")
        body["data"].reverse()  # clients must order by "index", not by position
        return 200, body


def _error(message: str, code: str) -> dict[str, Any]:
    return error_body(message, "invalid_request_error", code=code)
