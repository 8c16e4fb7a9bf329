"""The mem0 baseline: mem0ai 2.x really runs, against deltamem's loopback OpenAI endpoint with scripted replies.

No mock anywhere: mem0 calls :class:`ChatEndpoint` over HTTP with the ``openai`` SDK, and the endpoint answers from
a :class:`ScriptedChatModel` (mem0's JSON format, or garbage) and a :class:`HashingEmbedder`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import openai
import pytest

from deltamem.core.errors import ConfigError
from deltamem.core.session import Message, Session
from deltamem.embed.hashing import HashingEmbedder
from deltamem.eval.systems.base import MemorySystem
from deltamem.eval.systems.mem0_endpoint import ChatEndpoint
from deltamem.eval.systems.mem0_system import reply_problem, session_instructions, to_mem0_messages
from deltamem.llm.base import ChatResponse, Usage
from deltamem.llm.scripted import ScriptedChatModel

if TYPE_CHECKING:
    from deltamem.eval.systems.mem0_system import Mem0System

Maker = Callable[..., "tuple[Mem0System, ScriptedChatModel]"]

SPEAKERS = ("Caroline", "Melanie")
S1 = Session(date=datetime(2023, 5, 8, 13, 56), id="session_1", messages=(
    Message("Caroline", "I moved to Boston last year, I work as a nurse."),
    Message("Melanie", "Cool! I just started pottery classes."),
    Message("Caroline", "   "),
))
S2 = Session((Message("Caroline", "My dog Rex is five now."),), datetime(2023, 6, 1), "session_2")


def _memory_reply(*texts: str) -> str:
    return json.dumps({"memory": [{"id": str(i), "text": t, "attributed_to": "user"} for i, t in enumerate(texts)]})


# -- pure helpers (no mem0 needed) --

def test_reply_problem_accepts_mem0s_format_and_names_each_failure() -> None:
    assert reply_problem(_memory_reply("a", "b")) is None
    assert reply_problem('```json\n{"memory": []}\n```') is None
    assert reply_problem('Sure! {"memory": [{"text": "x"}]} hope it helps') is None
    assert "not JSON" in (reply_problem("I cannot help with that") or "")
    assert "empty" in (reply_problem("  ") or "")
    assert "no 'memory' list" in (reply_problem('{"facts": ["Caroline is a nurse"]}') or "")
    assert "1 of 2 memory items" in (reply_problem('{"memory": [{"text": "ok"}, "bare string"]}') or "")
    assert "cut at max_tokens" in (reply_problem(_memory_reply("a"), "length") or "")


def test_two_human_speakers_become_user_and_assistant_with_names() -> None:
    msgs = to_mem0_messages(S1.messages, SPEAKERS)
    assert msgs == [{"role": "user", "content": "Caroline: I moved to Boston last year, I work as a nurse."},
                    {"role": "assistant", "content": "Melanie: Cool! I just started pottery classes."}]
    # Without speakers, the first to talk is the user; benchmark roles win where they exist.
    swapped = to_mem0_messages((Message("Melanie", "hi"), Message("Caroline", "hey")), ())
    assert [m["role"] for m in swapped] == ["user", "assistant"]
    roles = to_mem0_messages((Message("x", "I am Ann", role="user"), Message("y", "Hi Ann", role="assistant")),
                             ("Ann",))
    assert roles == [{"role": "user", "content": "Ann: I am Ann"},
                     {"role": "assistant", "content": "Assistant: Hi Ann"}]


def test_session_date_goes_into_the_instructions() -> None:
    text = session_instructions(S1, SPEAKERS)
    assert "Monday, 08 May 2023 (2023-05-08)" in text and "Use 2023-05-08 as the Observation Date" in text
    assert "Caroline and Melanie" in text
    assert "Observation Date" not in session_instructions(Session(S1.messages, None, "s"), SPEAKERS)


# -- the loopback endpoint (openai SDK, no mem0 needed) --

def test_endpoint_ignores_store_maps_json_mode_and_reports_usage() -> None:
    llm = ScriptedChatModel([ChatResponse('{"a": 1}', usage=Usage(120, 7, 100, 1, 0.1))])
    with ChatEndpoint(llm, embedder=HashingEmbedder(dim=8)) as ep:
        client = openai.OpenAI(base_url=ep.base_url, api_key=ep.api_key, max_retries=0)
        r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], store=True,
                                           response_format={"type": "json_object"}, max_tokens=50, top_p=0.1)
        emb = client.embeddings.create(model="e", input=["one", "two"], dimensions=8)
        with pytest.raises(openai.BadRequestError, match="8 dimensions, not 4"):
            client.embeddings.create(model="e", input="x", dimensions=4)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=ep.base_url, api_key="wrong", max_retries=0).models.list()
    assert r.choices[0].message.content == '{"a": 1}'
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (120, 7)  # type: ignore[union-attr]
    assert r.usage.prompt_tokens_details.cached_tokens == 100  # type: ignore[union-attr]
    assert llm.requests[0]["json_schema"] == {"type": "object"} and llm.requests[0]["max_tokens"] == 50
    assert [len(d.embedding) for d in emb.data] == [8, 8]


def test_endpoint_model_failure_is_a_502_that_the_sdk_does_not_retry() -> None:
    llm = ScriptedChatModel([])  # raises LLMError on the first call
    with ChatEndpoint(llm) as ep:
        client = openai.OpenAI(base_url=ep.base_url, api_key=ep.api_key, max_retries=2)
        with pytest.raises(openai.InternalServerError, match="no reply left"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert len(llm.requests) == 1


# -- Mem0System with mem0ai --

FACTS = ("Caroline moved to Boston in 2022", "Caroline works as a nurse", "Melanie started pottery classes in May 2023")


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., tuple[Mem0System, ScriptedChatModel]]]:
    """A Mem0System over a ScriptedChatModel answering ``replies`` in order (LLMError once they run out)."""
    pytest.importorskip("mem0")
    from deltamem.eval.systems.mem0_system import Mem0System

    built: list[Mem0System] = []

    def build(*replies: str) -> tuple[Mem0System, ScriptedChatModel]:
        llm = ScriptedChatModel(replies)
        built.append(Mem0System(llm=llm, embedder=HashingEmbedder(dim=64), workdir=tmp_path / str(len(built))))
        return built[-1], llm

    yield build
    for system in built:
        system.close()


def test_ingest_stores_memories_search_finds_them_and_cost_is_counted(make: Maker) -> None:
    system, llm = make(_memory_reply(*FACTS))
    assert isinstance(system, MemorySystem)
    report = system.ingest("conv-26", S1, speakers=SPEAKERS)
    assert report.error is None and report.ops == {"ADD": 3}
    # ScriptedChatModel counts words; the endpoint passes that usage on and mem0's callback hands it to us.
    sent = llm.requests[0]["messages"]
    assert report.cost.llm_calls == 1
    assert report.cost.prompt_tokens == sum(len(m["content"].split()) for m in sent) > 1000
    assert report.cost.completion_tokens == len(_memory_reply(*FACTS).split())
    assert report.cost.errors == 0 and report.cost.seconds > 0
    client = system._conv("conv-26").memory.llm.client  # the SDK defaults (600 s, 2 retries) are replaced
    assert (client.timeout, client.max_retries) == (3600.0, 0)
    prompt = sent[1]["content"]
    assert "user: Caroline: I moved to Boston" in prompt and "assistant: Melanie: Cool!" in prompt
    assert "Use 2023-05-08 as the Observation Date" in prompt

    assert sorted(m.text for m in system.memories("conv-26")) == sorted(FACTS)
    items, cost = system.context("conv-26", "Caroline moved to Boston in 2022", k=2)
    assert len(items) == 2 and items[0].text == "Caroline moved to Boston in 2022"
    assert items[0].score is not None and items[1].score is not None and items[0].score >= items[1].score
    assert items[0].date == "2023-05-08T13:56:00" and items[0].id
    assert cost.llm_calls == 0 and cost.errors == 0
    # Conversations are isolated, and reset forgets.
    assert system.memories("other") == []
    system.reset("conv-26")
    assert system.memories("conv-26") == []


@pytest.mark.parametrize("garbage", ["I'm sorry, I can't do that.", '{"facts": ["Caroline has a dog"]}'])
def test_a_garbage_reply_is_an_error_and_memory_stays(make: Maker, garbage: str) -> None:
    system, _ = make(_memory_reply(*FACTS), garbage)
    assert system.ingest("c", S1, speakers=SPEAKERS).error is None
    report = system.ingest("c", S2, speakers=SPEAKERS)
    assert report.error is not None and garbage[:20] in report.error
    assert report.cost.errors == 1 and report.cost.llm_calls == 1 and report.ops == {}
    assert len(system.memories("c")) == 3


def test_model_failure_is_reported_not_raised(make: Maker) -> None:
    system, _ = make()  # no reply: the scripted model raises LLMError, the endpoint answers 502, mem0 raises
    report = system.ingest("c", S1, speakers=SPEAKERS)
    assert report.error is not None and "mem0 add raised" in report.error and "no reply left" in report.error
    assert report.cost.errors == 1 and report.cost.llm_calls == 0
    assert system.memories("c") == []


def test_base_url_mode_and_split_adds(tmp_path: Path) -> None:
    pytest.importorskip("mem0")
    from deltamem.eval.systems.mem0_system import Mem0System

    llm = ScriptedChatModel(default=lambda msgs: _memory_reply(msgs[1]["content"].split("## New Messages\n")[1]
                                                               .splitlines()[0]))
    with ChatEndpoint(llm, embedder=HashingEmbedder(dim=32)) as ep:
        system = Mem0System(ep.base_url, "scripted", api_key=ep.api_key, embedding_dims=32, workdir=tmp_path,
                            messages_per_add=1)
        try:
            report = system.ingest("c", S1, speakers=SPEAKERS)
            texts = sorted(m.text for m in system.memories("c"))
        finally:
            system.close()
    assert report.cost.llm_calls == 2 and report.ops == {"ADD": 2} and report.error is None
    assert texts == ["assistant: Melanie: Cool! I just started pottery classes.",
                     "user: Caroline: I moved to Boston last year, I work as a nurse."]
    assert (tmp_path / next(p.name for p in tmp_path.iterdir()) / "history.db").is_file()


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    pytest.importorskip("mem0")
    from deltamem.eval.systems.mem0_system import Mem0System

    with pytest.raises(ConfigError, match="either base_url"):
        Mem0System(workdir=tmp_path)
    with pytest.raises(ConfigError, match="needs embedder"):
        Mem0System(llm=ScriptedChatModel(), workdir=tmp_path)
    with pytest.raises(ConfigError, match="model name"):
        Mem0System("http://127.0.0.1:1/v1", workdir=tmp_path)
    with pytest.raises(ConfigError, match="messages_per_add"):
        Mem0System("http://127.0.0.1:1/v1", "m", workdir=tmp_path, messages_per_add=0)
