from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deltamem.synth.records import state_from_rows
from deltamem.synth.validate import Rejection, check_dialogue, check_event_ops

WHEN = datetime(2024, 5, 1, tzinfo=UTC)
STATE = state_from_rows([
    {"id": "m1", "text": "Ana works as a nurse in Porto.", "timestamp": "2024-01-01", "keywords": ["nurse"]},
    {"id": "m2", "text": "Ana has a dog named Bolo.", "timestamp": "2024-01-01", "keywords": ["Bolo"]},
    {"id": "m3", "text": "Ana plans to move to Braga.", "timestamp": "2024-03-01", "keywords": ["Braga"]},
])
ORIGIN = {"m1": None, "m2": None, "m3": 0}  # m3 was written by event 0


def _check(ops: list[dict[str, object]]) -> tuple[list, object]:
    return check_event_ops({"ops": ops}, STATE, next_id=4, when=WHEN, origin=ORIGIN)


def test_valid_ops_get_ids_evolution_kinds_and_apply() -> None:
    labelled, cs = _check([
        {"op": "UPDATE", "id": "m1", "text": "Ana works as head nurse in Braga.", "keywords": ["head nurse", "Braga"]},
        {"op": "DELETE", "id": "m3", "keywords": ["Braga"]},
        {"op": "ADD", "text": "Ana bought a Fiat Panda.", "keywords": ["Fiat Panda's"]},
        {"op": "NOOP"},
    ])
    assert [(lo.op.kind, getattr(lo.op, "id", None), lo.evolution) for lo in labelled] == [
        ("UPDATE", "m1", "intra"), ("DELETE", "m3", "inter"), ("ADD", "m4", "padding")]
    assert labelled[2].keywords == ("Fiat Panda",)
    assert sorted(cs.state) == ["m1", "m2", "m4"]  # type: ignore[attr-defined]
    assert cs.state["m1"].text == "Ana works as head nurse in Braga."  # type: ignore[attr-defined]


@pytest.mark.parametrize(("ops", "reason"), [
    ([{"op": "UPDATE", "id": "m9", "text": "Ana moved.", "keywords": ["moved"]}], "op_unknown_id"),
    ([{"op": "DELETE", "id": "m7", "keywords": ["x"]}], "op_unknown_id"),
    ([{"op": "ADD", "text": "Ana bought a car.", "keywords": ["bicycle"]}], "keyword_not_in_text"),
    ([{"op": "DELETE", "id": "m2", "keywords": ["cat"]}], "keyword_not_in_text"),
    ([{"op": "ADD", "text": "Ana bought a car."}], "op_missing_keywords"),
    ([{"op": "UPDATE", "id": "m2", "text": "ana has a dog named Bolo", "keywords": ["Bolo"]}], "op_unchanged"),
    ([{"op": "UPDATE", "id": "m2", "text": "Ana's dog Bolo died.", "keywords": ["Bolo"]},
      {"op": "DELETE", "id": "m2", "keywords": ["Bolo"]}], "op_invalid"),
    ([{"op": "NOOP"}], "no_ops"),
    ([{"op": "RENAME", "id": "m2"}], "shape"),
    ([], "shape"),
])
def test_bad_ops_are_rejected_with_a_reason(ops: list[dict[str, object]], reason: str) -> None:
    with pytest.raises(Rejection) as info:
        _check(ops)
    assert info.value.reason == reason


def test_unknown_id_message_lists_valid_ids_for_the_model() -> None:
    with pytest.raises(Rejection, match="m1, m2, m3"):
        _check([{"op": "UPDATE", "id": "m9", "text": "x y", "keywords": ["x"]}])


def _labelled() -> list:
    return _check([
        {"op": "UPDATE", "id": "m1", "text": "Ana works as head nurse in Braga.", "keywords": ["head nurse", "Braga"]},
        {"op": "DELETE", "id": "m2", "keywords": ["Bolo", "dog"]},
    ])[0]


def _turns(*texts: str) -> dict[str, object]:
    return {"turns": [{"speaker": "user" if i % 2 == 0 else "assistant", "text": t} for i, t in enumerate(texts)]}


def test_dialogue_passes_with_keywords_or_paraphrases() -> None:
    turns = check_dialogue(_turns("I start as head nurse in Braga!", "Congrats!", "Sadly our dogs ran off.", "Oh no."),
                           _labelled(), min_turns=4, max_turns=10)
    assert turns[0] == ("user", "I start as head nurse in Braga!")
    assert [s for s, _ in turns] == ["user", "assistant", "user", "assistant"]


def test_dialogue_missing_a_keyword_is_rejected_naming_it() -> None:
    with pytest.raises(Rejection, match="'Braga'") as info:
        check_dialogue(_turns("I start as head nurse soon!", "Congrats!", "Bolo is gone.", "Oh no."),
                       _labelled(), min_turns=4, max_turns=10)
    assert info.value.reason == "dialogue_missing_keywords"


def test_dialogue_partial_coverage_can_be_allowed() -> None:
    turns = check_dialogue(_turns("I start as head nurse soon!", "Congrats!", "Bolo is gone.", "Oh no."),
                           _labelled(), min_turns=4, max_turns=10, keyword_coverage=0.5)
    assert len(turns) == 4


@pytest.mark.parametrize(("data", "reason"), [
    (_turns("Braga head nurse Bolo", "ok"), "dialogue_length"),
    ({"turns": [{"speaker": "narrator", "text": "x"}] * 4}, "shape"),
    ({"turns": "hello"}, "shape"),
    ({"turns": [{"speaker": "assistant", "text": "Braga head nurse Bolo"}] * 4}, "dialogue_speakers"),
])
def test_dialogue_shape_problems(data: dict[str, object], reason: str) -> None:
    with pytest.raises(Rejection) as info:
        check_dialogue(data, _labelled(), min_turns=4, max_turns=10)
    assert info.value.reason == reason


def test_trimming_keeps_the_good_ops_and_counts_the_bad_ones() -> None:
    from collections import Counter

    trimmed: Counter[str] = Counter()
    labelled, cs = check_event_ops({"ops": [
        {"op": "UPDATE", "id": "m9", "text": "Ana moved.", "keywords": ["moved"]},           # unknown id
        {"op": "UPDATE", "id": "m2", "text": "ana has a dog named Bolo", "keywords": ["Bolo"]},  # unchanged
        {"op": "ADD", "text": "Ana bought a Fiat Panda.", "keywords": ["Fiat Panda", "bicycle"]},  # one bad label
        {"op": "DELETE", "id": "m3", "keywords": ["Braga"]},
        {"op": "UPDATE", "id": "m3", "text": "Ana moved to Braga.", "keywords": ["Braga"]},  # second op on m3
        {"op": "ADD", "text": "Ana likes tea.", "keywords": ["coffee"]},                     # no valid label left
    ]}, STATE, next_id=4, when=WHEN, origin=ORIGIN, trimmed=trimmed)
    assert [(lo.op.kind, getattr(lo.op, "id", None), lo.keywords) for lo in labelled] == [
        ("ADD", "m4", ("Fiat Panda",)), ("DELETE", "m3", ("Braga",))]
    assert labelled[0].op.keywords == ("Fiat Panda",)  # type: ignore[union-attr]
    assert trimmed == Counter({"op_unknown_id": 1, "op_unchanged": 1, "op_invalid": 1, "keyword_not_in_text": 1})
    assert sorted(cs.state) == ["m1", "m2", "m4"]  # type: ignore[attr-defined]


def test_trimming_cuts_extra_ops_and_rejects_when_nothing_valid_is_left() -> None:
    from collections import Counter

    trimmed: Counter[str] = Counter()
    ops = [{"op": "ADD", "text": f"Ana visited city number {i}.", "keywords": [f"number {i}"]} for i in range(5)]
    labelled, _ = check_event_ops({"ops": ops}, STATE, next_id=4, when=WHEN, origin=ORIGIN, max_ops=3,
                                  trimmed=trimmed)
    assert [lo.op.id for lo in labelled] == ["m4", "m5", "m6"]  # type: ignore[union-attr]
    assert trimmed == Counter({"too_many_ops": 2})
    with pytest.raises(Rejection) as info:
        check_event_ops({"ops": [{"op": "UPDATE", "id": "m9", "text": "x", "keywords": ["x"]}]}, STATE, next_id=4,
                        when=WHEN, origin=ORIGIN, trimmed=Counter())
    assert info.value.reason == "op_unknown_id"


def test_a_text_repeating_a_live_memory_or_another_op_is_a_duplicate() -> None:
    from collections import Counter

    with pytest.raises(Rejection) as info:
        _check([{"op": "ADD", "text": "Ana has a dog named Bolo!", "keywords": ["Bolo"]}])
    assert info.value.reason == "op_duplicate"
    assert "memory m2" in str(info.value)
    trimmed: Counter[str] = Counter()
    labelled, _ = check_event_ops({"ops": [
        {"op": "ADD", "text": "Ana took up rowing.", "keywords": ["rowing"]},
        {"op": "ADD", "text": "Ana took up rowing.", "keywords": ["rowing"]},
        {"op": "UPDATE", "id": "m3", "text": "Ana has a dog named Bolo.", "keywords": ["Bolo"]},
    ]}, STATE, next_id=4, when=WHEN, origin=ORIGIN, trimmed=trimmed)
    assert [lo.op.kind for lo in labelled] == ["ADD"]
    assert trimmed == Counter({"op_duplicate": 2})


def test_an_op_copying_the_prompts_example_is_refused() -> None:
    from collections import Counter

    from deltamem.synth.prompting import example_texts

    examples = example_texts("ops")
    assert "Ana bought a used Fiat Panda in March 2024." in examples
    trimmed: Counter[str] = Counter()
    labelled, _ = check_event_ops({"ops": [
        {"op": "ADD", "text": "Ana bought a used Fiat Panda in March 2024.", "keywords": ["Fiat Panda"]},
        {"op": "ADD", "text": "Ana took up rowing.", "keywords": ["rowing"]},
    ]}, STATE, next_id=4, when=WHEN, origin=ORIGIN, trimmed=trimmed, example_texts=examples)
    assert [lo.op.text for lo in labelled] == ["Ana took up rowing."]  # type: ignore[union-attr]
    assert trimmed == Counter({"op_copies_example": 1})
    with pytest.raises(Rejection) as info:
        check_event_ops({"ops": [{"op": "UPDATE", "id": "m1", "text": "Ana works as head nurse at a clinic in Braga.",
                                  "keywords": ["Braga"]}]}, STATE, next_id=4, when=WHEN, origin=ORIGIN,
                        example_texts=examples)
    assert info.value.reason == "op_copies_example"


def test_dialogue_copying_the_prompt_example_is_refused() -> None:
    from deltamem.synth.prompting import example_texts

    examples = example_texts("dialogue")
    assert any("head nurse in Braga" in t for t in examples)
    leaked = _turns("Hey! Quick one: I start as head nurse in Braga on Monday, any tips for the first week?",
                    "Congratulations! Here are a few tips...", "Also our dog Bolo ran off.", "Oh no.")
    with pytest.raises(Rejection) as info:
        check_dialogue(leaked, _labelled(), min_turns=4, max_turns=10, example_texts=examples)
    assert info.value.reason == "dialogue_copies_example"
    own = _turns("I start as head nurse in Braga next week!", "Congratulations! Here are a few tips...",
                 "Sadly our dogs ran off.", "Oh no.")  # the assistant may sound like the example; the user may not
    assert len(check_dialogue(own, _labelled(), min_turns=4, max_turns=10, example_texts=examples)) == 4
