"""Scoring one answer: the shared lexical metrics (token F1, BLEU-1) and the benchmark's own verdict.

Every function returns plain JSON-ready dicts, which the runner checkpoints as they are; aggregation happens in
:mod:`deltamem.eval.report` from those records. The per-benchmark judging lives in :mod:`deltamem.eval.benchmarks`.
"""

from __future__ import annotations

from typing import Any

from deltamem.datasets.common import Question
from deltamem.eval.benchmarks import benchmark
from deltamem.eval.metrics.text import bleu1, token_f1
from deltamem.llm.base import ChatModel

__all__ = ["judge_answer"]


def judge_answer(bench: str, judge: ChatModel | None, question: Question, response: str, *,
                 strict: bool = True) -> dict[str, Any]:
    """``{f1, bleu1, label, correct, valid, reason, judge_raw}`` for one answer.

    ``correct`` is the benchmark's headline per-question score: LoCoMo J (CORRECT), HaluMem QA "Correct",
    PersonaMem exact option letter, LongMemEval judge "yes". An invalid judgement has ``valid`` False and counts as
    not correct. F1 / BLEU-1 (mem0-lineage) are computed for every benchmark; they are only meaningful for LoCoMo.
    """
    plugin = benchmark(bench)
    return {"f1": token_f1(response, question.answer), "bleu1": bleu1(response, question.answer),
            **plugin.judge(judge, question, response, strict=strict)}
