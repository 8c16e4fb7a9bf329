"""Benchmarks are plug-ins behind one table: each plans from its file and returns the same verdict record, and a
benchmark added to the table is planned and judged without touching the harness."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from deltamem.core.errors import ConfigError
from deltamem.core.session import Message, Session
from deltamem.datasets.common import Conversation, Question
from deltamem.eval import benchmarks
from deltamem.eval.benchmarks.base import ConversationPlan, Defaults, ask_after_last
from deltamem.eval.judging import judge_answer
from deltamem.eval.plan import build_plan, resolve_data
from deltamem.llm.base import ChatModel
from deltamem.llm.scripted import ScriptedChatModel

FIX = Path(__file__).parent / "fixtures"
FILES = {"locomo": "locomo_mini.json", "halumem": "halumem_mini.jsonl", "personamem": "personamem_questions_mini.csv",
         "longmemeval": "longmemeval_mini.json"}
VERDICT = {"f1", "bleu1", "label", "correct", "valid", "reason", "judge_raw"}


def test_the_table_holds_the_four_benchmarks_and_refuses_others() -> None:
    assert list(benchmarks.BENCHMARKS) == ["locomo", "halumem", "personamem", "longmemeval"]
    with pytest.raises(ConfigError, match="unknown benchmark 'nope'; choose from locomo, halumem"):
        benchmarks.benchmark("nope")


@pytest.mark.parametrize("name", list(FILES))
def test_every_benchmark_plans_its_file_and_returns_one_verdict_shape(name: str) -> None:
    plans = build_plan(name, FIX / FILES[name])
    question = next(q for p in plans for q in p.questions)
    plugin = benchmarks.benchmark(name)
    reply = {"locomo": '{"label": "CORRECT"}', "halumem": "Correct", "longmemeval": "yes"}.get(name)
    judge = ScriptedChatModel([reply] if reply else [])
    verdict = judge_answer(name, judge if plugin.needs_judge else None, question, question.answer)
    assert set(verdict) == VERDICT
    assert isinstance(verdict["correct"], bool) and isinstance(verdict["valid"], bool)
    assert plugin.judges_sessions == (name == "halumem") == all(s.gold is not None for p in plans for s in p.steps)


class Echo(Defaults):
    """A made-up benchmark: one conversation of two sessions, one question, right when the answer repeats it."""

    name = "echo"
    files: tuple[str, ...] = ("echo.txt",)
    needs_judge = False

    def plans(self, path: Path, *, ids: Sequence[str] | None, sessions: int | None,
              chunk: int) -> list[ConversationPlan]:
        lines = path.read_text(encoding="utf-8").splitlines()
        conv = Conversation("echo-1", tuple(Session((Message("Ana", line),), None, f"s{i}")
                                            for i, line in enumerate(lines)),
                            (Question("echo-1:q", "What did Ana say last?", lines[-1], "echo"),), ("Ana",))
        return [ask_after_last(conv, conv.sessions[:sessions], list(conv.questions), {"echo-1:q": 2})]

    def judge(self, judge: ChatModel | None, question: Question, response: str, *, strict: bool) -> dict[str, Any]:
        ok = response.strip() == question.answer
        return {"label": "right" if ok else "wrong", "correct": ok, "valid": True, "reason": "", "judge_raw": None}



def test_a_benchmark_added_to_the_table_is_planned_and_judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setitem(benchmarks.BENCHMARKS, "echo", Echo())
    (tmp_path / "echo.txt").write_text("hello\ngoodbye\n", encoding="utf-8")
    assert resolve_data("echo", tmp_path) == tmp_path / "echo.txt"
    [plan] = build_plan("echo", tmp_path, sessions=2)
    assert [s.session.id for s in plan.steps] == ["s0", "s1"] and plan.steps[-1].questions[0].answer == "goodbye"
    [q] = plan.questions
    assert judge_answer("echo", None, q, "goodbye")["correct"] is True
    assert judge_answer("echo", None, q, "hello")["label"] == "wrong"
