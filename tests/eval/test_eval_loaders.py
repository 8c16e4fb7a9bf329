"""Loaders on hand-written fixtures in each benchmark's exact schema (tiny invented content)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from deltamem.agent.session import load_sessions
from deltamem.core.errors import ConfigError, CorruptDataError
from deltamem.datasets import (
    load_halumem,
    load_halumem_conversations,
    load_locomo,
    load_locomo_conversations,
    load_longmemeval,
    load_longmemeval_conversations,
    load_personamem_contexts,
    load_personamem_questions,
    personamem_conversations,
)
from deltamem.datasets.halumem import normalise_memory_type

FIX = Path(__file__).parent / "fixtures"


def test_locomo_sessions_skip_orphan_dates_and_parse_dates() -> None:
    conv = load_locomo(FIX / "locomo_mini.json")[0]
    # session_3/4 have dates but no turns: they must not appear.
    assert [s.number for s in conv.sessions] == [1, 2]
    assert conv.sessions[0].date == datetime(2023, 5, 8, 13, 56)
    assert conv.sessions[1].date == datetime(2023, 6, 21, 10, 5)
    photo = conv.sessions[0].turns[1]
    assert photo.blip_caption == "a photo of a blue bowl"
    assert photo.img_urls == ("https://example.invalid/bowl.jpg",)
    assert photo.text == "Look at this bowl from my class!"


def test_locomo_qa_quirks() -> None:
    qa = load_locomo(FIX / "locomo_mini.json")[0].qa
    assert qa[2].answer == "2021"  # int answer cast to str
    assert qa[1].evidence == ("D1:2", "D2:1")  # "D1:2; D2:1" split, bare "D" dropped
    assert qa[1].raw_evidence == ("D1:2; D2:1", "D")
    assert qa[2].evidence == ("D2:1",)  # "D:2:1" is malformed -> dropped
    assert qa[3].evidence == ()
    assert qa[4].answer is None and qa[4].adversarial_answer == "it was boring"
    assert qa[5].answer == "Not mentioned" and qa[5].category == 5
    assert [q.category_name for q in qa] == ["temporal", "multi-hop", "single-hop", "open-domain", "adversarial",
                                            "adversarial"]


def test_locomo_side_material_typed() -> None:
    conv = load_locomo(FIX / "locomo_mini.json")[0]
    ben = next(o for o in conv.observations[1] if o.speaker == "Ben")
    assert ben.dia_ids == ("D1:2", "D1:1")  # the list-of-ids form
    assert conv.session_summaries == {1: "Ada and Ben catch up.", 2: "Ben mentions his move."}


def test_locomo_normalised_view() -> None:
    convs = load_locomo_conversations(FIX / "locomo_mini.json")
    c = convs[0]
    assert c.id == "conv-x1" and c.speakers == ("Ada", "Ben")
    assert [s.id for s in c.sessions] == ["session_1", "session_2"]
    m = c.sessions[0].messages[1]
    assert (m.speaker, c.sessions[0].messages.index(m), m.id) == ("Ben", 1, "D1:2")
    q = c.questions[1]
    assert q.id == "conv-x1:1" and q.category == "1"
    assert q.evidence_session_ids == ("session_1", "session_2")
    assert [q.scored for q in c.questions] == [True, True, True, True, False, False]
    assert c.questions[4].answer == ""
    assert len(convs[1].questions) == 1


def test_halumem_user() -> None:
    (user,) = load_halumem(FIX / "halumem_mini.jsonl")
    assert user.user_name == "Nora Quill"
    assert len(user.sessions) == 3
    s1, s2, s3 = user.sessions
    assert s1.start_time == datetime(2025, 9, 4, 10, 44, 31)
    assert [p.is_update for p in s2.memory_points] == [True, False]
    assert s2.memory_points[0].original_memories == ("Nora Quill works as a librarian",)
    assert [p.is_interference for p in s1.memory_points] == [False, False, True]
    assert s1.memory_points[0].importance == 0.75
    assert s1.questions[0].evidence[0].memory_type == "Persona Memory"  # brackets stripped
    assert s2.questions[0].evidence[0].memory_type == "Event Memory"  # "[date][type]" form
    assert s3.questions == ()
    assert s1.dialogue[1].role == "assistant" and s1.dialogue[1].dialogue_turn == 0


def test_halumem_normalised_view_asks_after_each_session() -> None:
    (c,) = load_halumem_conversations(FIX / "halumem_mini.jsonl")
    assert [q.after_session_id for q in c.questions] == ["session_1", "session_1", "session_2"]
    assert c.questions[1].is_abstention and c.questions[1].category == "Memory Boundary"
    # the evidence of the last question lives in session 2 (both points)
    assert c.questions[2].evidence_session_ids == ("session_2",)
    assert c.questions[0].evidence_session_ids == ("session_1",)
    assert c.sessions[0].messages[0].role == "user"


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("[Persona Memory]", "Persona Memory"),
        ("[2025-10-01][Event Memory]", "Event Memory"),
        ("Event Memory", "Event Memory"),
    ],
)
def test_normalise_memory_type(raw: str, want: str) -> None:
    assert normalise_memory_type(raw) == want


def test_personamem_questions() -> None:
    qs = load_personamem_questions(FIX / "personamem_questions_mini.csv")
    assert [q.correct for q in qs] == ["b", "d", "a"]
    assert qs[0].options[2] == "(c) I'm sure you'll love the cooking contest."  # double-quoted literal item
    assert len(qs[0].options) == 4 and qs[0].end_index == 3 and qs[0].persona_id == 1
    assert qs[0].prompt().startswith("I started another reading challenge.\n\nFind the most appropriate")
    assert qs[0].prompt().endswith(qs[0].options_text)


def test_personamem_with_contexts() -> None:
    qs = load_personamem_questions(FIX / "personamem_questions_mini.csv")
    ctx = load_personamem_contexts(FIX / "personamem_contexts_mini.jsonl")
    convs = personamem_conversations(qs, ctx)
    assert [c.id for c in convs] == ["c1" * 32, "d2" * 32]
    assert [q.context_end for q in convs[0].questions] == [3, 5]
    assert convs[0].sessions[0].messages[0].role == "system"
    assert convs[1].questions[0].answer == "a"
    only = load_personamem_contexts(FIX / "personamem_contexts_mini.jsonl", only=["d2" * 32])
    assert list(only) == ["d2" * 32]


def test_personamem_missing_or_short_context() -> None:
    qs = load_personamem_questions(FIX / "personamem_questions_mini.csv")
    ctx = load_personamem_contexts(FIX / "personamem_contexts_mini.jsonl")
    with pytest.raises(CorruptDataError, match="q-0003"):
        personamem_conversations(qs, {"c1" * 32: ctx["c1" * 32]})
    with pytest.raises(CorruptDataError, match="end_index 5 beyond"):
        personamem_conversations(qs, {"c1" * 32: ctx["c1" * 32][:4], "d2" * 32: ctx["d2" * 32]})
    with pytest.raises(ConfigError):
        personamem_conversations(qs, {})


def test_longmemeval_sorts_sessions_and_flags_abstention() -> None:
    a, b = load_longmemeval(FIX / "longmemeval_mini.json")
    assert [s.session_id for s in a.sessions] == ["answer_s1", "s_noise", "answer_s2"]
    assert a.sessions[0].turns[0].has_answer and not a.sessions[0].turns[1].has_answer
    assert a.question_date == datetime(2023, 5, 30, 23, 40)
    assert not a.is_abstention and b.is_abstention
    convs = load_longmemeval_conversations(FIX / "longmemeval_mini.json")
    q = convs[1].questions[0]
    assert q.is_abstention and q.category == "single-session-user" and q.asked_at == datetime(2023, 6, 1, 12)
    assert convs[0].questions[0].evidence_session_ids == ("answer_s1", "answer_s2")


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_locomo(tmp_path / "absent.json")


def test_add_reads_a_locomo_file_with_the_benchmark_parser() -> None:
    # One parser: `deltamem add locomo.json` sees the sessions the harness sees, plus the shared photo's caption.
    bench = load_locomo_conversations(FIX / "locomo_mini.json")[0].sessions
    user = load_sessions(FIX / "locomo_mini.json")
    assert [(s.id, s.date) for s in user] == [(s.id, s.date) for s in bench]
    assert [[m.id for m in s.messages] for s in user] == [[m.id for m in s.messages] for s in bench]
    photo = user[0].messages[1]
    assert photo.text == "Look at this bowl from my class! [shares a photo: a photo of a blue bowl]"
    assert bench[0].messages[1].text == "Look at this bowl from my class!"  # the harness keeps the benchmark's text
