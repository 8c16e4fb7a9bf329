"""The Embedder contract, run against every implementation (fakes included).

MiniLM is the real model (``slow``); the OpenAI-compatible client talks HTTP to a real local fake server.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from deltamem.core.errors import ConfigError
from deltamem.embed import Embedder, HashingEmbedder
from deltamem.embed.cache import CachedEmbedder
from deltamem.embed.fake_server import FakeEmbeddingsServer
from deltamem.embed.openai_compat import OpenAICompatEmbedder

TEXTS = [
    "I moved to Seattle in March.",
    "My sister Ana works as a nurse at the children's hospital downtown.",
    "Allergic to peanuts",
    "The user prefers vegetarian restaurants, especially Thai and Ethiopian food, and avoids anything too spicy "
    "late in the evening because of reflux.",
    "Plays tennis on Sundays",
    "Ünïcödé naïve café – 東京 🙂",
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeEmbeddingsServer]:
    with FakeEmbeddingsServer(dim=48) as s:
        yield s


def _make(kind: str, server: FakeEmbeddingsServer) -> Embedder:
    if kind == "hashing":
        return HashingEmbedder(dim=64)
    if kind == "cached-hashing":
        return CachedEmbedder(HashingEmbedder(dim=64), max_entries=4)  # small: eviction happens during the suite
    if kind == "openai-compat":
        return OpenAICompatEmbedder(model=server.model, base_url=server.base_url, api_key=server.api_key,
                                    max_retries=0, batch_size=4)
    if kind == "minilm":
        from deltamem.embed.onnx_minilm import MiniLMEmbedder

        return MiniLMEmbedder(batch_size=4)  # small batches: the suite's batches span several model runs
    raise AssertionError(kind)


KINDS = ["hashing", "cached-hashing", "openai-compat", pytest.param("minilm", marks=pytest.mark.slow)]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def embedder(kind: str, server: FakeEmbeddingsServer) -> Embedder:
    return _make(kind, server)


def test_is_an_embedder_with_a_name_and_a_positive_dim(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert isinstance(embedder.name, str) and embedder.name
    assert isinstance(embedder.dim, int) and embedder.dim > 0


def test_shape_and_dtype(embedder: Embedder) -> None:
    v = embedder.embed(TEXTS)
    assert v.shape == (len(TEXTS), embedder.dim)
    assert v.dtype == np.float32


def test_rows_have_unit_norm(embedder: Embedder) -> None:
    norms = np.linalg.norm(embedder.embed(TEXTS), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_blank_text_is_the_zero_vector(embedder: Embedder) -> None:
    v = embedder.embed(["", "Plays tennis on Sundays", "   \n"])
    assert not v[0].any() and not v[2].any()
    assert np.linalg.norm(v[1]) == pytest.approx(1.0, abs=1e-5)


def test_deterministic_across_calls_and_instances(embedder: Embedder, kind: str,
                                                  server: FakeEmbeddingsServer) -> None:
    first = embedder.embed(TEXTS)
    np.testing.assert_array_equal(first, embedder.embed(TEXTS))
    np.testing.assert_allclose(first, _make(kind, server).embed(TEXTS), atol=1e-6)


def test_batch_equals_one_by_one(embedder: Embedder) -> None:
    batch = embedder.embed(TEXTS)
    single = np.vstack([embedder.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    # And order inside a batch does not matter.
    reversed_batch = embedder.embed(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(batch, reversed_batch, atol=1e-5)


def test_duplicates_in_a_batch_get_equal_rows(embedder: Embedder) -> None:
    v = embedder.embed([TEXTS[0], TEXTS[1], TEXTS[0]])
    np.testing.assert_allclose(v[0], v[2], atol=1e-6)


def test_empty_batch(embedder: Embedder) -> None:
    v = embedder.embed([])
    assert v.shape == (0, embedder.dim)
    assert v.dtype == np.float32


def test_dim_matches_the_vectors(embedder: Embedder) -> None:
    assert embedder.embed(["x y z"]).shape[1] == embedder.dim


def test_related_text_scores_higher_than_unrelated(embedder: Embedder) -> None:
    a, close, far = embedder.embed(["I moved to Seattle", "I moved to Seattle last year",
                                    "Quarterly revenue fell sharply"])
    assert float(a @ close) > float(a @ far) + 0.2


def test_a_bare_string_is_refused(embedder: Embedder) -> None:
    with pytest.raises(ConfigError, match="single string"):
        embedder.embed("hello")
