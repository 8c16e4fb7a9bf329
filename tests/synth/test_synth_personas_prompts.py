from __future__ import annotations

import re
from pathlib import Path

import pytest

from deltamem.core.errors import ConfigError, CorruptDataError
from deltamem.synth.personas import load_personas, sample_personas
from deltamem.synth.prompting import dialogue_messages, ops_messages, profile_messages, timeline_messages
from deltamem.synth.records import day, state_from_rows
from deltamem.synth.validate import check_event_ops


def test_packaged_personas_are_many_and_varied() -> None:
    personas = load_personas()
    assert len(personas) >= 50
    assert len({p.id for p in personas}) == len(personas)
    countries = {p.location.rsplit(",", 1)[-1].strip() for p in personas}
    assert len(countries) >= 30
    ages = [p.age for p in personas]
    assert min(ages) < 20 and max(ages) > 75
    assert sum(a < 30 for a in ages) >= 10 and sum(a >= 60 for a in ages) >= 10
    assert len({p.occupation for p in personas}) == len(personas)
    assert all(p.traits and p.interests and p.family for p in personas)


def test_sampling_is_seeded_and_bounded() -> None:
    personas = load_personas()
    assert sample_personas(personas, 5, seed=1) == sample_personas(personas, 5, seed=1)
    assert sample_personas(personas, 5, seed=1) != sample_personas(personas, 5, seed=2)
    with pytest.raises(ConfigError, match="at most"):
        sample_personas(personas, len(personas) + 1, seed=0)


def test_a_bad_personas_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "x", "name": "A B", "age": 3, "occupation": "o", "location": "l"}\n{"id": "y"}\n')
    with pytest.raises(CorruptDataError, match="'y'"):
        load_personas(path)


def test_prompts_are_filled_short_and_show_a_json_example() -> None:
    persona = load_personas()[0]
    state = state_from_rows([{"id": f"m{i}", "text": f"{persona.first_name} fact number {i} is here.",
                              "timestamp": "2024-01-01", "keywords": []} for i in range(1, 11)])
    labelled, _ = check_event_ops({"ops": [{"op": "UPDATE", "id": "m2", "text": "Amara moved to Abuja.",
                                            "keywords": ["Abuja"]}]}, state, next_id=11, when=day("2024-02-01"),
                                  origin={})
    built = [
        profile_messages(persona, start="2024-01-01", n_min=6, n_max=10),
        timeline_messages(persona, profile="A profile.", state=state, start="2024-01-01",
                          dates=["2024-02-01", "2024-03-01"]),
        ops_messages(persona, state=state, date="2024-02-01", event="Amara moves to Abuja."),
        dialogue_messages(persona, state=state, ops=labelled, date="2024-02-01", event="Amara moves to Abuja.",
                          min_turns=4, max_turns=10),
    ]
    for messages in built:
        text = "\n".join(m["content"] for m in messages)
        assert "$" not in text  # every placeholder filled
        assert re.search(r"^\{\".+\}$", messages[-1]["content"], re.M)  # a one-line JSON example
        assert len(text) < 2600  # ~650 tokens: leaves room for the reply in a small context
    assert "m2 [2024-01-01] Amara fact number 2 is here." in built[2][1]["content"]
    assert "- changed: Amara fact number 2 is here. -> now: Amara moved to Abuja." in built[3][1]["content"]
    assert "Abuja" in built[3][1]["content"].split("must use these words:")[1]
