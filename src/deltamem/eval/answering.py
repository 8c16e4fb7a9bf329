"""Benchmark questions through the one answer path of :mod:`deltamem.facade.answering` (what ``Memory.answer`` calls).

Only the context differs between systems (memories, retrieved turns or the transcript), so a difference in scores
is a difference in what the memory kept and found; deltamem's score is the score of ``Memory.answer`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deltamem.datasets.common import Question
from deltamem.datasets.personamem import INSTRUCTION
from deltamem.eval.systems.base import ContextItem
from deltamem.facade import answering
from deltamem.llm.base import ChatModel, Usage

__all__ = ["ANSWER_MAX_TOKENS", "GeneratedAnswer", "answer_messages", "answer_question", "question_text"]

ANSWER_MAX_TOKENS = answering.ANSWER_MAX_TOKENS


@dataclass(frozen=True, slots=True)
class GeneratedAnswer:
    """The answer model's reply (stripped) and what the call cost."""

    text: str
    usage: Usage


def question_text(question: Question) -> str:
    """The question as the model sees it; multiple-choice items get PersonaMem's instruction and the options."""
    if not question.options:
        return question.question
    return f"{question.question}\n\n{INSTRUCTION}\n\n" + "\n".join(question.options)


def answer_messages(question: Question, items: Sequence[ContextItem], *, today: datetime | None
                    ) -> list[dict[str, Any]]:
    """The answer prompt of :mod:`deltamem.facade.answering` for a benchmark question and a system's context."""
    return answering.answer_messages(question_text(question), _pieces(items), today=today)


def answer_question(model: ChatModel, question: Question, items: Sequence[ContextItem], *,
                    today: datetime | None) -> GeneratedAnswer:
    """Ask the answer model exactly as :meth:`deltamem.Memory.answer` does."""
    text, usage = answering.ask(model, question_text(question), _pieces(items), today=today)
    return GeneratedAnswer(text=text, usage=usage)


def _pieces(items: Sequence[ContextItem]) -> list[tuple[str | None, str]]:
    return [(i.date, i.text) for i in items]
