"""Selection of sessions and questions per benchmark (what gets ingested, what gets asked when)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltamem.core.errors import ConfigError
from deltamem.eval.plan import build_plan, resolve_data

FIX = Path(__file__).parent / "fixtures"


def test_locomo_all_sessions_scored_categories_with_evidence() -> None:
    plans = build_plan("locomo", FIX / "locomo_mini.json")
    p = plans[0]
    assert [s.session.id for s in p.steps] == ["session_1", "session_2"]
    # questions 0, 1, 2 (categories 2, 1, 4); 3 has no evidence ids, 4 and 5 are category 5
    assert [q.id for q in p.questions] == ["conv-x1:0", "conv-x1:1", "conv-x1:2"]
    assert p.steps[0].questions == () and len(p.steps[1].questions) == 3  # all asked after the last session
    assert p.depth == {"conv-x1:0": 1, "conv-x1:1": 2, "conv-x1:2": 2}


def test_locomo_first_session_only_keeps_questions_answerable_from_it() -> None:
    p = build_plan("locomo", FIX / "locomo_mini.json", conversations=["conv-x1"], sessions=1)[0]
    assert [s.session.id for s in p.steps] == ["session_1"]
    assert [q.id for q in p.questions] == ["conv-x1:0"]


def test_question_cap_and_unknown_conversation() -> None:
    p = build_plan("locomo", FIX / "locomo_mini.json", conversations=["conv-x1"], questions=2)[0]
    assert [q.id for q in p.questions] == ["conv-x1:0", "conv-x1:1"]
    with pytest.raises(ConfigError, match="unknown conversation id"):
        build_plan("locomo", FIX / "locomo_mini.json", conversations=["conv-nope"])


def test_halumem_questions_follow_their_session() -> None:
    p = build_plan("halumem", FIX / "halumem_mini.jsonl")[0]
    assert [len(s.questions) for s in p.steps] == [2, 1, 0]
    assert all(s.gold is not None for s in p.steps)
    assert p.steps[1].gold is not None and p.steps[1].gold.memory_points[0].is_update
    assert sorted(p.depth.values()) == [1, 1, 2]
    p2 = build_plan("halumem", FIX / "halumem_mini.jsonl", sessions=1)[0]
    assert len(p2.steps) == 1 and len(p2.questions) == 2


def test_personamem_history_cut_at_question_end_indices() -> None:
    plans = build_plan("personamem", FIX / "personamem_questions_mini.csv")
    p = plans[0]
    assert [len(s.session.messages) for s in p.steps] == [3, 2]  # end indices 3 and 5
    assert [q.id for q in p.steps[0].questions] == ["q-0001"]
    assert [q.id for q in p.steps[1].questions] == ["q-0002"]
    small = build_plan("personamem", FIX / "personamem_questions_mini.csv", chunk=2)[0]
    assert [len(s.session.messages) for s in small.steps] == [2, 1, 2]


def test_longmemeval_one_conversation_per_question() -> None:
    plans = build_plan("longmemeval", FIX / "longmemeval_mini.json")
    assert [len(p.questions) for p in plans] == [1, 1]
    assert plans[0].steps[-1].questions[0].id == "q1aa"


def test_resolve_data_finds_known_names(tmp_path: Path) -> None:
    (tmp_path / "locomo").mkdir()
    target = tmp_path / "locomo" / "locomo_dev.json"
    target.write_text("[]", encoding="utf-8")
    assert resolve_data("locomo", tmp_path) == target
    with pytest.raises(ConfigError, match="no halumem file"):
        resolve_data("halumem", tmp_path)
