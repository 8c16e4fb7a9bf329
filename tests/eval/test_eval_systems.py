"""The built-in systems (deltamem, full-context, rag) and the metering wrapper, on fakes."""

from __future__ import annotations

import json
import threading
from datetime import datetime

from deltamem.config import AgentSettings
from deltamem.core.session import Message, Session
from deltamem.datasets.common import Question
from deltamem.embed.hashing import HashingEmbedder
from deltamem.eval.answering import answer_messages, question_text
from deltamem.eval.metering import MeteredChatModel
from deltamem.eval.systems.base import ContextItem, MemorySystem
from deltamem.eval.systems.deltamem_system import DeltamemSystem
from deltamem.eval.systems.full_context import FullContextSystem
from deltamem.eval.systems.rag import RagSystem
from deltamem.llm.base import ChatRequest, ChatResponse, Usage
from deltamem.llm.cache import CachedChatModel
from deltamem.llm.scripted import ScriptedChatModel


def _session(sid: str, date: datetime | None, *lines: tuple[str, str]) -> Session:
    return Session(id=sid, date=date, messages=tuple(Message(speaker=s, text=t) for s, t in lines))


SESSION = AgentSettings(mode="session")  # the whole-session reply protocol these tests script
S1 = _session("s1", datetime(2023, 5, 8), ("Ada", "I adopted a cat named Pip."), ("Ben", "Lovely!"))
S2 = _session("s2", datetime(2023, 6, 1), ("Ada", "Pip learned to open doors."), ("Ben", "Ha, clever cat."))


def _ops_reply(*texts: str) -> str:
    return json.dumps({"ops": [{"op": "ADD", "text": t} for t in texts]})


def test_all_systems_satisfy_the_protocol() -> None:
    emb = HashingEmbedder()
    for system in (DeltamemSystem(ScriptedChatModel(), emb), FullContextSystem(), RagSystem(emb)):
        assert isinstance(system, MemorySystem)


def test_deltamem_system_ingests_counts_ops_and_cost() -> None:
    llm = ScriptedChatModel([json.dumps({"facts": ["Ada adopted a cat named Pip."]})])
    system = DeltamemSystem(llm, HashingEmbedder())
    report = system.ingest("c1", S1)
    assert report.error is None
    assert report.ops == {"ADD": 1}
    assert report.cost.llm_calls == 1  # one window, nothing stored to judge against
    assert report.cost.prompt_tokens == sum(len(str(m["content"]).split()) for m in llm.requests[0]["messages"])
    assert "conversation: 2023-05-08" in llm.requests[0]["messages"][1]["content"]  # the session date reaches it
    mems = system.memories("c1")
    assert [m.text for m in mems] == ["Ada adopted a cat named Pip."]
    assert mems[0].date is not None and mems[0].date.startswith("2023-05-08")
    items, _ = system.context("c1", "What is Ada's cat called?", k=5)
    # The same rendering as Memory.answer: the memory, then the line it was written from.
    assert items[0].text == 'Ada adopted a cat named Pip.\nAda said on 8 May 2023: "I adopted a cat named Pip."'
    assert system.memories("other") == []  # conversations are isolated
    system.reset("c1")
    assert system.memories("c1") == []
    system.close()


def test_deltamem_system_counts_repaired_ops_apart_from_rejected_ones() -> None:
    # Seen on LoCoMo: with nothing stored, the 1.5B agent writes "UPDATE m1 ..." and repeats itself.
    reply = json.dumps({"ops": [{"op": "UPDATE", "id": "m1", "text": "Ada adopted a cat named Pip."},
                                {"op": "ADD", "text": "Ada adopted a cat named Pip."}]})
    system = DeltamemSystem(ScriptedChatModel([reply]), HashingEmbedder(), agent=SESSION)
    report = system.ingest("c1", S1)
    assert report.ops == {"ADD": 1, "REPAIRED": 1, "REJECTED": 1}
    assert [m.text for m in system.memories("c1")] == ["Ada adopted a cat named Pip."]


def test_deltamem_system_reports_agent_output_error_and_keeps_memory() -> None:
    llm = ScriptedChatModel([_ops_reply("Ada adopted a cat named Pip."), "no json here", "still none"])
    system = DeltamemSystem(llm, HashingEmbedder(), store="sqlite", agent=SESSION)
    system.ingest("c1", S1)
    report = system.ingest("c1", S2)
    assert report.error is not None and "still none" in report.error
    assert report.cost.errors == 1 and report.cost.llm_calls == 2  # the reply and its one repair turn
    assert report.ops == {}
    assert [m.text for m in system.memories("c1")] == ["Ada adopted a cat named Pip."]
    system.close()


def test_full_context_keeps_everything_within_budget() -> None:
    system = FullContextSystem(max_tokens=1000)
    system.ingest("c", S1, speakers=("Ada", "Ben"))
    system.ingest("c", S2)
    items, _ = system.context("c", "anything")
    assert [i.date for i in items] == ["2023-05-08T00:00:00", "2023-06-01T00:00:00"]
    assert items[0].text == "Ada: I adopted a cat named Pip.\nBen: Lovely!"
    assert not any((i.id or "").startswith("omitted:") for i in items)


def test_full_context_truncates_oldest_first_and_says_so() -> None:
    # Each line costs ceil(len/4) + 1 tokens: "Ben: Ha, clever cat." = 5 + 1, "Ada: Pip learned to open doors." = 8 + 1.
    system = FullContextSystem(max_tokens=15)
    system.ingest("c", S1)
    system.ingest("c", S2)
    items, _ = system.context("c", "q")
    assert items[0].id == "omitted:2"  # both messages of the first session are dropped
    assert items[1].text == "Ada: Pip learned to open doors.\nBen: Ha, clever cat."
    system2 = FullContextSystem(max_tokens=7)
    system2.ingest("c", S2)
    items2, _ = system2.context("c", "q")
    assert items2[0].id == "omitted:1" and items2[1].text == "Ben: Ha, clever cat."


def test_roles_become_names() -> None:
    sess = Session(id="h1", date=None, messages=(Message("user", "I am a librarian.", role="user"),
                                                 Message("assistant", "Nice!", role="assistant")))
    system = FullContextSystem()
    system.ingest("u", sess, speakers=("Nora Quill", "assistant"))
    assert [m.text for m in system.memories("u")] == ["Nora Quill: I am a librarian.", "Assistant: Nice!"]


def test_rag_returns_top_k_turns_with_dates() -> None:
    system = RagSystem(HashingEmbedder(dim=256))
    system.ingest("c", S1)
    system.ingest("c", S2)
    items, _ = system.context("c", "Pip learned to open doors", k=2)
    assert len(items) == 2
    assert items[0].text == "Ada: Pip learned to open doors." and items[0].date == "2023-06-01T00:00:00"
    assert items[0].score is not None and items[1].score is not None and items[0].score >= items[1].score
    assert items[0].id == "s2#0"
    assert system.context("empty", "x")[0] == []


class _Counting:
    """A ChatModel that reports fixed usage and counts concurrent calls."""

    name = "counting"
    supports_tools = False

    def __init__(self) -> None:
        self.calls = 0
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
        threading.Event().wait(0.01)
        with self._lock:
            self.active -= 1
        return ChatResponse(content="ok", usage=Usage(prompt_tokens=10, completion_tokens=2, calls=1))


def test_metering_attributes_usage_per_thread_and_gates_calls(tmp_path: object) -> None:
    inner = _Counting()
    meter = MeteredChatModel(inner, gate=threading.Semaphore(1))
    results: dict[int, Usage] = {}

    def work(i: int) -> None:
        with meter.measure() as u:
            for _ in range(i + 1):
                meter.chat([{"role": "user", "content": "hi"}])
        results[i] = u

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.peak == 1  # the gate serialised the calls
    assert [results[i].calls for i in range(3)] == [1, 2, 3]
    assert results[2].prompt_tokens == 30
    assert meter.total.calls == 6 and meter.total.completion_tokens == 12


def inner_calls(model: _Counting) -> int:
    return model.calls


def test_metering_counts_cache_hits_as_requests(tmp_path: object) -> None:
    from pathlib import Path

    inner = _Counting()
    meter = MeteredChatModel(CachedChatModel(inner, Path(str(tmp_path)) / "cache"))
    for _ in range(2):
        meter.chat([{"role": "user", "content": "same"}])
    assert inner_calls(inner) == 1  # the second request was served from disk
    assert meter.total.calls == 2  # cost counts requests, cached or not
    assert meter.total.prompt_tokens == 20 and meter.total.cached_tokens == 10


def test_answer_prompt_is_shared_and_shows_dates_and_options() -> None:
    q = Question(id="q", question="Which reply?", answer="b", category="x", options=("(a) one", "(b) two"))
    items = [ContextItem(text="Ada: hi\nBen: hello", date="2023-05-08T00:00:00")]
    text = answer_messages(q, items, today=datetime(2023, 6, 1))[0]["content"]
    assert "- [2023-05-08] Ada: hi\n  Ben: hello" in text
    assert "Today is 2023-06-01 (Thursday)." in text
    assert question_text(q).endswith("(a) one\n(b) two") and "<final_answer>" in question_text(q)
