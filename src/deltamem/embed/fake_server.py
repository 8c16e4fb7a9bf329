"""A tiny OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1 (stdlib only), for tests of the HTTP path.

It is a fake of a real server, not a mock of our code: :class:`~deltamem.embed.openai_compat.OpenAICompatEmbedder`
talks to it over real sockets through the ``openai`` SDK, so auth, status codes, batching, retries and response
parsing are all exercised. Vectors are deterministic (hashed features, deliberately *not* unit length, so the
client's normalisation is tested too).

    with FakeEmbeddingsServer(dim=32) as server:
        emb = OpenAICompatEmbedder(model=server.model, base_url=server.base_url, api_key=server.api_key)
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import numpy as np

from deltamem.embed.hashing import HashingEmbedder


class FakeEmbeddingsServer:
    """Serves ``POST /v1/embeddings`` for one model and one API key; answers 401 to any other key.

    ``requests`` records the input list of every accepted request (to check batching). ``fail_next(status, n)``
    makes the next ``n`` requests fail with ``status`` (to check error mapping and retries); failures carry
    ``retry-after-ms: 1`` so SDK retries do not sleep.
    """

    def __init__(self, *, dim: int = 32, model: str = "fake-embed", api_key: str = "test-key") -> None:
        self.dim = dim
        self.model = model
        self.api_key = api_key
        self.requests: list[list[str]] = []
        self._hashing = HashingEmbedder(dim=dim)
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval so that close() (shutdown) returns in milliseconds, not half a second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-embeddings", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        """The API root to give the client (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def vectors(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """What the server returns for ``texts``: hashed features scaled by ``1 + len(text)`` (not unit length)."""
        scale = np.array([[1.0 + len(t)] for t in texts], dtype=np.float32)
        return (self._hashing.embed(texts) * scale).astype(np.float32)

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` requests with HTTP ``status``."""
        with self._lock:
            self._failures.extend([status] * count)

    def close(self) -> None:
        """Stop serving and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeEmbeddingsServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _respond(self, headers: dict[str, str], path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one request (the protocol logic, apart from the socket handling)."""
        if path.rstrip("/") != "/v1/embeddings":
            return 404, _error(f"no route {path}", "not_found")
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _error("Incorrect API key provided.", "invalid_api_key")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure, _error(f"injected failure {failure}", "server_error")
        try:
            req = json.loads(body)
        except json.JSONDecodeError:
            return 400, _error("body is not JSON", "invalid_request")
        if req.get("model") != self.model:
            return 404, _error(f"The model {req.get('model')!r} does not exist", "model_not_found")
        inputs = req.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
            return 400, _error("input must be a non-empty string or list of non-empty strings", "invalid_request")
        with self._lock:
            self.requests.append(list(inputs))
        vectors = self.vectors(inputs)
        b64 = req.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.tobytes()).decode() if b64 else [float(x) for x in v]}
                for i, v in enumerate(vectors)]
        data.reverse()  # clients must order by "index", not by position
        tokens = sum(len(t.split()) for t in inputs)
        return 200, {"object": "list", "data": data, "model": self.model,
                     "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes; Nagle would add 40 ms per request

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload = server._respond(headers, self.path, body)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                if status >= 400:
                    self.send_header("retry-after-ms", "1")
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                return

        return Handler


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}
