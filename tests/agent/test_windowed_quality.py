"""What the windowed episode keeps with a memory and which facts it keeps: the evidence line each memory is written
from (stored, replaced on update, shown to the answerer), facts judged against a memory of the same lasting
attribute however differently worded, and passing states or greetings refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from tests.agent.helpers_windowed import DATE, EMB, NS, Model, memory, run, session

from deltamem.agent import MemoryAgent
from deltamem.agent.decide import ends, same_slot
from deltamem.agent.episode import MAX_EVIDENCE_CHARS, evidence
from deltamem.agent.extract import Facts, screen
from deltamem.agent.session import Message
from deltamem.core import Add, Update
from deltamem.facade.answering import memory_context
from deltamem.llm import ScriptedChatModel


def test_each_new_memory_keeps_the_dated_line_it_came_from() -> None:
    mem = memory()
    model = Model([["Caroline adopted a cat named Miso."]])
    result = run(mem, model, session(("Assistant", "How was your week?"),
                                     ("Caroline", "Great, I adopted a cat named Miso yesterday!")))
    [op] = result.ops
    assert isinstance(op, Add)
    assert op.metadata == {"evidence": 'Caroline said on 10 June 2024: "Great, I adopted a cat named Miso yesterday!"'}


def test_an_update_replaces_the_evidence_and_keeps_the_users_own_metadata() -> None:
    mem = memory()
    mem.add([Add(text="Caroline lives in Boston.", metadata={"source": "crm", "evidence": "old line"})],
            namespace=NS)
    model = Model([["Caroline moved to Seattle."]], lambda old, new: False)
    result = run(mem, model, session(("Caroline", "I moved to Seattle last month.")), relate_cosine=-1.0)
    [op] = result.ops
    assert isinstance(op, Update)
    assert op.metadata == {"source": "crm", "evidence": 'Caroline said on 10 June 2024: "I moved to Seattle last '
                                                        'month."'}


def test_evidence_can_be_turned_off() -> None:
    result = run(memory(), Model([["Caroline adopted a cat named Miso."]]),
                 session(("Caroline", "I adopted a cat named Miso.")), evidence=False)
    assert result.ops[0].metadata == {}


def test_a_long_line_is_cut_at_a_word_and_an_undated_one_has_no_date() -> None:
    line = Message("Ana", "word " * 200)
    text = evidence(line, None)
    assert text.startswith('Ana said: "word') and text.endswith(' …"')
    assert len(text) <= MAX_EVIDENCE_CHARS + len('Ana said: "') + 3
    assert evidence(None, DATE) == ""


def test_the_answerer_reads_each_memory_with_its_evidence() -> None:
    seen: list[str] = []

    def reply(messages: Sequence[Any]) -> str:
        seen.append(messages[-1]["content"])
        return "Miso"

    mem = memory()
    mem.agent = MemoryAgent(Model([["Caroline adopted a cat."]]).llm, embedder=EMB)
    mem.add([{"speaker": "Caroline", "text": "I adopted a cat named Miso."}], namespace=NS, session_date=DATE)
    mem.llm = ScriptedChatModel(default=reply)
    answer = mem.answer("What is the name of Caroline's cat?", namespace=NS)
    assert answer.text == "Miso"
    assert '- [2024-06-10] Caroline adopted a cat.\n  Caroline said on 10 June 2024: "I adopted a cat named Miso."' \
        in seen[0]
    [entry] = answer.memories
    assert memory_context(entry) == ("2024-06-10", entry.text + "\n" + entry.evidence)


def test_a_memory_without_evidence_is_shown_as_before() -> None:
    mem = memory("Caroline works as a nurse.")
    [entry] = mem.get_all(namespace=NS)
    assert entry.evidence == "" and memory_context(entry)[1] == "Caroline works as a nurse."
    mem.add([Add(text="Caroline has a dog.", metadata={"evidence": 42})], namespace=NS)  # not a string: ignored
    assert all(e.evidence == "" for e in mem.get_all(namespace=NS))


@pytest.mark.parametrize(("old", "new", "same"), [
    ("Aisha lives in Lagos.", "Aisha settled in London after the move.", True),
    ("Ken works as an engineer at Google.", "Ken quit Google in July.", True),
    ("Elena is dating Pablo.", "Elena and Pablo broke up.", True),
    ("Bea is vegetarian.", "Bea has been diagnosed with diabetes.", True),
    ("Aisha lives in Lagos.", "Aisha has a cat named Biscuit.", False),
    ("Ken plays chess.", "Ken ran a marathon.", False),
    ("Mel works on pottery.", "Mel is working on a painting.", False),  # "work" as in a job only
])
def test_same_slot(old: str, new: str, same: bool) -> None:
    assert same_slot(new, old) is same


def test_a_change_of_a_lasting_attribute_is_judged_however_it_is_worded() -> None:
    mem = memory("Aisha works as a nurse.", "Aisha has a cat named Biscuit.")
    model = Model([["Aisha got hired as a teacher at a school."]], lambda old, new: "nurse" not in old)
    # A relate threshold no pair reaches: only the same-attribute rule can bring the nurse memory to the judge.
    result = run(mem, model, session(("Aisha", "Guess what, I got hired as a teacher at a school!")),
                 relate_cosine=2.0, slot_cosine=-1.0)
    judged = [user for kind, user in model.calls if kind == "judge"]
    assert len(judged) == 1 and "Old: Aisha works as a nurse." in judged[0]
    [op] = result.ops
    nurse = next(e.id for e in mem.get_all(namespace=NS) if "nurse" in e.text)
    assert isinstance(op, Update) and op.id == nurse and "teacher" in op.text


@pytest.mark.parametrize("fact", [
    "Omar is well.", "Omar is doing fine today.", "Nina feels a bit tired.", "Omar says hi to the assistant.",
    "Nina will talk to Omar soon.", "Nina will keep Omar posted.", "Omar's bowl looks so fancy.",
    "Nina's painting is gorgeous!", "Omar is welcome to London!", "Nina welcomed Omar back.",
])
def test_greetings_and_passing_states_are_not_facts(fact: str) -> None:
    out = screen(Facts((fact,)), ["Omar", "Nina", "Assistant"])
    assert out.facts == () and len(out.dropped) == 1


@pytest.mark.parametrize("fact", [
    "Melanie carves out some me-time each day by running.", "Grace is tired of her job at the pharmacy.",
    "Caroline is a well known painter.", "Nina is happy with her new flat in Oslo.",
    "Nina's painting of a lake is gorgeous.", "Nina moved to London in May.",
])
def test_lasting_facts_pass_the_screen(fact: str) -> None:
    assert screen(Facts((fact,)), ["Melanie", "Grace", "Caroline", "Nina"]).facts == (fact,)



def test_a_reply_that_copies_the_conversation_is_asked_again_per_person() -> None:
    lines = (("Caroline", "I adopted a cat named Miso."), ("Melanie", "Nice! I painted a lake."),
             ("Caroline", "Thanks, she is three."))
    copies = [f"{who}: {text}" for who, text in lines]
    model = Model([copies, ["Caroline adopted a cat named Miso."], ["Melanie painted a lake."]])
    result = run(memory(), model, session(*lines))
    assert [k for k, _ in model.calls] == ["extract"] * 3
    assert "Write the facts about Caroline." in model.calls[1][1] and "about Melanie." in model.calls[2][1]
    assert sorted(op.text for op in result.ops) == ["Caroline adopted a cat named Miso.", "Melanie painted a lake."]
    assert sum("a line of the conversation" in r.reason for r in result.rejected) == 3
    assert [t.detail for t in result.turns][1:] == ["messages 0-2, about Caroline, again per person",
                                                    "messages 0-2, about Melanie, again per person"]


def test_a_reply_with_one_copied_line_is_not_asked_again() -> None:
    model = Model([["Caroline: I adopted a cat named Miso.", "Caroline adopted a cat named Miso."]])
    run(memory(), model, session(("Caroline", "I adopted a cat named Miso.")))
    assert len(model.calls) == 1


@pytest.mark.parametrize(("fact", "memory_text", "ended"), [
    ("Elena is not seeing Pablo anymore.", "Elena is dating a man named Pablo.", True),
    ("Ken left Google in July.", "Ken works as an engineer at Google.", True),
    ("Aisha settled in London after the move.", "Aisha lives in Lagos.", True),
    ("Aisha moved to a bigger flat in Lagos.", "Aisha lives in Lagos.", False),  # same city: not an end
    ("Mel stopped by the pottery studio.", "Mel took a pottery class.", False),  # "stopped by" ends nothing
    ("Sam quit his job.", "Sam has a dog named Max.", False),  # nothing in common
    ("Ravi got promoted to senior accountant.", "Ravi is a junior accountant.", True),
    ("Ravi is hoping for a promotion.", "Ravi is a junior accountant.", False),
])
def test_ends(fact: str, memory_text: str, ended: bool) -> None:
    assert ends(fact, memory_text, ["Elena", "Ken", "Aisha", "Mel", "Sam", "Ravi"]) is ended


def test_an_ending_fact_replaces_its_memory_without_a_judgement() -> None:
    mem = memory("Ken works as an engineer at Google.", "Ken is married to Yuki.")
    model = Model([["Ken left Google in July."]], lambda old, new: True)  # a judge that sees no change
    result = run(mem, model, session(("Ken", "I left Google in July.")), relate_cosine=-1.0)
    assert [k for k, _ in model.calls] == ["extract"]
    google = next(e.id for e in mem.get_all(namespace=NS) if "Google" in e.text)
    assert [(type(op), op.id) for op in result.ops] == [(Update, google)]
    assert result.facts[0].note == "the fact ends or moves it (no model call)"
