"""Model-free decisions of the windowed episode: a negation that only says a memory is no longer so retracts it
(DELETE, of the memory it is about and no other), a fact that says nothing a memory does not is a no-op, a fact
that says more than an earlier fact of the same session takes its place, and a fact that ends in a bare pronoun is
refused; a start at another workplace ends the old job, so does an opposite liking of the same thing, and a memory
a fact ends only in part keeps the rest."""

from __future__ import annotations

import pytest
from tests.agent.helpers_windowed import DATE, NS, Model, memory, run, session

from deltamem.agent.decide import clauses, ends, kept, retracts, subsumes
from deltamem.agent.extract import Facts, join, screen
from deltamem.core import Add, Delete, Update


def _id(mem, word: str) -> str:  # type: ignore[no-untyped-def]
    return next(e.id for e in mem.get_all(namespace=NS) if word in e.text)


def test_a_negation_retracts_the_memory_it_is_about() -> None:
    mem = memory("Elena is dating a man named Pablo.", "Elena studies medicine.")
    model = Model([["Elena is not seeing Pablo anymore."]], lambda old, new: True)
    result = run(mem, model, session(("Elena", "I'm not seeing Pablo anymore.")), relate_cosine=-1.0)
    assert [k for k, _ in model.calls] == ["extract"]  # no judgement: the rule decided
    assert result.ops == [Delete(id=_id(mem, "Pablo"))]
    assert result.facts[0].decision == "DELETE"
    mem.apply(result.ops, namespace=NS)
    assert [e.text for e in mem.get_all(namespace=NS)] == ["Elena studies medicine."]


def test_a_negation_of_part_of_a_memory_keeps_the_rest() -> None:
    mem = memory("Elena is dating Pablo and works at a bank.")
    model = Model([["Elena is not seeing Pablo anymore."]], lambda old, new: True)
    result = run(mem, model, session(("Elena", "I'm not seeing Pablo anymore.")), relate_cosine=-1.0)
    before = mem.get(_id(mem, "Pablo"), namespace=NS)
    [op] = result.ops
    assert isinstance(op, Update) and (op.id, op.text) == (before.id, "Elena works at a bank.")
    assert op.timestamp == before.timestamp != DATE  # what is left was said when the memory was, not in this session


def test_a_negation_about_someone_else_deletes_nothing() -> None:
    # "Pablo is a doctor" shares the word "Pablo" with the retraction but is not what Elena retracted.
    mem = memory("Pablo is a doctor.")
    model = Model([["Elena is not seeing Pablo anymore."]], lambda old, new: True)
    result = run(mem, model, session(("Elena", "I'm not seeing Pablo anymore.")), relate_cosine=-1.0)
    assert not any(isinstance(op, Delete) for op in result.ops)


@pytest.mark.parametrize(("fact", "memory_text", "retracted"), [
    ("Elena is not seeing Pablo anymore.", "Elena is dating Pablo.", True),
    ("Ana is no longer vegan.", "Ana is vegan.", True),
    ("Marco does not smoke anymore, he quit in May.", "Marco smokes.", False),  # an ending event: UPDATE
    ("Pablo is not seeing Elena anymore.", "Elena is dating Pablo.", False),  # another subject
    ("Ana is vegan.", "Ana eats meat.", False),  # no negation at all
])
def test_retracts(fact: str, memory_text: str, retracted: bool) -> None:
    assert retracts(fact, memory_text) is retracted


@pytest.mark.parametrize(("wider", "narrower", "inside"), [
    ("Priya got hired as a data analyst at a bank downtown.", "Priya is a data analyst.", True),
    ("Bea is allergic to peanuts.", "Bea is allergic to peanuts.", True),
    ("Priya is a data analyst.", "Priya got hired as a data analyst at a bank.", False),
    ("Tom's sister loves pizza.", "Tom loves pizza.", False),  # another subject
    ("Ana does not eat meat.", "Ana eats meat.", False),  # a negation turns the same words around
    ("Ana went camping in June 2023.", "Ana went camping in May 2024.", False),  # other details
])
def test_subsumes(wider: str, narrower: str, inside: bool) -> None:
    assert subsumes(wider, narrower) is inside


def test_a_fact_inside_a_memory_is_a_no_op_without_a_judgement() -> None:
    mem = memory("Priya got hired as a data analyst at a bank downtown.")
    model = Model([["Priya is a data analyst."]], lambda old, new: False)  # a judge that would replace it
    result = run(mem, model, session(("Priya", "Being a data analyst is fun.")), relate_cosine=-1.0)
    assert result.ops == [] and [k for k, _ in model.calls] == ["extract"]
    assert result.facts[0].note == "says nothing the memory does not (no model call)"


def test_a_fact_that_says_more_takes_the_place_of_an_earlier_fact_of_the_session() -> None:
    model = Model([["Hana ran a marathon.", "Hana ran a marathon in Tokyo in four hours."]])
    result = run(memory(), model, session(("Hana", "I ran a marathon in Tokyo in four hours!")), relate_cosine=-1.0)
    assert [(type(op), op.text) for op in result.ops] == [(Add, "Hana ran a marathon in Tokyo in four hours.")]


def test_a_stored_memory_is_never_widened_by_a_later_event() -> None:
    # Two camping trips are two memories: the second must not overwrite the first.
    mem = memory("Ana went camping with her kids.")
    model = Model([["Ana went camping with her kids at the lake."]], lambda old, new: True)
    result = run(mem, model, session(("Ana", "We went camping at the lake, the kids loved it.")), relate_cosine=-1.0)
    assert [type(op) for op in result.ops] == [Add]


@pytest.mark.parametrize(("fact", "refused"), [
    ("Bea's doctor confirmed it on 28 February 2024.", True),
    ("Jon loves them.", True),
    ("Melanie painted that last year.", True),
    ("Caroline thinks the painting of the lake is beautiful and loves it.", False),  # says what "it" is
    ("Caroline believes that kindness matters.", False),
])
def test_a_fact_ending_in_a_bare_pronoun_is_refused(fact: str, refused: bool) -> None:
    out = screen(Facts((fact,)), ["Bea", "Jon", "Melanie", "Caroline"])
    assert (out.facts == ()) is refused
    if refused:
        assert "pronoun" in out.dropped[0][1]


@pytest.mark.parametrize(("fact", "kept"), [
    ("Caroline has sad news: Rex died yesterday.", "Caroline shared that Rex died yesterday."),
    ("Ana has big news that she got the job.", "Ana shared that she got the job."),
    ("Ben shared some exciting news, Ben is moving to Oslo in May.", "Ben is moving to Oslo in May."),
    ("Caroline has sad news about Rex.", None),  # the announcement alone says nothing
])
def test_an_announcement_keeps_the_news_it_carries(fact: str, kept: str | None) -> None:
    out = screen(Facts((fact,)), ["Caroline", "Ana", "Ben"])
    assert out.facts == ((kept,) if kept else ())


def test_the_assistants_words_are_not_the_persons() -> None:
    lines = (("Caroline", "I have sad news. Rex died yesterday."),
             ("Assistant", "I'm so sorry, Caroline. Rex was lucky to have you, what a loss."))
    model = Model([["Caroline is sorry about the loss of Rex.", "Caroline's dog Rex died yesterday."]])
    result = run(memory(), model, session(*lines))
    assert [op.text for op in result.ops] == ["Caroline's dog Rex died on 9 June 2024."]
    assert [r.reason for r in result.rejected] == ["the assistant's words, which the person did not say or adopt"]


def test_the_assistants_words_are_kept_where_the_person_says_yes() -> None:
    lines = (("Assistant", "So you work at Seattle Children's Hospital now?"),
             ("Caroline", "Yes, since March."))
    model = Model([["Caroline works at Seattle Children's Hospital."]])
    result = run(memory(), model, session(*lines))
    assert [op.text for op in result.ops] == ["Caroline works at Seattle Children's Hospital."]


def test_a_value_only_the_assistant_said_is_not_the_persons() -> None:
    # The assistant restates the person's news with another value; the person's own version is kept.
    lines = (("Sharon", "My health went from 'Affected' to 'Improving', and I ran 5 km today."),
             ("Assistant", "From 'Affected' to 'Excellent'! And 10 km, wonderful."), ("Sharon", "Thanks!"))
    model = Model([["Sharon's health went from 'Affected' to 'Excellent'.",
                    "Sharon's health went from 'Affected' to 'Improving'.", "Sharon ran 10 km today.",
                    "Sharon ran 5 km today."]])
    result = run(memory(), model, session(*lines))
    assert sorted(op.text for op in result.ops) == ["Sharon ran 5 km on 10 June 2024.",
                                                     "Sharon's health went from 'Affected' to 'Improving'."]
    assert {r.op.text for r in result.rejected} >= {"Sharon's health went from 'Affected' to 'Excellent'.",
                                                    "Sharon ran 10 km today."}


@pytest.mark.parametrize(("text", "parts"), [
    ("Ana works at Lumen and has been a nurse for ten years.",
     ["Ana works at Lumen.", "Ana has been a nurse for ten years."]),
    ("Ana ran the Tokyo marathon, finished in four hours, and felt proud.",
     ["Ana ran the Tokyo marathon.", "Ana finished in four hours.", "Ana felt proud."]),
    ("Ana lives in Lyon with her dog Rex, a five-year-old beagle.", None),  # ", a": no verb, one clause
    ("Ana likes apples, pears and bananas.", None),
    ("Ana met Tom, Fred and Mildred Smith.", None),
    ("Tom and Ana married in May.", None),  # does not open with Ana alone
])
def test_clauses_undo_a_join(text: str, parts: list[str] | None) -> None:
    assert clauses(text, text.split()[0]) == (parts or [text])
    assert join(clauses(text, text.split()[0]), text.split()[0]) == text


@pytest.mark.parametrize(("fact", "memory_text", "ended"), [
    ("Ana starts at Vale Clinic next Monday.", "Ana works as a nurse at Lumen Hospital.", True),
    ("Ana started working for Acme in May.", "Ana has a job at Vale Clinic.", True),
    ("Ana starts at Lumen Hospital North next week.", "Ana works at Lumen Hospital.", False),  # the same place
    ("Ana starts at Vale Clinic next Monday.", "Ana volunteers at Lumen Hospital.", False),  # no job there
    ("Ana starts at noon on Mondays.", "Ana works as a nurse at Lumen Hospital.", False),  # no workplace named
])
def test_starting_at_another_workplace_ends_the_job(fact: str, memory_text: str, ended: bool) -> None:
    assert ends(fact, memory_text, ["Ana"]) is ended


@pytest.mark.parametrize(("fact", "memory_text", "ended"), [
    ("Ana has come to enjoy puzzle games.", "Ana doesn't like to play puzzle games, because they need patience.", True),
    ("Ana dislikes jazz now.", "Ana loves jazz.", True),
    ("Ana loves strategy board games.", "Ana doesn't like puzzle games.", False),  # another kind of game
    ("Ana loves Thai food.", "Ana hates spicy food.", False),  # both can be true
    ("Ana loves jazz.", "Ana listens to jazz every day.", False),  # no opposite liking
])
def test_an_opposite_liking_of_the_same_thing_ends_the_memory(fact: str, memory_text: str, ended: bool) -> None:
    assert ends(fact, memory_text, ["Ana"]) is ended


def test_a_new_job_replaces_only_the_part_of_a_memory_it_ends() -> None:
    mem = memory()
    mem.add([Add(text="Caroline works as a nurse at Boston Children's Hospital and has been a nurse for eight "
                      "years.", metadata={"evidence": "Caroline said on 15 January 2024: \"Eight years now.\""})],
            namespace=NS)
    model = Model([["Caroline starts at Seattle Children's Hospital next Monday."]], lambda old, new: True)
    result = run(mem, model, session(("Caroline", "I start at Seattle Children's Hospital next Monday.")))
    assert [k for k, _ in model.calls] == ["extract"]  # decided by the rule, not by the judge (who says "true")
    update, add = sorted(result.ops, key=lambda op: type(op).__name__, reverse=True)
    assert isinstance(update, Update) and update.text == "Caroline has been a nurse for eight years."
    assert update.metadata == {"evidence": "Caroline said on 15 January 2024: \"Eight years now.\""}  # its own source
    assert isinstance(add, Add) and add.text.startswith("Caroline starts at Seattle Children's Hospital")
    mem.apply(result.ops, namespace=NS)
    assert not any("Boston" in e.text for e in mem.get_all(namespace=NS))


def test_an_ending_rule_reaches_past_the_nearest_memory_the_judge_sees() -> None:
    # The judge sees only the nearest memory (max_candidates 1); the model-free endings look at the nearest two.
    mem = memory()
    mem.add(["Caroline visited Seattle Children's Hospital next to the park on Monday.",
             "Caroline works at Boston Children's Hospital."], namespace=NS)
    fact = "Caroline starts at Seattle Children's Hospital next Monday."
    nearest = [h.entry.text for h in mem.search(fact, namespace=NS, k=2)]
    assert nearest[1] == "Caroline works at Boston Children's Hospital."  # the job is the second-nearest
    model = Model([[fact]], lambda old, new: True)
    result = run(mem, model, session(("Caroline", "I start at Seattle Children's Hospital next Monday.")))
    assert [k for k, _ in model.calls] == ["extract"]  # the rule decided, no judgement
    mem.apply(result.ops, namespace=NS)
    assert not any("Boston" in e.text for e in mem.get_all(namespace=NS))


def test_a_memory_the_fact_ends_whole_is_replaced_whole() -> None:
    assert kept("Ana quit the pottery class.", "Ana signed up for a pottery class and made her first bowl.",
                ["Ana"]) == "Ana made her first bowl."
    assert kept("Ana quit the pottery class.", "Ana signed up for a pottery class.", ["Ana"]) == ""
    assert kept("Ana moved to Lyon.", "Ana lives in Paris with her dog Rex, a beagle.", ["Ana"]) == ""
    assert kept("Ana has come to enjoy puzzle games.", "Ana doesn't like puzzle games, because they need patience, "
                "and doesn't like VR games.", ["Ana"]) == "Ana doesn't like VR games."
