"""ScriptedChatModel: the fake every other layer's tests use, so its contract is pinned down here."""

from __future__ import annotations

import pytest

from deltamem.core.errors import LLMError
from deltamem.llm import ChatModel, ChatResponse, ScriptedChatModel, ToolCall, Usage


def test_replies_in_order_and_records_requests() -> None:
    model = ScriptedChatModel(["first", "second"])
    assert model.chat([{"role": "user", "content": "a b c"}], max_tokens=7, stop=["\n"], seed=3).content == "first"
    assert model.chat([{"role": "user", "content": "d"}], json_schema={"type": "object"}).content == "second"
    assert [r["messages"][0]["content"] for r in model.requests] == ["a b c", "d"]
    assert model.requests[0]["max_tokens"] == 7
    assert model.requests[0]["stop"] == ["\n"]
    assert model.requests[0]["seed"] == 3
    assert model.requests[1]["json_schema"] == {"type": "object"}


def test_running_out_of_replies_fails_loudly() -> None:
    model = ScriptedChatModel(["only"])
    model.chat([{"role": "user", "content": "x"}])
    with pytest.raises(LLMError, match="no reply left for call #2"):
        model.chat([{"role": "user", "content": "x"}])


def test_default_reply_after_the_script() -> None:
    model = ScriptedChatModel(["a"], default="fallback")
    assert [model.chat([{"role": "user", "content": "q"}]).content for _ in range(3)] == ["a", "fallback", "fallback"]


def test_callable_replies_see_the_messages() -> None:
    model = ScriptedChatModel([lambda msgs: str(msgs[-1]["content"]).upper()])
    assert model.chat([{"role": "user", "content": "shout"}]).content == "SHOUT"


def test_chat_response_replies_pass_through_with_tool_calls() -> None:
    reply = ChatResponse(content="", tool_calls=(ToolCall("c1", "search_memory", '{"query": "dog"}'),),
                         finish_reason="tool_calls", usage=Usage(5, 2, 0, 1, 0.1))
    model = ScriptedChatModel([reply], supports_tools=True, name="fake-tools")
    assert model.chat([{"role": "user", "content": "q"}], tools=[{"type": "function"}]) is reply
    assert model.supports_tools and model.name == "fake-tools"
    assert model.requests[0]["tools"] == [{"type": "function"}]


def test_usage_counts_words() -> None:
    model = ScriptedChatModel(["three word reply"])
    usage = model.chat([{"role": "system", "content": "a b"}, {"role": "user", "content": "c d e"}]).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.calls) == (5, 3, 1)


def test_is_a_chat_model() -> None:
    assert isinstance(ScriptedChatModel([]), ChatModel)


def test_usage_adds_up() -> None:
    total = Usage(1, 2, 3, 1, 0.5) + Usage(10, 20, 30, 2, 1.0)
    assert total == Usage(11, 22, 33, 3, 1.5)
