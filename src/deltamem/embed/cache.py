"""An LRU cache in front of any Embedder: the reward and the stores embed the same memories over and over."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from deltamem.core.errors import ConfigError, EmbedderError
from deltamem.embed._texts import check_texts
from deltamem.embed.base import Embedder, Vectors


class CachedEmbedder:
    """Wraps ``inner`` with a least-recently-used cache keyed by the exact text.

    Only the misses of a batch go to ``inner``, in one call, each distinct text once. ``name`` and ``dim`` are the
    inner embedder's (the vectors are the same, so the stored model identity must be too). Thread-safe; ``inner`` is
    called outside the lock, so two threads may both compute a text that neither had cached (harmless, same vector).

    Args:
        inner: the embedder to cache.
        max_entries: how many texts to keep; the least recently used go first. 100 000 vectors of 384 floats take
            about 150 MB.
    """

    def __init__(self, inner: Embedder, *, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ConfigError(f"max_entries must be at least 1, got {max_entries}")
        self._inner = inner
        self._max = max_entries
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    @property
    def inner(self) -> Embedder:
        """The wrapped embedder."""
        return self._inner

    @property
    def hits(self) -> int:
        """Texts answered without computing (cached, or a repeat inside the batch); ``hits + misses`` = texts."""
        return self._hits

    @property
    def misses(self) -> int:
        """Texts the inner embedder computed so far (a text repeated in one batch is computed once)."""
        return self._misses

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Drop every cached vector (the counters stay)."""
        with self._lock:
            self._cache.clear()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``, computing only the texts not cached, and cache them."""
        items = check_texts(texts)
        found: dict[str, Vectors] = {}
        with self._lock:
            for t in items:
                if t in found:
                    continue
                vec = self._cache.get(t)
                if vec is not None:
                    self._cache.move_to_end(t)
                    found[t] = vec
            missing = list(dict.fromkeys(t for t in items if t not in found))
            self._hits += len(items) - len(missing)
        if missing:
            fresh = np.asarray(self._inner.embed(missing), dtype=np.float32)
            if fresh.shape != (len(missing), self.dim):
                raise EmbedderError(f"{self.name} returned shape {fresh.shape} for {len(missing)} texts")
            with self._lock:
                self._misses += len(missing)
                for t, row in zip(missing, fresh, strict=True):
                    row = row.copy()
                    row.setflags(write=False)  # callers get copies (below); the cached row never changes
                    found[t] = row
                    self._cache[t] = row
                    self._cache.move_to_end(t)
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for i, t in enumerate(items):
            out[i] = found[t]
        return out
