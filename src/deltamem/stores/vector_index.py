"""An exact cosine index over one namespace's live vectors: a growable numpy matrix with O(1) upsert/remove."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import numpy.typing as npt

from deltamem.core.model import Vectors


def _micros(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


class VectorIndex:
    """Rows are unit vectors, so a matrix-vector product gives cosines. Removal swaps the last row into the hole."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._mat = np.zeros((0, dim), dtype=np.float32)
        self._ts = np.zeros(0, dtype=np.int64)
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def bulk_load(self, rows: Iterable[tuple[str, Vectors, datetime]]) -> None:
        """Replace the contents."""
        items = list(rows)
        self._ids = [i for i, _, _ in items]
        self._pos = {i: n for n, i in enumerate(self._ids)}
        self._mat = (np.stack([v for _, v, _ in items]).astype(np.float32) if items
                     else np.zeros((0, self.dim), dtype=np.float32))
        self._ts = np.array([_micros(t) for _, _, t in items], dtype=np.int64)

    def upsert(self, mid: str, vector: Vectors, ts: datetime) -> None:
        """Insert or replace one row."""
        n = self._pos.get(mid)
        if n is None:
            n = len(self._ids)
            if n == self._mat.shape[0]:  # grow geometrically so that a stream of inserts stays amortised O(1)
                cap = max(16, 2 * n)
                self._mat = np.resize(self._mat, (cap, self.dim))
                self._ts = np.resize(self._ts, cap)
            self._ids.append(mid)
            self._pos[mid] = n
        self._mat[n] = vector
        self._ts[n] = _micros(ts)

    def remove(self, mid: str) -> None:
        """Remove one row if present."""
        n = self._pos.pop(mid, None)
        if n is None:
            return
        last = len(self._ids) - 1
        if n != last:
            moved = self._ids[last]
            self._mat[n] = self._mat[last]
            self._ts[n] = self._ts[last]
            self._ids[n] = moved
            self._pos[moved] = n
        self._ids.pop()

    def top_k(self, query: Vectors, k: int, *, since: datetime | None = None, until: datetime | None = None,
              allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The k most similar ids with their cosines, optionally within a time range and an allowed id set."""
        n = len(self._ids)
        if n == 0 or k <= 0:
            return []
        scores: npt.NDArray[np.float32] = self._mat[:n] @ np.asarray(query, dtype=np.float32)
        mask = np.ones(n, dtype=bool)
        if since is not None:
            mask &= self._ts[:n] >= _micros(since)
        if until is not None:
            mask &= self._ts[:n] <= _micros(until)
        if allowed is not None:
            mask &= np.fromiter((i in allowed for i in self._ids), dtype=bool, count=n)
        if not mask.all():
            scores = np.where(mask, scores, -np.inf).astype(np.float32)
        valid = int(mask.sum())
        k = min(k, valid)
        if k == 0:
            return []
        idx = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in idx if np.isfinite(scores[i])][:k]
