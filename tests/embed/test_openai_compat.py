"""OpenAICompatEmbedder over real HTTP against FakeEmbeddingsServer on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import numpy as np
import pytest

from deltamem.core.errors import ConfigError, EmbedderError
from deltamem.embed.base import l2_normalise
from deltamem.embed.fake_server import FakeEmbeddingsServer
from deltamem.embed.openai_compat import OpenAICompatEmbedder


@pytest.fixture
def server() -> Iterator[FakeEmbeddingsServer]:
    with FakeEmbeddingsServer(dim=24) as s:
        yield s


def _client(server: FakeEmbeddingsServer, **kw: object) -> OpenAICompatEmbedder:
    opts: dict[str, object] = {"model": server.model, "base_url": server.base_url, "api_key": server.api_key,
                               "max_retries": 0}
    opts.update(kw)
    return OpenAICompatEmbedder(**opts)  # type: ignore[arg-type]


def test_returns_the_servers_vectors_normalised_in_input_order(server: FakeEmbeddingsServer) -> None:
    texts = ["alpha beta", "gamma", "a much longer sentence about delta"]
    got = _client(server).embed(texts)
    raw = server.vectors(texts)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)  # the server does not normalise...
    np.testing.assert_allclose(got, l2_normalise(raw), atol=1e-6)  # ...the client does, and reorders by index
    assert got.dtype == np.float32


def test_batches_requests(server: FakeEmbeddingsServer) -> None:
    texts = [f"fact {i}" for i in range(5)]
    _client(server, batch_size=2).embed(texts)
    assert server.requests == [["fact 0", "fact 1"], ["fact 2", "fact 3"], ["fact 4"]]


def test_dim_is_probed_once_and_lazily(server: FakeEmbeddingsServer) -> None:
    emb = _client(server)
    assert server.requests == []  # constructing sends nothing
    assert emb.dim == 24
    assert emb.dim == 24
    assert len(server.requests) == 1
    emb.embed(["one", "two"])
    assert len(server.requests) == 2


def test_dim_comes_from_the_first_embed_without_a_probe(server: FakeEmbeddingsServer) -> None:
    emb = _client(server)
    assert emb.embed(["hello"]).shape == (1, 24)
    assert emb.dim == 24
    assert server.requests == [["hello"]]


def test_blank_texts_are_not_sent(server: FakeEmbeddingsServer) -> None:
    v = _client(server).embed(["", "real text", "  "])
    assert server.requests == [["real text"]]
    assert not v[0].any() and not v[2].any()


def test_wrong_api_key(server: FakeEmbeddingsServer) -> None:
    with pytest.raises(EmbedderError, match="HTTP 401, wrong API key") as info:
        _client(server, api_key="sk-wrong").embed(["x"])
    assert server.base_url in str(info.value)
    assert isinstance(info.value.__cause__, Exception)  # raised from the SDK error


def test_missing_api_key_names_the_variable(server: FakeEmbeddingsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DELTAMEM_TEST_KEY", raising=False)
    with pytest.raises(EmbedderError, match=r"set \$DELTAMEM_TEST_KEY"):
        _client(server, api_key=None, api_key_env="DELTAMEM_TEST_KEY").embed(["x"])


def test_api_key_from_the_environment(server: FakeEmbeddingsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELTAMEM_TEST_KEY", server.api_key)
    v = _client(server, api_key=None, api_key_env="DELTAMEM_TEST_KEY").embed(["x"])
    assert v.shape == (1, 24)


def test_openai_itself_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"\$OPENAI_API_KEY"):
        OpenAICompatEmbedder(model="text-embedding-3-small")


def test_unknown_model(server: FakeEmbeddingsServer) -> None:
    with pytest.raises(EmbedderError, match=r"HTTP 404.*'nope' does not exist"):
        _client(server, model="nope").embed(["x"])


def test_connection_refused_names_the_base_url() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(EmbedderError, match="cannot connect to the embeddings server at " + re.escape(url)):
        OpenAICompatEmbedder(model="m", base_url=url, max_retries=0).embed(["x"])


def test_server_errors_are_retried(server: FakeEmbeddingsServer) -> None:
    server.fail_next(503, 2)
    v = _client(server, max_retries=2).embed(["x"])
    assert v.shape == (1, 24)
    assert server.requests == [["x"]]


def test_server_error_without_retries(server: FakeEmbeddingsServer) -> None:
    server.fail_next(500)
    with pytest.raises(EmbedderError, match="HTTP 500: injected failure 500"):
        _client(server).embed(["x"])


def test_timeout_is_reported() -> None:
    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        emb = OpenAICompatEmbedder(model="m", base_url=url, timeout=0.3, max_retries=0)
        with pytest.raises(EmbedderError, match=r"no answer within 0.3s"):
            emb.embed(["x"])


@pytest.mark.parametrize("kwargs", [{"model": " "}, {"model": "m", "batch_size": 0}, {"model": "m", "timeout": 0},
                                    {"model": "m", "max_retries": -1}])
def test_bad_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        OpenAICompatEmbedder(base_url="http://127.0.0.1:1/v1", **kwargs)  # type: ignore[arg-type]


def test_name_and_repr(server: FakeEmbeddingsServer) -> None:
    emb = _client(server)
    assert emb.name == "openai:fake-embed"
    assert _client(server, name="custom").name == "custom"
    assert server.base_url in repr(emb)
    emb.close()
