"""The ChatModel contract, run against every implementation: the fakes, the wrappers around a fake, and the
OpenAI-compatible client over real HTTP (against the OpenAIEndpoint any ChatModel is served by, against the fake
chat server, and as the serve-llm reuse client). The local GGUF and transformers backends run it too, ``slow``.

Relaying kinds (wrappers, HTTP) end in a ScriptedChatModel, so the suite can also check that a request arrives
there whole and that a failure behind them comes back as an LLMError.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from tests.llm.fake_openai import FakeChatServer, completion
from tests.llm.serve_records import make_record

from deltamem.core.errors import ConfigError, LLMError
from deltamem.eval.fake import FakeEvalModel
from deltamem.eval.metering import MeteredChatModel
from deltamem.llm import ChatModel, ChatRequest, ChatResponse, Message, ScriptedChatModel, ToolCall
from deltamem.llm.cache import CachedChatModel
from deltamem.llm.lazy import LazyChatModel
from deltamem.llm.openai_compat import OpenAICompatChatModel
from deltamem.llm.openai_wire import OpenAIEndpoint
from deltamem.llm.reuse import Choice
from deltamem.synth.fake import fake_synth_model

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Where does Ada live?"}]
TOOLS = [{"type": "function", "function": {"name": "search_memory", "description": "Search the memory.",
                                           "parameters": {"type": "object",
                                                          "properties": {"query": {"type": "string"}}}}}]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
EVERY_OPTION = ChatRequest(MESSAGES, tools=TOOLS, json_schema=SCHEMA, max_tokens=24, temperature=0.3,
                           stop=["\n\n"], seed=7)

RELAYING = ["scripted", "cached", "lazy", "metered", "stacked", "openai-compat", "reuse-client"]
KINDS = [*RELAYING, "eval-fake", "synth-fake", "openai-compat-fake-server",
         pytest.param("local-gguf", marks=pytest.mark.slow), pytest.param("transformers", marks=pytest.mark.slow)]


def _echo(messages: Sequence[Message]) -> str:
    return f"echo: {messages[-1].get('content')}"


def _http_client(base_url: str, api_key: str) -> OpenAICompatChatModel:
    return OpenAICompatChatModel(model="scripted", base_url=base_url, api_key=api_key, max_retries=0,
                                 supports_tools=False, name="scripted")


@functools.cache
def _real(kind: str) -> ChatModel:
    """The small real model of ``kind`` (SmolLM2-135M), loaded once per session (slow runs only)."""
    pytest.importorskip("xllamacpp" if kind == "local-gguf" else "transformers")
    try:
        if kind == "local-gguf":
            from deltamem.llm.local_gguf import LocalGGUFChatModel
            from deltamem.llm.model_files import ensure_model

            return LocalGGUFChatModel(ensure_model("smollm2-135m", progress=False), context_size=1024)
        from deltamem.llm.hf_backend import TransformersChatModel
        from deltamem.train.model import resolve_base

        return TransformersChatModel.from_path(resolve_base("smollm2-135m"), device="cpu")
    except ConfigError as e:
        pytest.skip(f"SmolLM2-135M is not available: {e}")


def build(kind: str, inner: ScriptedChatModel, stack: ExitStack, tmp_path: Path) -> ChatModel:
    """The backend of ``kind``; relaying kinds end in ``inner``."""
    if kind == "scripted":
        return inner
    if kind == "cached":
        return CachedChatModel(inner, tmp_path / "cache")
    if kind == "lazy":
        return LazyChatModel(lambda: inner, name=inner.name)
    if kind == "metered":
        return MeteredChatModel(inner, gate=threading.Semaphore(1))
    if kind == "stacked":  # what the eval harness makes of a configured local model
        return MeteredChatModel(CachedChatModel(LazyChatModel(lambda: inner, name=inner.name), tmp_path / "cache"))
    if kind == "openai-compat":
        endpoint = stack.enter_context(OpenAIEndpoint(inner))
        return stack.enter_context(_http_client(endpoint.base_url, endpoint.api_key))
    if kind == "reuse-client":
        endpoint = stack.enter_context(OpenAIEndpoint(inner, api_key=""))
        return Choice(make_record(endpoint.base_url)).chat_model(timeout=30)
    if kind == "eval-fake":
        return FakeEvalModel()
    if kind == "synth-fake":
        return fake_synth_model()
    if kind == "openai-compat-fake-server":
        server = stack.enter_context(FakeChatServer(default=lambda body: (200, completion(_echo(body["messages"])))))
        return stack.enter_context(_http_client(server.base_url, "test-key"))
    return _real(kind)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    """``make(kind, inner)``: a fresh backend, closed (servers stopped) after the test."""
    with ExitStack() as stack:
        yield lambda kind, inner=None: build(kind, inner or ScriptedChatModel(default=_echo), stack, tmp_path)


@pytest.fixture(params=KINDS)
def model(request: pytest.FixtureRequest, make: Any) -> ChatModel:
    return make(request.param)  # type: ignore[no-any-return]


def test_is_a_chat_model_with_a_name(model: ChatModel) -> None:
    assert isinstance(model, ChatModel)
    assert isinstance(model.name, str) and model.name
    assert isinstance(model.supports_tools, bool)


def test_a_reply_is_a_chat_response_with_the_usage_of_one_call(model: ChatModel) -> None:
    reply = model.chat(MESSAGES, max_tokens=16)
    assert isinstance(reply, ChatResponse) and isinstance(reply.content, str)
    assert isinstance(reply.finish_reason, str) and reply.finish_reason
    assert isinstance(reply.tool_calls, tuple) and all(isinstance(c, ToolCall) for c in reply.tool_calls)
    u = reply.usage
    assert min(u.prompt_tokens, u.completion_tokens, u.cached_tokens) >= 0 and u.seconds >= 0
    assert (u.calls, reply.cached) == (1, False)


def test_chat_is_complete_of_the_request_and_deterministic_at_temperature_zero(model: ChatModel) -> None:
    by_keywords = model.chat(MESSAGES, max_tokens=16, stop=["\n\n"], seed=1)
    by_request = model.complete(ChatRequest(MESSAGES, max_tokens=16, stop=["\n\n"], seed=1))
    assert by_keywords.content == by_request.content


def test_every_option_is_accepted(model: ChatModel) -> None:
    """Backends without native tools or constrained decoding ignore those options; none refuses them."""
    assert isinstance(model.complete(EVERY_OPTION), ChatResponse)


@pytest.mark.parametrize(("messages", "options", "match"), [
    ([], {}, "empty"),
    ([{"content": "no role"}], {}, "role"),
    (MESSAGES, {"max_tokens": 0}, "max_tokens"),
    (MESSAGES, {"temperature": -0.5}, "temperature"),
    (MESSAGES, {"stop": "END"}, "stop"),
])
def test_an_invalid_request_is_a_config_error_before_any_call(make: Any, messages: list[Message],
                                                               options: dict[str, Any], match: str) -> None:
    for kind in ("scripted", "eval-fake", "synth-fake", "stacked", "openai-compat"):
        inner = ScriptedChatModel(default=_echo)
        with pytest.raises(ConfigError, match=match):
            make(kind, inner).chat(messages, **options)
        assert inner.requests == [], kind


@pytest.mark.parametrize("kind", RELAYING)
def test_the_request_arrives_whole(make: Any, kind: str) -> None:
    inner = ScriptedChatModel(default=_echo)
    reply = make(kind, inner).complete(EVERY_OPTION)
    assert reply.content == _echo(MESSAGES)
    assert inner.requests == [EVERY_OPTION.as_dict()]


@pytest.mark.parametrize("kind", RELAYING)
def test_a_failure_behind_it_is_an_llm_error(make: Any, kind: str) -> None:
    inner = ScriptedChatModel([])  # no reply left: LLMError on the first call
    with pytest.raises(LLMError, match="no reply left"):
        make(kind, inner).chat(MESSAGES)
    assert len(inner.requests) == 1  # one call, no retry
