"""Answers in the OpenAI wire format that our loopback servers share (``deltamem serve-llm``, the eval endpoint)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from deltamem.core.errors import DeltamemError
from deltamem.embed.base import Embedder


def error_body(message: str, kind: str) -> dict[str, Any]:
    """An OpenAI-style error payload."""
    return {"error": {"message": message, "type": kind, "code": None, "param": None}}


def embeddings_answer(embedder: Embedder | None, body: Mapping[str, Any], *,
                      missing: str = "this endpoint serves no embeddings") -> tuple[int, dict[str, Any]]:
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
    data = [{"object": "embedding", "index": i,
             "embedding": (base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") if fmt == "base64"
                           else [float(x) for x in v])}
            for i, v in enumerate(vectors)]
    tokens = sum(len(t.split()) for t in texts)  # an estimate; nobody bills embeddings here
    return 200, {"object": "list", "data": data, "model": embedder.name,
                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
