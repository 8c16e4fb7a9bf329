"""The MCP tools in-process, through the mcp package's own Client: typed results, the agent path, tool errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from mcp.client.client import Client
from mcp.types import CallToolResult
from tests.mcp_server.conftest import run_async

from deltamem.config import MemoryConfig
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm import ScriptedChatModel
from deltamem.llm.base import Message
from deltamem.mcp_server import build_server
from deltamem.stores.memory import InMemoryStore

pytestmark = pytest.mark.timeout(30)

TOOLS = {"add_memory", "search_memory", "list_memories", "get_memory", "update_memory", "delete_memory",
         "memory_history", "answer"}


def make_memory(llm: ScriptedChatModel | None = None) -> Memory:
    # The scripted replies speak the whole-session protocol (ops); the windowed agent is tested in tests/agent.
    return Memory(store=InMemoryStore(), embedder=HashingEmbedder(dim=64), llm=llm,
                  config=MemoryConfig(agent={"mode": "session"}))


def call(memory: Memory, *steps: tuple[str, dict[str, Any]], user_id: str | None = "alice") -> list[CallToolResult]:
    """Call tools in order on one connection to an in-process server; return every result."""

    async def body() -> list[CallToolResult]:
        async with Client(build_server(memory, user_id=user_id)) as client:
            return [await client.call_tool(name, args) for name, args in steps]

    results: list[CallToolResult] = run_async(body)
    return results


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    out: dict[str, Any] = result.structured_content
    assert out is not None
    return out


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_tools_are_listed_with_descriptions_and_schemas() -> None:
    async def body() -> Any:
        async with Client(build_server(make_memory())) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in run_async(body)}
    assert set(tools) == TOOLS
    for t in tools.values():
        assert t.description and len(t.description) > 20
        assert t.output_schema is not None
    add = tools["add_memory"].input_schema["properties"]
    assert {"facts", "messages", "infer", "user_id"} <= set(add)
    assert "conversation" in add["messages"]["description"]
    assert tools["search_memory"].annotations is not None and tools["search_memory"].annotations.read_only_hint
    assert tools["delete_memory"].annotations is not None and tools["delete_memory"].annotations.destructive_hint


def test_round_trip_add_search_update_delete_history() -> None:
    m = make_memory()
    added, = call(m, ("add_memory", {"facts": ["Alice lives in Boston", "Alice is vegetarian"]}))
    out = ok(added)
    assert out["status"] == "applied" and out["namespace"] == "user:alice"
    ids = {c["after"]: c["memory_id"] for c in out["changes"]}
    boston = ids["Alice lives in Boston"]

    found, updated, got, deleted, gone, history, listed = call(
        m,
        ("search_memory", {"query": "Boston", "limit": 1}),
        ("update_memory", {"memory_id": boston, "text": "Alice lives in Denver"}),
        ("get_memory", {"memory_id": boston}),
        ("delete_memory", {"memory_id": ids["Alice is vegetarian"]}),
        ("get_memory", {"memory_id": ids["Alice is vegetarian"]}),
        ("memory_history", {"memory_id": boston}),
        ("list_memories", {}),
    )
    assert [r["text"] for r in ok(found)["results"]] == ["Alice lives in Boston"]
    assert ok(updated)["changes"] == [{"kind": "UPDATE", "memory_id": boston, "before": "Alice lives in Boston",
                                       "after": "Alice lives in Denver"}]
    assert ok(got)["text"] == "Alice lives in Denver"
    assert ok(deleted)["changes"][0]["kind"] == "DELETE"
    assert "NotFoundError" in error_text(gone)
    assert [(e["kind"], e["after"]) for e in ok(history)["events"]] == [
        ("ADD", "Alice lives in Boston"), ("UPDATE", "Alice lives in Denver")]
    assert [e["text"] for e in ok(listed)["memories"]] == ["Alice lives in Denver"]
    # The facade sees exactly what the tools did.
    assert [e.text for e in m.get_all(user_id="alice")] == ["Alice lives in Denver"]


def test_scopes_are_separate_and_default_to_the_server_user() -> None:
    m = make_memory()
    call(m, ("add_memory", {"facts": ["Bob plays chess"], "user_id": "bob"}),
         ("add_memory", {"facts": ["Alice plays go"]}))
    assert [e.text for e in m.get_all(user_id="bob")] == ["Bob plays chess"]
    assert [e.text for e in m.get_all(user_id="alice")] == ["Alice plays go"]
    bob_id = m.get_all(user_id="bob")[0].id
    # Alice's default scope cannot see or touch Bob's memory by id.
    cross, = call(m, ("delete_memory", {"memory_id": bob_id}))
    assert "NotFoundError" in error_text(cross) and "user:alice" in error_text(cross)
    assert len(m.get_all(user_id="bob")) == 1


def test_facts_keep_their_metadata() -> None:
    m = make_memory()
    added, = call(m, ("add_memory", {"facts": ["Alice's dentist is Dr. Mo"], "metadata": {"source": "chat", "n": 2}}))
    got, = call(m, ("get_memory", {"memory_id": ok(added)["changes"][0]["memory_id"]}))
    assert ok(got)["metadata"] == {"source": "chat", "n": 2}


def test_list_memories_paginates() -> None:
    m = make_memory()
    m.add([f"fact number {i}" for i in range(5)], user_id="alice")
    first, second, last = call(m, ("list_memories", {"limit": 2}), ("list_memories", {"limit": 2, "offset": 2}),
                               ("list_memories", {"limit": 2, "offset": 4}))
    pages = [ok(first), ok(second), ok(last)]
    assert [[e["text"] for e in p["memories"]] for p in pages] == [
        ["fact number 0", "fact number 1"], ["fact number 2", "fact number 3"], ["fact number 4"]]
    assert [p["next_offset"] for p in pages] == [2, 4, None]


def test_messages_without_inference_are_stored_as_said() -> None:
    m = make_memory()  # no LLM: infer=False must not need one
    res, = call(m, ("add_memory", {"messages": [{"role": "user", "content": "I just adopted a cat"},
                                                {"role": "assistant", "content": "Congratulations!"}],
                                   "infer": False}))
    assert [c["after"] for c in ok(res)["changes"]] == ["user: I just adopted a cat", "assistant: Congratulations!"]


def _update_first_shown(text: str) -> Any:
    """A scripted agent reply: UPDATE the first memory the agent was shown (by its m1/m2 alias)."""

    def reply(messages: Sequence[Message]) -> str:
        shown = [ln.split()[0] for ln in str(messages[1]["content"]).splitlines() if ln.startswith("m") and " [" in ln]
        return json.dumps({"ops": [{"op": "UPDATE", "id": shown[0], "text": text}]})

    return reply


def test_messages_run_the_memory_agent_and_answer_uses_the_llm() -> None:
    llm = ScriptedChatModel([_update_first_shown("Alice lives in Denver"), "She lives in Denver."])
    m = make_memory(llm)
    boston = m.add(["Alice lives in Boston"], user_id="alice").changes[0].memory_id
    added, answered = call(
        m,
        ("add_memory", {"messages": [{"role": "user", "content": "I moved from Boston to Denver last week"}],
                        "session_date": "2024-03-10"}),
        ("answer", {"question": "Where does Alice live?"}),
    )
    out = ok(added)
    assert out["status"] == "applied"
    assert out["changes"] == [{"kind": "UPDATE", "memory_id": boston, "before": "Alice lives in Boston",
                               "after": "Alice lives in Denver"}]
    assert "I moved from Boston to Denver" in json.dumps(llm.requests[0]["messages"])
    ans = ok(answered)
    assert ans["answer"] == "She lives in Denver."
    assert [x["text"] for x in ans["memories"]] == ["Alice lives in Denver"]
    assert "Where does Alice live?" in json.dumps(llm.requests[1]["messages"])


def test_agent_output_errors_are_tool_errors_and_memory_is_untouched() -> None:
    m = make_memory(ScriptedChatModel(default="this is not json at all"))
    m.add(["Alice lives in Boston"], user_id="alice")
    res, = call(m, ("add_memory", {"messages": [{"role": "user", "content": "I moved to Denver"}]}))
    assert "AgentOutputError" in error_text(res)
    assert [e.text for e in m.get_all(user_id="alice")] == ["Alice lives in Boston"]


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("get_memory", {"memory_id": "no-such-id"}, "NotFoundError: no live memory 'no-such-id' in 'user:alice'"),
    ("update_memory", {"memory_id": "no-such-id", "text": "x"}, "NotFoundError"),
    ("delete_memory", {"memory_id": "no-such-id"}, "NotFoundError"),
    ("memory_history", {"memory_id": "no-such-id"}, "NotFoundError: no memory 'no-such-id'"),
    ("add_memory", {"facts": [""]}, "InvalidOperation: text is empty"),
    ("add_memory", {"facts": ["ok", "   "]}, "InvalidOperation: item #1: text is empty"),
    ("add_memory", {"facts": ["x" * 2001]}, "InvalidOperation: text has 2001 characters; the limit is 2000"),
    ("add_memory", {"facts": []}, "ConfigError: facts must not be empty"),
    ("add_memory", {}, "ConfigError: give exactly one of facts or messages"),
    ("add_memory", {"messages": [{"role": "user", "content": " "}], "infer": False}, "messages must contain"),
    ("add_memory", {"messages": [{"role": "user", "content": "hi"}]}, "ConfigError: adding a conversation needs"),
    ("add_memory", {"facts": ["x"], "user_id": "no spaces allowed"}, "ConfigError: user_id"),
    ("add_memory", {"messages": [{"role": "user", "content": "hi"}], "infer": False, "session_date": "someday"},
     "ValidationError: session date 'someday' is not an ISO-8601 date or time"),
    ("search_memory", {"query": "  "}, "ConfigError: query must not be empty"),
    ("search_memory", {"query": "q" * 5000}, "query has 5000 characters; the limit is 2000"),
    ("list_memories", {"limit": 0}, "greater than or equal to 1"),
    ("answer", {"question": "Where?"}, "ConfigError: answering needs an LLM"),
])
def test_bad_input_is_a_tool_error_with_a_clear_message(name: str, args: dict[str, Any], expected: str) -> None:
    m = make_memory()
    res, after = call(m, (name, args), ("list_memories", {}))  # the server keeps serving after an error
    assert expected in error_text(res)
    assert len(error_text(res)) < 1000  # oversize input is not echoed back
    assert ok(after)["memories"] == []


def test_a_call_without_any_scope_is_refused() -> None:
    res, = call(make_memory(), ("add_memory", {"facts": ["orphan fact"]}), user_id=None)
    assert "say whose memory this is" in error_text(res)
