"""Embedders: the default local MiniLM ONNX model, an OpenAI-compatible client and a hashing fake."""

from deltamem.embed.base import Embedder, Vectors, l2_normalise
from deltamem.embed.hashing import HashingEmbedder

__all__ = ["Embedder", "HashingEmbedder", "Vectors", "l2_normalise"]
