"""Expected-fact checks: phrase matching, answer checks, memory checks, removals, and the sample file's data."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from deltamem.agent.session import load_sessions
from deltamem.core import CorruptDataError, Delete, MemoryState, Update, apply
from deltamem.core.model import MemoryEntry
from deltamem.eval import expected_facts
from deltamem.eval.expected_facts import (
    MemoryCheck,
    QuestionCheck,
    check_answer,
    check_memories,
    load_expectations,
    memory_line,
    mentions,
    parse_expectations,
    removals,
)

T0 = datetime(2024, 1, 15, 10, tzinfo=UTC)


def test_docstring_examples() -> None:
    assert doctest.testmod(expected_facts).failed == 0


@pytest.mark.parametrize(("text", "phrase", "hit"), [
    ("Seattle.", "seattle", True),
    ("She works at Seattle Children\u2019s Hospital", "Seattle Children's", True),  # typographic apostrophe
    ("since   2016", "since 2016", True),  # runs of white space
    ("No, not anymore.", "no", True),
    ("She has one now.", "no", False),  # word boundary: "no" is not "now"
    ("Rex was named after a dog", "no", False),
    ("a 3-year-old cat", "3", True),
    ("on 2024-03-11", "3", False),  # "3" is not inside "03"
    ("[2024-06-09] Rex died.", "2024-06-09", True),
    ("June 9th, 2024", "June 9", False),  # "June 9" is not "June 9th" ...
    ("June 9th, 2024", "June 9th", True),  # ... so the data lists both
    ("late February", "Feb", False),
])
def test_mentions(text: str, phrase: str, hit: bool) -> None:
    assert mentions(text, phrase) is hit


def test_an_empty_phrase_is_refused() -> None:
    with pytest.raises(ValueError, match="empty phrase"):
        mentions("anything", "  ")


DOG = QuestionCheck("Does Caroline have a dog now?", "no: Rex died",
                    expect_any=("no", "not", "died"), expect_none=("yes", "don't know"))


@pytest.mark.parametrize(("answer", "passed", "detail"), [
    ("No, her dog Rex died.", True, "no, died"),
    ("She does not.", True, "not"),
    ("Yes, a beagle named Rex.", False, "says yes"),
    ("Caroline has a dog named Rex.", False, "mentions none of: no, not, died"),
    ("I don't know.", False, "says don't know"),  # an abstention is not a "no"
    ("Yes, but he died.", False, "says yes"),  # expect_none wins
])
def test_check_answer(answer: str, passed: bool, detail: str) -> None:
    res = check_answer(DOG, answer)
    assert (res.passed, res.detail) == (passed, detail)


MEMORIES = ["[2024-03-04] Caroline moved to Seattle in March 2024.",
            "[2024-01-15] Caroline works as a nurse at Boston Children's Hospital.",
            "[2024-03-04] Caroline signed up for a pottery class.",
            "[2024-09-02] Caroline quit her pottery class in August 2024."]


def test_some_memory_needs_every_group_in_one_memory() -> None:
    move = MemoryCheck("the move is dated February", "some", (("Seattle",), ("February", "Feb")))
    assert check_memories(move, MEMORIES).passed is False
    assert check_memories(move, [*MEMORIES, "[2024-02-26] Caroline moved to Seattle."]).passed is False
    assert check_memories(move, [*MEMORIES, "[2024-03-04] Caroline moved to Seattle in Feb 2024."]).detail == \
        "[2024-03-04] Caroline moved to Seattle in Feb 2024."
    # The date of a memory counts: memory_line puts it in front of the text.
    dated = MemoryCheck("Rex died on 2024-06-09", "some", (("Rex",), ("died",), ("2024-06-09",)))
    entry = MemoryEntry(id="a", namespace="c", text="Rex died.", timestamp=datetime(2024, 6, 9, tzinfo=UTC),
                        created_at=T0, updated_at=T0)
    assert memory_line(entry) == "[2024-06-09] Rex died."
    assert check_memories(dated, [memory_line(entry)]).passed


def test_no_memory_names_the_offenders_and_honours_unless() -> None:
    pottery = MemoryCheck("she does not still do pottery", "none", (("pottery",),), unless=("quit", "no longer"))
    res = check_memories(pottery, MEMORIES)
    assert (res.passed, res.detail) == (False, "[2024-03-04] Caroline signed up for a pottery class.")
    assert check_memories(pottery, [MEMORIES[0], MEMORIES[3]]).passed
    assert check_memories(pottery, []).passed
    boston = MemoryCheck("not in Boston now", "none", (("Boston",),), unless=("moved",))
    assert not check_memories(boston, MEMORIES).passed
    assert check_memories(boston, ["Caroline moved from Boston to Seattle."]).passed


def _entry(mid: str, text: str) -> MemoryEntry:
    return MemoryEntry(id=mid, namespace="c", text=text, timestamp=T0, created_at=T0, updated_at=T0)


def test_removals_lists_deletions_and_rewrites_with_their_change_set() -> None:
    state = MemoryState.of("c", [_entry("a", "Caroline started working as a nurse in 2016."),
                                 _entry("b", "Caroline moved to Seattle in February 2024."),
                                 _entry("c", "Caroline has a cat.")])
    first = apply(state, [Delete(id="a"), Update(id="b", text="Caroline moved to Seattle in March 2024.")],
                  session_id="s2")
    second = apply(first.state, [Update(id="c", text="Caroline has a cat.")], session_id="s3")  # same text
    got = removals([first, second])
    assert [(r.kind, r.memory_id, r.before, r.after, r.change_set_id, r.session_id) for r in got] == [
        ("DELETE", "a", "Caroline started working as a nurse in 2016.", None, first.id, "s2"),
        ("UPDATE", "b", "Caroline moved to Seattle in February 2024.", "Caroline moved to Seattle in March 2024.",
         first.id, "s2"),
    ]


@pytest.mark.parametrize(("data", "message"), [
    ({"questions": "nope"}, "must be lists"),
    ({"questions": [{"expected": "x"}]}, r"questions\[0\]: expected an object with a 'question'"),
    ({"questions": [{"question": "q", "expect_any": []}]}, "needs at least one phrase"),
    ({"questions": [{"question": "q", "expect_any": ["a", ""]}]}, "non-empty strings"),
    ({"memory_checks": [{"check": "c"}]}, "exactly one of"),
    ({"memory_checks": [{"check": "c", "some_memory": [["a"]], "no_memory": [["b"]]}]}, "exactly one of"),
    ({"memory_checks": [{"check": "c", "some_memory": [[]]}]}, "every group"),
    ({"memory_checks": [{"check": "c", "no_memory": ["a"]}]}, "non-empty strings"),
])
def test_malformed_expectations_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        parse_expectations(data)


def test_load_expectations_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sessions": [], "questions": [{"question": "q"}]}))
    with pytest.raises(CorruptDataError, match=r"bad\.json: questions"):
        load_expectations(bad)
    bad.write_text("{")
    with pytest.raises(CorruptDataError, match="not valid JSON"):
        load_expectations(bad)


def test_the_sample_is_loadable_and_covers_every_changed_fact() -> None:
    with resources.as_file(resources.files("deltamem.samples").joinpath("caroline.json")) as path:
        assert len(load_sessions(path)) == 4
        exp = load_expectations(path)
    asked = " ".join(q.question for q in exp.questions)
    for topic in ("live", "move", "job", "nurse", "work", "dog", "Rex die", "pet", "Miso", "pottery"):
        assert all(word in asked for word in topic.split()), topic
    assert all(q.expected for q in exp.questions)
    assert {c.want for c in exp.memory_checks} == {"some", "none"}
