"""The one answer prompt every system is scored with: same template, same answer model, same decoding.

Only the context differs between systems (memories, retrieved turns or the transcript), so a difference in scores
is a difference in what the memory kept and found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deltamem.eval.loaders.common import Question
from deltamem.eval.loaders.personamem import INSTRUCTION
from deltamem.eval.prompts import load
from deltamem.eval.systems.base import ContextItem
from deltamem.llm.base import ChatModel, Usage

__all__ = ["ANSWER_MAX_TOKENS", "GeneratedAnswer", "answer_messages", "answer_question", "question_text"]

ANSWER_MAX_TOKENS = 96


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


def _context_lines(items: Sequence[ContextItem]) -> str:
    if not items:
        return "(nothing)"
    # Multi-line items (a transcript session) keep their lines, indented under the dated bullet.
    return "\n".join(f"- [{(i.date or 'undated')[:10]}] " + i.text.replace("\n", "\n  ") for i in items)


def answer_messages(question: Question, items: Sequence[ContextItem], *, today: datetime | None
                    ) -> list[dict[str, Any]]:
    """The answer prompt (``prompts/answer.txt``) filled in, as one user message."""
    prompt = load("answer").format(
        today=f"{today:%Y-%m-%d (%A)}" if today else "not known",
        context=_context_lines(items),
        question=question_text(question),
    )
    return [{"role": "user", "content": prompt}]


def answer_question(model: ChatModel, question: Question, items: Sequence[ContextItem], *,
                    today: datetime | None) -> GeneratedAnswer:
    """Ask the answer model (temperature 0, at most :data:`ANSWER_MAX_TOKENS` tokens)."""
    reply = model.chat(answer_messages(question, items, today=today), max_tokens=ANSWER_MAX_TOKENS,
                       temperature=0.0)
    return GeneratedAnswer(text=reply.content.strip(), usage=reply.usage)
