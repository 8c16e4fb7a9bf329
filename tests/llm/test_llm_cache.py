"""CachedChatModel: hits, misses, key fields, usage accounting, corrupt entries and atomic files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deltamem.llm import ChatModel, ChatRequest, ChatResponse, ScriptedChatModel, ToolCall, Usage
from deltamem.llm.cache import CachedChatModel, request_key

USER = [{"role": "user", "content": "what is two plus two"}]


def _cached(tmp_path: Path, replies: list[Any], **kw: Any) -> tuple[CachedChatModel, ScriptedChatModel]:
    inner = ScriptedChatModel(replies, **kw)
    return CachedChatModel(inner, tmp_path / "cache"), inner


def test_second_identical_call_is_served_from_disk(tmp_path: Path) -> None:
    model, inner = _cached(tmp_path, ["four"])
    first = model.chat(USER, max_tokens=5)
    second = model.chat(USER, max_tokens=5)
    assert len(inner.requests) == 1
    assert (first.content, first.cached) == ("four", False)
    assert (second.content, second.cached) == ("four", True)
    assert (model.hits, model.misses) == (1, 1)


def test_a_new_instance_reads_the_same_directory(tmp_path: Path) -> None:
    model, _ = _cached(tmp_path, ["four"])
    model.chat(USER)
    again = CachedChatModel(ScriptedChatModel([]), tmp_path / "cache")  # would raise if it called the model
    assert again.chat(USER).content == "four"


def test_hit_usage_keeps_original_tokens_with_zero_calls(tmp_path: Path) -> None:
    original = ChatResponse("four", usage=Usage(prompt_tokens=120, completion_tokens=7, cached_tokens=100, calls=1,
                                                seconds=2.5))
    model, _ = _cached(tmp_path, [original])
    model.chat(USER)
    hit = model.chat(USER).usage
    assert hit == Usage(prompt_tokens=120, completion_tokens=7, cached_tokens=120, calls=0, seconds=0.0)
    assert model.saved == original.usage


def test_tool_calls_and_finish_reason_round_trip(tmp_path: Path) -> None:
    reply = ChatResponse("", tool_calls=(ToolCall("c1", "search_memory", '{"query": "x"}'),),
                         finish_reason="tool_calls", usage=Usage(3, 1, 0, 1, 0.1))
    model, _ = _cached(tmp_path, [reply])
    model.chat(USER)
    hit = model.chat(USER)
    assert hit.tool_calls == reply.tool_calls and hit.finish_reason == "tool_calls"


@pytest.mark.parametrize("change", [
    {"max_tokens": 6}, {"temperature": 0.5}, {"stop": ["\n"]}, {"seed": 1}, {"json_schema": {"type": "object"}},
    {"tools": [{"type": "function", "function": {"name": "f"}}]},
])
def test_every_request_field_is_part_of_the_key(tmp_path: Path, change: dict[str, Any]) -> None:
    model, inner = _cached(tmp_path, ["a", "b"])
    model.chat(USER, max_tokens=5)
    assert model.chat(USER, **{"max_tokens": 5, **change}).content == "b"
    assert len(inner.requests) == 2


def test_messages_and_model_name_are_part_of_the_key(tmp_path: Path) -> None:
    base = request_key("m", ChatRequest(USER, max_tokens=5))
    assert base == request_key("m", ChatRequest([dict(USER[0])], max_tokens=5))  # the same request, rebuilt
    assert base != request_key("other", ChatRequest(USER, max_tokens=5))
    assert base != request_key("m", ChatRequest([{"role": "user", "content": "what is two plus three"}], max_tokens=5))
    assert len(base) == 64


# Keys computed before ChatRequest existed (request_key(model, messages, tools=..., ...)): committed runs replay from
# keys like these, so the canonical form must never change.
U = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Wie heißt du? 東京"}]
T = [{"type": "function", "function": {"name": "search_memory", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize(("model", "request_", "key"), [
    ("local:qwen2.5-coder-1.5b", ChatRequest(U), "1adc18fd6fc9dd64d41038935504ba84392c58fb74417d369db6e9637b803776"),
    ("openai:gpt-4o-mini",
     ChatRequest(U, tools=T, json_schema={"type": "object", "properties": {"a": {"type": "string"}}}, max_tokens=64,
                 temperature=0.7, stop=["\n\n", "END"], seed=3),
     "a80b511ff88a02c6833eba47fcfe4d4d4bac2fcb806972385fe82c2d603aa1a7"),
    ("m", ChatRequest(tuple(U), tools=(), max_tokens=5, temperature=0, stop=("x",)),
     "553532a173597fdabbbe90109fb75e7ef83e12244f4f6980508d5a20fa988cda"),
    ("m", ChatRequest(U, max_tokens=5, stop=[], seed=0),
     "0cb226bc168f880dec9911cebd84564cd312cb60c4a1d030b3edfe5206d13a3b"),
])
def test_keys_are_those_of_earlier_versions(model: str, request_: ChatRequest, key: str) -> None:
    assert request_key(model, request_) == key


def test_corrupt_entry_is_ignored_and_rewritten(tmp_path: Path) -> None:
    model, inner = _cached(tmp_path, ["first", "second"])
    model.chat(USER)
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 1
    files[0].write_text('{"format": 1, "response": {"content": "trunc')  # a torn write from an old crash
    assert model.chat(USER).content == "second"  # a miss, not a crash
    assert len(inner.requests) == 2
    assert json.loads(files[0].read_text())["response"]["content"] == "second"  # rewritten
    assert model.chat(USER).content == "second" and len(inner.requests) == 2


def test_wrong_shape_entry_is_a_miss(tmp_path: Path) -> None:
    model, _ = _cached(tmp_path, ["first", "second"])
    model.chat(USER)
    path = next((tmp_path / "cache").rglob("*.json"))
    path.write_text(json.dumps({"format": 1, "response": {"content": "x"}}))
    assert model.chat(USER).content == "second"


def test_no_temp_files_are_left(tmp_path: Path) -> None:
    model, _ = _cached(tmp_path, ["a"])
    model.chat(USER)
    names = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(names) == 1 and names[0].endswith(".json") and not names[0].startswith(".")


def test_unwritable_cache_does_not_fail_the_call(tmp_path: Path) -> None:
    model, _ = _cached(tmp_path, ["a"])
    key_dir = model.path_for(request_key("scripted", ChatRequest(USER))).parent
    key_dir.parent.mkdir(parents=True, exist_ok=True)
    key_dir.write_text("a file where the shard directory should be")
    assert model.chat(USER).content == "a"


def test_errors_are_not_cached(tmp_path: Path) -> None:
    from deltamem.core.errors import LLMError

    model, _ = _cached(tmp_path, [])
    with pytest.raises(LLMError):
        model.chat(USER)
    assert list((tmp_path / "cache").rglob("*.json")) == []


def test_passes_name_and_tools_through(tmp_path: Path) -> None:
    model, _ = _cached(tmp_path, [], name="inner-name", supports_tools=True)
    assert isinstance(model, ChatModel)
    assert model.name == "inner-name" and model.supports_tools
