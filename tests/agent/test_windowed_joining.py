"""Facts of one line joined into one memory, and an ending that reaches every memory still speaking of what it
ended."""

from __future__ import annotations

import pytest
from tests.agent.helpers_windowed import NS, Model, memory, run, session

from deltamem.agent.decide import centred, ongoing
from deltamem.agent.extract import Facts, join, opens_with, screen
from deltamem.core import Add, Delete, Update


def test_facts_of_one_line_about_one_person_become_one_memory() -> None:
    model = Model([["Hana ran the Tokyo marathon.", "Hana finished in four hours."]])
    result = run(memory(), model, session(("Hana", "I ran the Tokyo marathon! Finished in four hours.")))
    assert [op.text for op in result.ops if isinstance(op, Add)] == [
        "Hana ran the Tokyo marathon and finished in four hours."]
    assert result.facts[1].note == "joined to m1, a fact of its line"


def test_facts_of_different_lines_or_people_stay_apart() -> None:
    model = Model([["Tomas joined a climbing gym.", "Tomas goes every Saturday.", "Max got a bath."]])
    sess = session(("Tomas", "I joined a climbing gym."), ("Assistant", "How often?"),
                   ("Tomas", "I go every Saturday. Max got a bath too."))
    texts = sorted(op.text for op in run(memory(), model, sess).ops if isinstance(op, Add))
    assert texts == ["Max got a bath.", "Tomas goes every Saturday.", "Tomas joined a climbing gym."]


def test_a_repeated_fact_is_not_joined_into_a_new_one() -> None:
    # The repeat is a no-op on its own; joined, it would be stored a second time inside the new fact.
    mem = memory("Sam has a golden retriever named Max.")
    model = Model([["Sam has a golden retriever named Max.", "Sam walks Max at dawn."]])
    result = run(mem, model, session(("Sam", "My golden retriever Max and I walk at dawn.")))
    assert [op.text for op in result.ops if isinstance(op, Add)] == ["Sam walks Max at dawn."]


def test_a_fact_inside_another_of_its_line_is_left_out_of_the_join() -> None:
    model = Model([["Ana is a nurse.", "Ana is a nurse in Lyon.", "Ana likes night shifts."]])
    result = run(memory(), model, session(("Ana", "I'm a nurse in Lyon and I like night shifts.")))
    assert [op.text for op in result.ops] == ["Ana is a nurse in Lyon and likes night shifts."]


def test_join_reads_as_one_sentence_and_stops_at_its_limits() -> None:
    assert join(["Ken left Google.", "Ken is an engineer at a startup.", "Ken enjoys it a lot."], "Ken") == (
        "Ken left Google, is an engineer at a startup, and enjoys it a lot.")
    assert opens_with("Hana ran.", "Hana") and not opens_with("Hana's time was good.", "Hana")
    assert not opens_with("Caroline and Melanie have been married for 5 years.", "Caroline")
    likes = " ".join(f"apple{i}" for i in range(25))
    hates = " ".join(f"onion{i}" for i in range(25))
    model = Model([[f"Ana likes {likes}.", f"Ana hates {hates}."]])
    result = run(memory(), model, session(("Ana", f"I like {likes}, I hate {hates}.")))
    assert len(result.ops) == 2  # joined, they would pass the word limit


@pytest.mark.parametrize(("text", "present"), [
    ("Pottery helps Caroline cope.", True), ("Marco smokes after dinner.", True),
    ("Caroline made her first bowl.", False), ("Caroline signed up for a pottery class.", False),
    ("Caroline's pottery bowl.", False),
])
def test_ongoing(text: str, present: bool) -> None:
    assert ongoing(text) is present


@pytest.mark.parametrize(("memory_text", "about"), [
    ("Pottery helps Caroline cope.", True), ("Caroline's dog Rex loves the parks.", True),
    ("Caroline lives in Seattle with her dog Rex.", False), ("Caroline teaches a painting class.", False),
    ("Caroline has pottery as a hobby.", True), ("Caroline is a nurse.", False),
])
def test_centred(memory_text: str, about: bool) -> None:
    fact = "Caroline's dog Rex died, and Caroline quit pottery."
    assert centred(fact, memory_text, ["Caroline"]) is about


def test_a_death_leaves_the_memories_that_only_mention_the_dead() -> None:
    mem = memory("Rex is a five-year-old beagle.", "Caroline lives in Seattle with her dog Rex.",
                 "Caroline's dog Rex loves the parks.")
    model = Model([["Caroline's dog Rex died yesterday."]])
    result = run(mem, model, session(("Caroline", "Rex died yesterday.")), relate_cosine=-1.0,
                 also_end_cosine=-1.0)
    mem.apply(result.ops, namespace=NS)
    texts = [e.text for e in mem.get_all(namespace=NS)]
    assert "Caroline lives in Seattle with her dog Rex." in texts and len(texts) == 2


def test_an_ending_reaches_every_memory_still_about_what_it_ended() -> None:
    mem = memory("Caroline signed up for a pottery class.", "Pottery helps Caroline cope.",
                 "Caroline made her first pottery bowl.", "Caroline lives in Seattle.")
    model = Model([["Caroline quit the pottery class in August."]], lambda old, new: True)
    result = run(mem, model, session(("Caroline", "I quit the pottery class in August.")), relate_cosine=-1.0,
                 also_end_cosine=-1.0)
    kinds = {type(op): op for op in result.ops}
    assert set(kinds) == {Update, Delete}
    mem.apply(result.ops, namespace=NS)
    texts = sorted(e.text for e in mem.get_all(namespace=NS))
    # The present-tense memory goes; the past event and the unrelated memory stay.
    assert "Pottery helps Caroline cope." not in texts
    assert "Caroline made her first pottery bowl." in texts and "Caroline lives in Seattle." in texts
    assert any("quit the pottery class" in t for t in texts)
    assert [k for k, _ in model.calls] == ["extract"]


@pytest.mark.parametrize(("fact", "passing"), [
    ("Grace is tired from her long shift at the pharmacy.", True),
    ("Omar was exhausted after the flight to Lima.", True),
    ("Grace is tired of her job at the pharmacy.", False),  # an attitude, which lasts
    ("Omar is a tired old man's son.", False),
])
def test_a_bodily_state_is_passing_whatever_caused_it(fact: str, passing: bool) -> None:
    assert (screen(Facts((fact,)), ["Grace", "Omar"]).facts == ()) is passing
