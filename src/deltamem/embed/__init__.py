"""Embedders: the default local MiniLM ONNX model, an OpenAI-compatible client, an LRU cache and a hashing fake.

``MiniLMEmbedder``, ``OpenAICompatEmbedder``, ``CachedEmbedder`` and ``FakeEmbeddingsServer`` are imported on first
access, so ``import deltamem.embed`` never imports onnxruntime, tokenizers or openai.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from deltamem.embed.base import Embedder, Vectors, l2_normalise
from deltamem.embed.hashing import HashingEmbedder

if TYPE_CHECKING:
    from deltamem.embed.cache import CachedEmbedder
    from deltamem.embed.fake_server import FakeEmbeddingsServer
    from deltamem.embed.onnx_minilm import MiniLMEmbedder
    from deltamem.embed.openai_compat import OpenAICompatEmbedder

_LAZY = {
    "CachedEmbedder": "deltamem.embed.cache",
    "FakeEmbeddingsServer": "deltamem.embed.fake_server",
    "MiniLMEmbedder": "deltamem.embed.onnx_minilm",
    "OpenAICompatEmbedder": "deltamem.embed.openai_compat",
}

__all__ = ["CachedEmbedder", "Embedder", "FakeEmbeddingsServer", "HashingEmbedder", "MiniLMEmbedder",
           "OpenAICompatEmbedder", "Vectors", "l2_normalise"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deltamem.embed' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
