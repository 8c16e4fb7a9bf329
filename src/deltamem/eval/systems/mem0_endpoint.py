"""Any deltamem :class:`ChatModel` (and :class:`Embedder`) as a loopback OpenAI-compatible endpoint, for mem0.

mem0 only talks to models over HTTP through the ``openai`` SDK. To run it as a baseline on *the same* model
objects the harness gives every other system (metered, cached, gated), this module serves them on 127.0.0.1::

    with ChatEndpoint(llm, embedder=embedder) as ep:
        OpenAI(base_url=ep.base_url, api_key=ep.api_key).chat.completions.create(...)

- ``POST /v1/chat/completions`` (non-streaming) calls ``llm.chat``; ``response_format`` ``json_object`` becomes
  ``json_schema={"type": "object"}`` (what OpenAI's JSON mode promises: some JSON object), ``json_schema`` passes
  its schema; unknown fields (``store``, ``top_p``, ...) are ignored, as OpenAI-compatible servers should;
- ``POST /v1/embeddings`` calls ``embedder.embed`` (float or base64), 404 without an embedder;
- ``GET /v1/models`` lists the one model.

A random bearer key guards it by default (other local processes cannot use the model), and failures answer with
``x-should-retry: false``: a local model that failed fails again, so the SDK's retries would only triple the time.
With :class:`~deltamem.llm.scripted.ScriptedChatModel` and :class:`~deltamem.embed.hashing.HashingEmbedder` it is
also the fake OpenAI server of the mem0 tests.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from deltamem.core.errors import DeltamemError
from deltamem.embed.base import Embedder
from deltamem.llm.base import ChatModel, ChatRequest, ChatResponse
from deltamem.llm.openai_wire import embeddings_answer, error_body

__all__ = ["ChatEndpoint", "answer_chat"]

log = logging.getLogger(__name__)
_MAX_BODY = 64 * 1024 * 1024
_DEFAULT_MAX_TOKENS = 1024


class ChatEndpoint:
    """Serves ``llm`` (and ``embedder``) at :attr:`base_url` until :meth:`close`. ``port=0`` picks a free port.

    ``api_key=None`` draws a random key (read it from :attr:`api_key`); pass ``""`` to accept any client.
    """

    def __init__(self, llm: ChatModel, *, embedder: Embedder | None = None, port: int = 0,
                 api_key: str | None = None) -> None:
        self.llm = llm
        self.embedder = embedder
        self.api_key = secrets.token_hex(16) if api_key is None else api_key
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="deltamem-mem0-endpoint", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        """The API root for clients, ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def close(self) -> None:
        """Stop serving and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ChatEndpoint:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def answer_chat(llm: ChatModel, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """An OpenAI ``/v1/chat/completions`` answer from ``llm`` for the request ``body``: (status, JSON)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return 400, error_body("'messages' must be a non-empty list of objects", "invalid_request_error")
    if body.get("stream"):
        return 400, error_body("streaming is not supported by this endpoint", "invalid_request_error")
    schema: Mapping[str, Any] | None = None
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_object":
            schema = {"type": "object"}
        elif fmt.get("type") == "json_schema":
            inner = fmt.get("json_schema")
            schema = inner.get("schema") if isinstance(inner, dict) else None
            if not isinstance(schema, dict):
                return 400, error_body("response_format.json_schema.schema must be an object", "invalid_request_error")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or _DEFAULT_MAX_TOKENS
    stop = body.get("stop")
    tools = body.get("tools")
    try:
        reply = llm.complete(ChatRequest(messages, tools=tools if isinstance(tools, list) and tools else None,
                                         json_schema=schema, max_tokens=int(max_tokens),
                                         temperature=float(body.get("temperature") or 0.0),
                                         stop=[stop] if isinstance(stop, str) else stop, seed=body.get("seed")))
    except DeltamemError as e:
        return 502, error_body(f"{type(e).__name__}: {e}", "server_error")
    return 200, _completion(reply, model=str(body.get("model") or llm.name))


def _completion(reply: ChatResponse, *, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": c.arguments}} for c in reply.tool_calls]
    u = reply.usage
    return {"id": f"chatcmpl-{secrets.token_hex(8)}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                      "total_tokens": u.prompt_tokens + u.completion_tokens,
                      "prompt_tokens_details": {"cached_tokens": u.cached_tokens}}}


def _handler(endpoint: ChatEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes; Nagle would add 40 ms per request

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _authorised(self) -> bool:
            if not endpoint.api_key or secrets.compare_digest(self.headers.get("Authorization", ""),
                                                              f"Bearer {endpoint.api_key}"):
                return True
            self._send(401, error_body("invalid API key", "invalid_api_key"))
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if urlsplit(self.path).path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": endpoint.llm.name, "object": "model",
                                                            "owned_by": "deltamem"}]})
            else:
                self._send(404, error_body(f"no route GET {self.path}", "not_found"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._send(413, error_body("request body too large", "invalid_request_error"))
                return
            raw = self.rfile.read(length)  # read before any answer, so the connection stays in sync
            if not self._authorised():
                return
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._send(400, error_body("body is not a JSON object", "invalid_request_error"))
                return
            path = urlsplit(self.path).path.rstrip("/")
            if path in ("/v1/chat/completions", "/chat/completions"):
                self._send(*answer_chat(endpoint.llm, body))
            elif path in ("/v1/embeddings", "/embeddings"):
                self._send(*embeddings_answer(endpoint.embedder, body))
            else:
                self._send(404, error_body(f"no route POST {self.path}", "not_found"))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status >= 400:
                self.send_header("x-should-retry", "false")
            self.end_headers()
            self.wfile.write(data)

    return Handler
