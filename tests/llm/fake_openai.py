"""A tiny OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1 (stdlib only) with canned answers.

Real sockets, real ``openai`` SDK on the client side: status codes, retries, auth and parsing are all exercised.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Answer = tuple[int, dict[str, Any]]


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


class FakeChatServer:
    """Answers each POST with the next queued ``(status, body)``, or ``default`` when the queue is empty.

    ``requests`` holds every JSON body received; ``api_key``, when set, makes any other bearer token a 401.
    Error answers carry ``retry-after-ms: 1`` so that SDK retries do not sleep. ``GET /v1/models`` lists ``models``
    (``gets`` counts those requests).
    """

    def __init__(self, *, api_key: str | None = "test-key",
                 default: Answer | Callable[[dict[str, Any]], Answer] | None = None,
                 models: tuple[str, ...] = ("fake-chat",)) -> None:
        self.api_key = api_key
        self.models = models
        self.gets = 0
        self.default = default if default is not None else (200, completion())
        self.queue: list[Answer] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeChatServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _answer(self, body: dict[str, Any], auth: str) -> Answer:
        with self._lock:
            if self.api_key is not None and auth != f"Bearer {self.api_key}":
                return 401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                       "code": "invalid_api_key"}}
            self.requests.append(body)
            if self.queue:
                return self.queue.pop(0)
            return self.default(body) if callable(self.default) else self.default

    def _models(self, path: str, auth: str) -> Answer:
        with self._lock:
            self.gets += 1
            if self.api_key is not None and auth != f"Bearer {self.api_key}":
                return 401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
        if path.rstrip("/") != "/v1/models":
            return 404, {"error": {"message": f"no route {path}"}}
        return 200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                status, payload = fake._models(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload = fake._answer(json.loads(raw), self.headers.get("Authorization", ""))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status >= 400:
                    self.send_header("retry-after-ms", "1")
                self.end_headers()
                self.wfile.write(data)

        return Handler
