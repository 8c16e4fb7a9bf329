"""OpenAICompatChatModel over real HTTP against FakeChatServer on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai import FakeChatServer, completion

from deltamem.core.errors import ConfigError, LLMError
from deltamem.llm import ChatModel, ToolCall
from deltamem.llm.openai_compat import OpenAICompatChatModel

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as s:
        yield s


def _model(server: FakeChatServer, **kw: Any) -> OpenAICompatChatModel:
    opts: dict[str, Any] = {"model": "fake-chat", "base_url": server.base_url, "api_key": "test-key",
                            "max_retries": 0}
    opts.update(kw)
    return OpenAICompatChatModel(**opts)


def test_plain_completion_and_usage(server: FakeChatServer) -> None:
    server.queue.append((200, completion("Paris.", prompt_tokens=40, completion_tokens=2, cached_tokens=32)))
    reply = _model(server).chat(USER, max_tokens=9, temperature=0.2, stop=["\n"], seed=5)
    assert reply.content == "Paris."
    assert reply.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.cached_tokens) == (40, 2, 32)
    assert reply.usage.calls == 1 and reply.usage.seconds > 0
    sent = server.requests[0]
    assert sent["model"] == "fake-chat" and sent["messages"] == USER
    assert (sent["max_tokens"], sent["temperature"], sent["stop"], sent["seed"]) == (9, 0.2, ["\n"], 5)
    assert "cache_prompt" not in sent and "tools" not in sent and "response_format" not in sent


def test_missing_cached_tokens_reads_as_zero(server: FakeChatServer) -> None:
    assert _model(server).chat(USER).usage.cached_tokens == 0


def test_json_schema_is_sent_as_response_format(server: FakeChatServer) -> None:
    schema = {"type": "object", "properties": {"ops": {"type": "array"}}}
    server.queue.append((200, completion('{"ops": []}')))
    reply = _model(server).chat(USER, json_schema=schema)
    assert json.loads(reply.content) == {"ops": []}
    fmt = server.requests[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == schema


def test_native_tool_calls_are_mapped(server: FakeChatServer) -> None:
    calls = [{"id": "call_7", "type": "function",
              "function": {"name": "search_memory", "arguments": '{"query": "dog"}'}}]
    server.queue.append((200, completion(None, tool_calls=calls, finish_reason="tool_calls")))
    tools = [{"type": "function", "function": {"name": "search_memory", "parameters": {"type": "object"}}}]
    model = _model(server)
    reply = model.chat(USER, tools=tools)
    assert model.supports_tools
    assert reply.tool_calls == (ToolCall("call_7", "search_memory", '{"query": "dog"}'),)
    assert reply.content == "" and reply.finish_reason == "tool_calls"
    assert server.requests[0]["tools"] == tools


def test_wrong_key_is_a_clear_llm_error(server: FakeChatServer) -> None:
    with pytest.raises(LLMError, match=r"wrong API key for http://127\.0\.0\.1:\d+/v1"):
        _model(server, api_key="nope").chat(USER)


def test_missing_key_tells_which_variable_to_set(server: FakeChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    model = OpenAICompatChatModel(model="fake-chat", base_url=server.base_url, api_key_env="MY_LLM_KEY",
                                  max_retries=0)
    with pytest.raises(LLMError, match=r"set \$MY_LLM_KEY"):
        model.chat(USER)


def test_key_is_read_from_the_named_variable_at_construction(server: FakeChatServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "test-key")
    model = OpenAICompatChatModel(model="fake-chat", base_url=server.base_url, api_key_env="MY_LLM_KEY",
                                  max_retries=0)
    assert model.chat(USER).content == "ok"


def test_5xx_then_200_is_retried(server: FakeChatServer) -> None:
    server.queue += [(500, {"error": {"message": "boom"}}), (503, {"error": {"message": "busy"}}),
                     (200, completion("after retries"))]
    assert _model(server, max_retries=2).chat(USER).content == "after retries"
    assert len(server.requests) == 3


def test_429_is_retried(server: FakeChatServer) -> None:
    server.queue += [(429, {"error": {"message": "slow down"}}), (200, completion("fine"))]
    assert _model(server, max_retries=1).chat(USER).content == "fine"


def test_retries_give_up_with_the_status(server: FakeChatServer) -> None:
    server.queue += [(500, {"error": {"message": "boom"}})] * 3
    with pytest.raises(LLMError, match="HTTP 500"):
        _model(server, max_retries=1).chat(USER)
    assert len(server.requests) == 2  # one try + one retry


def test_400_is_not_retried(server: FakeChatServer) -> None:
    server.queue.append((400, {"error": {"message": "context length exceeded"}}))
    with pytest.raises(LLMError, match=r"HTTP 400.*context length exceeded"):
        _model(server, max_retries=3).chat(USER)
    assert len(server.requests) == 1


def test_connection_refused_is_an_llm_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    model = OpenAICompatChatModel(model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    with pytest.raises(LLMError, match="cannot connect"):
        model.chat(USER)


def test_malformed_body_is_an_llm_error(server: FakeChatServer) -> None:
    server.queue.append((200, {"choices": []}))
    with pytest.raises(LLMError, match="malformed"):
        _model(server).chat(USER)


@pytest.mark.parametrize("kw", [{"model": ""}, {"timeout": 0}, {"max_retries": -1}])
def test_bad_options_are_config_errors(server: FakeChatServer, kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        _model(server, **kw)


def test_bad_messages_are_config_errors(server: FakeChatServer) -> None:
    model = _model(server)
    with pytest.raises(ConfigError, match="messages must not be empty"):
        model.chat([])
    with pytest.raises(ConfigError, match="role"):
        model.chat([{"content": "no role"}])
    with pytest.raises(ConfigError, match="stop"):
        model.chat(USER, stop="\n")
    assert server.requests == []


def test_no_key_and_no_base_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"\$OPENAI_API_KEY"):
        OpenAICompatChatModel(model="gpt-4o-mini")


def test_is_a_chat_model(server: FakeChatServer) -> None:
    model = _model(server, supports_tools=False, name="remote")
    assert isinstance(model, ChatModel)
    assert model.name == "remote" and not model.supports_tools
