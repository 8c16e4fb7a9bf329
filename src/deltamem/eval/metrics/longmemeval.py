"""LongMemEval scoring: a yes/no LLM judge per question, accuracy per type, task-averaged, overall, abstention.

The prompt depends on the question type, and on abstention (``question_id`` ending in ``_abs``) whatever the type;
the item is correct when the judge's reply contains "yes" (case-insensitive), as in the official scorer.
Abstention items stay in their type's bucket and are also reported on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deltamem.core.errors import ConfigError
from deltamem.datasets.longmemeval import QUESTION_TYPES
from deltamem.eval.metrics.judge import JudgeVerdict
from deltamem.eval.metrics.personamem import Accuracy
from deltamem.eval.prompts import load

__all__ = ["LongMemEvalItem", "LongMemEvalReport", "aggregate_longmemeval", "judge_prompt", "parse_yes_no"]

_PROMPT_BY_TYPE = {
    "single-session-user": "longmemeval_default",
    "single-session-assistant": "longmemeval_default",
    "multi-session": "longmemeval_default",
    "temporal-reasoning": "longmemeval_temporal",
    "knowledge-update": "longmemeval_knowledge_update",
    "single-session-preference": "longmemeval_preference",
}


def judge_prompt(question_type: str, question: str, answer: str, response: str, *, abstention: bool) -> str:
    """The yes/no judge prompt for one item (the abstention prompt overrides the type's)."""
    if question_type not in _PROMPT_BY_TYPE:
        raise ConfigError(f"unknown LongMemEval question_type {question_type!r}; expected one of {QUESTION_TYPES}")
    name = "longmemeval_abstention" if abstention else _PROMPT_BY_TYPE[question_type]
    return load(name).format(question=question, answer=answer, response=response)


def parse_yes_no(reply: str) -> JudgeVerdict:
    """``"yes"`` if the reply contains "yes" anywhere (the official rule), else ``"no"``. Never invalid."""
    return JudgeVerdict(label="yes" if "yes" in reply.lower() else "no", raw=reply)


@dataclass(frozen=True, slots=True)
class LongMemEvalItem:
    """One judged question."""

    question_type: str
    is_abstention: bool
    correct: bool


@dataclass(frozen=True, slots=True)
class LongMemEvalReport:
    """Per-type accuracy, their unweighted mean (task-averaged), overall and abstention accuracy."""

    by_type: dict[str, Accuracy]
    task_averaged: float | None
    overall: Accuracy
    abstention: Accuracy


def aggregate_longmemeval(items: Iterable[LongMemEvalItem]) -> LongMemEvalReport:
    """Aggregate judged items; the task average is over the types that occur."""
    per: dict[str, list[int]] = {}
    overall, abstention = [0, 0], [0, 0]
    for it in items:
        buckets = [overall, per.setdefault(it.question_type, [0, 0])]
        if it.is_abstention:
            buckets.append(abstention)
        for b in buckets:
            b[0] += it.correct
            b[1] += 1
    by_type = {t: Accuracy(*per[t]) for t in QUESTION_TYPES if t in per}
    by_type.update({t: Accuracy(*v) for t, v in per.items() if t not in by_type})
    values = [a.value for a in by_type.values() if a.value is not None]
    return LongMemEvalReport(
        by_type=by_type,
        task_averaged=sum(values) / len(values) if values else None,
        overall=Accuracy(*overall),
        abstention=Accuracy(*abstention),
    )
