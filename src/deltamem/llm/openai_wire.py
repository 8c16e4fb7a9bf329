"""Any :class:`ChatModel` (and :class:`Embedder`) on the OpenAI wire: the answers, and :class:`OpenAIEndpoint`.

mem0, LangChain or any ``openai`` client can then use the very model objects deltamem uses (metered, cached, gated)::

    with OpenAIEndpoint(llm, embedder=embedder) as ep:
        OpenAI(base_url=ep.base_url, api_key=ep.api_key).chat.completions.create(...)

- ``POST /v1/chat/completions`` (non-streaming) calls ``llm.complete``; ``response_format`` ``json_object`` becomes
  ``json_schema={"type": "object"}`` (what OpenAI's JSON mode promises: some JSON object), ``json_schema`` passes
  its schema; unknown fields (``store``, ``top_p``, ...) are ignored, as OpenAI-compatible servers should;
- ``POST /v1/embeddings`` calls ``embedder.embed`` (float or base64), 404 without an embedder;
- ``GET /v1/models`` lists the one model.

The HTTP side is :class:`deltamem.wire.WireServer`; ``deltamem serve-llm`` uses :func:`embeddings_answer` too.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from deltamem.core.errors import DeltamemError
from deltamem.embed.base import Embedder
from deltamem.llm.base import ChatModel, ChatRequest, ChatResponse
from deltamem.wire import Answer, Route, WireRequest, WireServer, embeddings_body, error_body

__all__ = ["OpenAIEndpoint", "answer_chat", "completion_body", "embeddings_answer", "openai_routes"]

_DEFAULT_MAX_TOKENS = 1024


def embeddings_answer(embedder: Embedder | None, body: Mapping[str, Any], *,
                      missing: str = "this endpoint serves no embeddings") -> Answer:
    """An OpenAI ``/v1/embeddings`` answer from ``embedder`` for the request ``body``: (status, JSON).

    Float or base64 vectors, as the ``openai`` SDK asks; 404 with ``missing`` when there is no embedder.
    """
    if embedder is None:
        return 404, error_body(missing, "not_found")
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return 400, error_body("'input' must be a string or a non-empty list of strings", "invalid_request_error")
    dims = body.get("dimensions")
    if dims is not None and dims != embedder.dim:
        return 400, error_body(f"this embedder has {embedder.dim} dimensions, not {dims}", "invalid_request_error")
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        return 400, error_body(f"unsupported encoding_format {fmt!r}", "invalid_request_error")
    try:
        vectors = embedder.embed(texts)
    except DeltamemError as e:
        return 500, error_body(f"{type(e).__name__}: {e}", "server_error")
    return 200, embeddings_body(vectors, texts, model=embedder.name, encoding=fmt)


def answer_chat(llm: ChatModel, body: Mapping[str, Any]) -> Answer:
    """An OpenAI ``/v1/chat/completions`` answer from ``llm`` for the request ``body``: (status, JSON).

    A request the model rejects or fails on is a 502 naming the error.
    """
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
    return 200, completion_body(reply, model=str(body.get("model") or llm.name))


def completion_body(reply: ChatResponse, *, model: str) -> dict[str, Any]:
    """``reply`` as an OpenAI ``chat.completion`` object (usage with ``prompt_tokens_details.cached_tokens``)."""
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


def openai_routes(llm: ChatModel, embedder: Embedder | None = None) -> dict[tuple[str, str], Route]:
    """The :class:`~deltamem.wire.WireServer` routes serving ``llm`` and ``embedder``."""
    def chat(request: WireRequest) -> Answer:
        return answer_chat(llm, request.payload)

    def embeddings(request: WireRequest) -> Answer:
        return embeddings_answer(embedder, request.payload)

    def models(request: WireRequest) -> Answer:
        return 200, {"object": "list", "data": [{"id": llm.name, "object": "model", "owned_by": "deltamem"}]}

    return {("POST", "/chat/completions"): chat, ("POST", "/embeddings"): embeddings, ("GET", "/models"): models}


class OpenAIEndpoint(WireServer):
    """Serves ``llm`` (and ``embedder``) at :attr:`base_url` on 127.0.0.1 until :meth:`close`; ``port=0`` picks a
    free port.

    ``api_key=None`` draws a random key (read it from :attr:`api_key`), so other local processes cannot use the
    model; pass ``""`` to accept any client. Failures answer with ``x-should-retry: false``: a local model that
    failed fails again, so the SDK's retries would only triple the time.
    """

    api_key: str  # always set here (drawn when not given)

    def __init__(self, llm: ChatModel, *, embedder: Embedder | None = None, port: int = 0,
                 api_key: str | None = None) -> None:
        self.llm = llm
        self.embedder = embedder
        super().__init__(openai_routes(llm, embedder), port=port,
                         api_key=secrets.token_hex(16) if api_key is None else api_key,
                         error_headers={"x-should-retry": "false"}, name="deltamem-openai-endpoint")
