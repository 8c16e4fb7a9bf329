"""A lookup-table embedder for the reward tests: hand-chosen vectors make every cosine exact and hand-computable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from deltamem.embed.base import Vectors
from deltamem.reward import normalise_text


class TableEmbedder:
    """Embeds each known text as its given vector (normalised); records every call. Unknown text is an error."""

    def __init__(self, table: Mapping[str, Sequence[float]]) -> None:
        dims = {len(v) for v in table.values()}
        assert len(dims) == 1, "all vectors need the same dimension"
        self._dim = dims.pop()
        # The scorer embeds normalised texts, so the table is keyed the same way.
        self._table = {normalise_text(k): np.asarray(v, dtype=np.float64) for k, v in table.items()}
        self.calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return "table"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        rows = np.stack([self._table[t] for t in texts]) if texts else np.zeros((0, self._dim))
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0).astype(np.float32)
