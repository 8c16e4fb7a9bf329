"""A deterministic, dependency-free embedder for tests: hashed word and character n-gram features."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from deltamem.embed._texts import check_texts
from deltamem.embed.base import Vectors, l2_normalise

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Feature hashing of lower-cased words and character trigrams into ``dim`` buckets.

    Deterministic across processes and platforms (blake2b, not Python's salted ``hash``). Texts sharing words get a
    positive cosine, so search and reward tests behave sensibly without a model.
    """

    def __init__(self, *, dim: int = 64) -> None:
        if dim < 8:
            raise ValueError("dim must be at least 8")
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        grams = [f"#{w[i:i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
        return words + grams

    def embed(self, texts: Sequence[str]) -> Vectors:
        texts = check_texts(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dim
                sign = 1.0 if digest[4] & 1 else -1.0
                out[row, bucket] += sign * (2.0 if not feat.startswith("#") else 1.0)
        return l2_normalise(out)
