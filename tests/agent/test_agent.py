"""The memory agent with the scripted fake model: parse, repair, fail, aliases, budgets, provenance, dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from deltamem.agent import AgentConfig, MemoryAgent, MemorySearch, to_session
from deltamem.core import AgentOutputError, Delete, Update
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm import ChatResponse, ScriptedChatModel, ToolCall, Usage
from deltamem.stores.memory import InMemoryStore

SESSION = AgentConfig(mode="session")  # these tests script the whole-session reply protocol
EMB = HashingEmbedder(dim=64)
DATE = datetime(2023, 5, 8, 14, 0, tzinfo=UTC)


def ops(*items: dict) -> str:
    return json.dumps({"ops": list(items)})


@pytest.fixture
def mem() -> Memory:
    m = Memory(store=InMemoryStore(), embedder=EMB)
    m.add(["Caroline lives in Boston", "Caroline has a dog named Rex", "Caroline works as a nurse"], user_id="c")
    return m


def session(*texts: str) -> object:
    return to_session([{"speaker": "Caroline" if i % 2 == 0 else "Assistant", "text": t}
                       for i, t in enumerate(texts)], date=DATE, session_id="s7")


def run(mem: Memory, llm: ScriptedChatModel, sess: object, **cfg: object) -> object:
    agent = MemoryAgent(llm, embedder=EMB, config=AgentConfig(**{"mode": "session", **cfg}))  # type: ignore[arg-type]
    return agent.run(sess, MemorySearch(mem.store, EMB, "user:c"))  # type: ignore[arg-type]


def test_seed_search_shows_related_memories_under_aliases(mem: Memory) -> None:
    llm = ScriptedChatModel([ops({"op": "UPDATE", "id": "m1", "text": "Caroline moved to Seattle"})])
    result = run(mem, llm, session("I moved from Boston to Seattle!", "Wow, congrats"))
    prompt = llm.requests[0]["messages"][1]["content"]
    assert "m1 [" in prompt and "Caroline lives in Boston" in prompt
    assert all(len(a) <= 3 for a in result.shown)  # m1, m2, ...: no uuids reach the model
    boston = next(e.id for e in mem.get_all(user_id="c") if "Boston" in e.text)
    assert result.ops == [Update(id=boston, text="Caroline moved to Seattle", timestamp=DATE,
                                 message_indices=(0,))]
    assert len(llm.requests) == 1  # a small model can act in one call


def test_plain_text_search_protocol_then_ops(mem: Memory) -> None:
    llm = ScriptedChatModel([json.dumps({"search": ["Rex dog"]}),
                             lambda msgs: ops({"op": "DELETE", "id": next(
                                 line.split()[0] for line in msgs[-1]["content"].splitlines() if "Rex" in line)})])
    result = run(mem, llm, session("Sadly Rex passed away last week."))
    assert result.searches == [("Rex dog",)]
    rex = next(e.id for e in mem.get_all(user_id="c") if "Rex" in e.text)
    assert result.ops == [Delete(id=rex)]
    assert "Search results:" in llm.requests[1]["messages"][-1]["content"]
    assert llm.requests[1]["messages"][:2] == llm.requests[0]["messages"]  # stable prefix for the KV cache


def test_native_tool_calls_when_backend_supports_them(mem: Memory) -> None:
    call = ChatResponse(content="", tool_calls=(ToolCall("c1", "search_memory", '{"queries": ["nurse job"]}'),))
    llm = ScriptedChatModel([call, ops({"op": "ADD", "text": "Caroline started pottery classes"})],
                            supports_tools=True)
    result = run(mem, llm, session("I started pottery classes, and I still work as a nurse."))
    assert llm.requests[0]["tools"][0]["function"]["name"] == "search_memory"
    assert llm.requests[1]["messages"][-1]["role"] == "tool"
    assert "nurse" in llm.requests[1]["messages"][-1]["content"]
    assert [o.text for o in result.ops] == ["Caroline started pottery classes"]


def test_fences_and_prose_are_tolerated(mem: Memory) -> None:
    reply = "Here you go:\n```json\n" + ops({"op": "ADD", "text": "Caroline bought a red bike"}) + "\n```\nDone."
    result = run(mem, ScriptedChatModel([reply]), session("I bought a red bike today."))
    assert result.ops[0].text == "Caroline bought a red bike"


def test_unknown_ids_are_repaired_or_dropped_not_fatal(mem: Memory) -> None:
    reply = ops({"op": "UPDATE", "id": "m42", "text": "Caroline bought a red bike"}, {"op": "DELETE", "id": "m43"})
    result = run(mem, ScriptedChatModel([reply]), session("I bought a red bike."))
    assert [(o.kind, o.text) for o in result.ops] == [("ADD", "Caroline bought a red bike")]
    assert [(r.op.kind, r.reason) for r in result.repaired] == [("UPDATE", "UPDATE of unknown id 'm42' kept as ADD")]
    assert [r.reason for r in result.rejected] == ["DELETE of unknown id 'm43' dropped"]


def test_one_repair_turn_shows_the_error(mem: Memory) -> None:
    llm = ScriptedChatModel([ops({"op": "MERGE", "id": "m1"}), ops({"op": "ADD", "text": "Caroline bought a bike"})])
    result = run(mem, llm, session("I bought a bike."))
    repair = llm.requests[1]["messages"][-1]["content"]
    assert "MERGE" in repair and "expected ADD, UPDATE, DELETE or NOOP" in repair
    assert [t.kind for t in result.turns] == ["repair", "ops"]
    assert result.ops[0].text == "Caroline bought a bike"


def test_second_failure_raises_with_raw_output_and_memory_untouched(mem: Memory) -> None:
    before = mem.state(user_id="c")
    llm = ScriptedChatModel(["I cannot do that", "still not json"], default=None)
    mem.agent = MemoryAgent(llm, embedder=EMB, config=SESSION)
    with pytest.raises(AgentOutputError) as err:
        mem.add([{"role": "user", "content": "I moved to Seattle"}], user_id="c", session_date=DATE)
    assert err.value.raw == "still not json"
    assert mem.state(user_id="c") == before
    assert len(mem.change_sets(user_id="c")) == 1


def test_truncated_reply_is_salvaged(mem: Memory) -> None:
    cut = '{"ops": [{"op": "ADD", "text": "Caroline adopted a cat named Milo"}, {"op": "ADD", "text": "Caroline ad'
    result = run(mem, ScriptedChatModel([cut]), session("I adopted a cat named Milo."))
    assert result.salvaged and [o.text for o in result.ops] == ["Caroline adopted a cat named Milo"]


def test_repeats_duplicates_and_invented_facts_are_rejected(mem: Memory) -> None:
    reply = ops({"op": "ADD", "text": "Caroline adopted a cat named Milo"},
                {"op": "ADD", "text": "Caroline adopted a cat named Milo"},
                {"op": "ADD", "text": "Caroline lives in Boston"},
                {"op": "ADD", "text": "Caroline won a Nobel prize in physics"},
                {"op": "NOOP"})
    result = run(mem, ScriptedChatModel([reply]), session("I adopted a cat named Milo."))
    assert [o.text for o in result.ops] == ["Caroline adopted a cat named Milo"]
    reasons = [r.reason for r in result.rejected]
    assert any("repeats (this session)" in r for r in reasons)
    assert any("repeats a stored memory" in r for r in reasons)
    assert any("not supported by the session" in r for r in reasons)


def test_an_update_may_not_overwrite_a_memory_with_another_memorys_text(mem: Memory) -> None:
    def reply(msgs: list[dict]) -> str:
        alias = {w: next(line.split()[0] for line in msgs[-1]["content"].splitlines() if w in line)
                 for w in ("Rex", "nurse")}
        return ops({"op": "UPDATE", "id": alias["Rex"], "text": "Caroline lives in Boston"},
                   {"op": "ADD", "text": "Caroline adopted a cat named Milo"},
                   {"op": "UPDATE", "id": alias["nurse"], "text": "Caroline adopted a cat named Milo"})

    before = {e.text for e in mem.get_all(user_id="c")}
    mem.agent = MemoryAgent(ScriptedChatModel([reply]), embedder=EMB, config=SESSION)
    res = mem.add([{"role": "user", "content": "I live in Boston with my dog Rex, I'm a nurse, and I adopted a cat "
                                               "named Milo."}], user_id="c", session_date=DATE)
    assert res.agent is not None
    assert [r.reason for r in res.agent.rejected] == ["update repeats another stored memory",
                                                      "update repeats (this session)"]
    assert {e.text for e in mem.get_all(user_id="c")} == before | {"Caroline adopted a cat named Milo"}


def test_two_ops_on_one_memory_keep_the_first(mem: Memory) -> None:
    reply = ops({"op": "UPDATE", "id": "m1", "text": "Caroline lives in Seattle"}, {"op": "DELETE", "id": "m1"})
    result = run(mem, ScriptedChatModel([reply]), session("I live in Seattle now, not Boston."))
    assert len(result.ops) == 1 and result.rejected[0].reason == "a second op on the same memory"


def test_relative_dates_become_absolute_with_timestamp(mem: Memory) -> None:
    reply = ops({"op": "ADD", "text": "Caroline went to a LGBTQ support group yesterday"})
    result = run(mem, ScriptedChatModel([reply]), session("I went to a LGBTQ support group yesterday."))
    op = result.ops[0]
    assert op.text == "Caroline went to a LGBTQ support group on 7 May 2023"
    assert op.timestamp == datetime(2023, 5, 7, tzinfo=UTC)


def test_provenance_comes_from_the_session_not_the_model(mem: Memory) -> None:
    reply = ops({"op": "ADD", "text": "Caroline is training for a marathon", "msgs": [0, 99]})
    result = run(mem, ScriptedChatModel([reply]), session("hi", "hello", "I'm training for a marathon"))
    assert result.ops[0].message_indices == (2,)  # the message that supports the fact, not the model's claim
    assert [r.reason for r in result.ignored] == ["ignored field(s) the model may not set: msgs"]


def test_budgets(mem: Memory) -> None:
    searching = ScriptedChatModel(default=json.dumps({"search": ["more"]}))
    with pytest.raises(AgentOutputError, match="no final operations within 2"):
        run(mem, searching, session("hello there friend"), max_turns=2)
    assert searching.requests[-1]["tools"] is None  # the last turn may not search
    expensive = ScriptedChatModel(default=ChatResponse(json.dumps({"search": ["x"]}), usage=Usage(900, 100, 0, 1)))
    with pytest.raises(AgentOutputError, match="token budget of 1500"):
        run(mem, expensive, session("hello there friend"), max_total_tokens=1500)
    assert len(expensive.requests) == 2
    capped = ScriptedChatModel([ops()])
    run(mem, capped, session("a b c"), max_output_tokens=100)
    assert capped.requests[0]["max_tokens"] == 100


def test_add_messages_applies_one_change_set_with_provenance(mem: Memory) -> None:
    mem.agent = MemoryAgent(ScriptedChatModel([ops({"op": "UPDATE", "id": "m1", "text": "Caroline lives in Seattle"},
                                                  {"op": "ADD", "text": "Caroline bought a sailboat"})]),
                            embedder=EMB, config=SESSION)
    res = mem.add([{"role": "user", "content": "I live in Seattle now and I bought a sailboat!"}], user_id="c",
                  session_date="2023-05-08", session_id="s9")
    assert res.change_set is not None and not res.queued
    assert res.change_set.counts() == {"ADD": 1, "UPDATE": 1, "DELETE": 0}
    sail = next(e for e in mem.get_all(user_id="c") if "sailboat" in e.text)
    assert sail.session_id == "s9" and sail.message_indices == (0,)
    assert sail.timestamp.date().isoformat() == "2023-05-08"
    assert mem.change_sets(user_id="c")[0].actor == "agent"


def test_infer_false_stores_raw_messages(mem: Memory) -> None:
    res = mem.add([{"role": "user", "content": "raw one"}, {"role": "assistant", "content": "raw two"}],
                  user_id="raw", infer=False, session_date=DATE)
    assert [e.text for e in mem.get_all(user_id="raw")] == ["user: raw one", "assistant: raw two"]
    assert res.change_set is not None and res.agent is None


def test_answer_uses_top_memories_with_dates(mem: Memory) -> None:
    llm = ScriptedChatModel(["Boston."])
    mem.llm = llm
    ans = mem.answer("Where does Caroline live?", user_id="c", k=2)
    assert ans.text == "Boston." and len(ans.memory_ids) == 2
    prompt = llm.requests[0]["messages"][0]["content"]  # the one answer prompt of deltamem.facade.answering
    assert "Caroline lives in Boston" in prompt and "[20" in prompt and "Where does Caroline live?" in prompt
