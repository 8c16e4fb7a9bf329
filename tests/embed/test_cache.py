"""CachedEmbedder: only misses reach the inner embedder, LRU eviction, results equal the inner ones."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from deltamem.core.errors import ConfigError, EmbedderError
from deltamem.embed.base import Vectors
from deltamem.embed.cache import CachedEmbedder
from deltamem.embed.hashing import HashingEmbedder


class CountingEmbedder:
    """A fake that records every batch it is asked for (a HashingEmbedder underneath)."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder(dim=16)
        self.calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        return self.inner.embed(texts)


class WrongShapeEmbedder(CountingEmbedder):
    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.zeros((len(texts) + 1, self.dim), dtype=np.float32)


def test_only_distinct_misses_are_embedded_in_one_call() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner)
    first = cache.embed(["a", "b", "a"])
    second = cache.embed(["b", "c", "a", "c"])
    assert inner.calls == [["a", "b"], ["c"]]
    np.testing.assert_array_equal(first, inner.inner.embed(["a", "b", "a"]))
    np.testing.assert_array_equal(second, inner.inner.embed(["b", "c", "a", "c"]))
    # Computed: a, b, c. Not computed: the repeated "a" of the first call, then b, a and the repeated c.
    assert (cache.misses, cache.hits) == (3, 4)
    assert len(cache) == 3


def test_all_hits_make_no_call() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner)
    cache.embed(["x", "y"])
    cache.embed(["y", "x", "y"])
    assert inner.calls == [["x", "y"]]


def test_least_recently_used_is_evicted() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, max_entries=2)
    cache.embed(["a"])
    cache.embed(["b"])
    cache.embed(["a"])  # a is now the most recent
    cache.embed(["c"])  # evicts b
    assert len(cache) == 2
    inner.calls.clear()
    cache.embed(["a", "c"])
    assert inner.calls == []
    cache.embed(["b"])
    assert inner.calls == [["b"]]


def test_callers_cannot_corrupt_the_cache() -> None:
    cache = CachedEmbedder(CountingEmbedder())
    v = cache.embed(["a"])
    expected = v.copy()
    v[:] = 7.0
    np.testing.assert_array_equal(cache.embed(["a"]), expected)


def test_passes_name_and_dim_through() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner)
    assert (cache.name, cache.dim, cache.inner) == (inner.name, inner.dim, inner)


def test_empty_batch_and_clear() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner)
    assert cache.embed([]).shape == (0, 16)
    cache.embed(["a"])
    cache.clear()
    cache.embed(["a"])
    assert inner.calls == [["a"], ["a"]]


def test_bad_max_entries() -> None:
    with pytest.raises(ConfigError):
        CachedEmbedder(CountingEmbedder(), max_entries=0)


def test_inner_returning_the_wrong_shape() -> None:
    with pytest.raises(EmbedderError, match="shape"):
        CachedEmbedder(WrongShapeEmbedder()).embed(["a"])
