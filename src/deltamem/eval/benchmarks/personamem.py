"""PersonaMem (Jiang et al., COLM 2025) as a benchmark plug-in: one long history per persona, cut into sessions at
the questions' ``end_index`` (and into pieces of at most ``chunk`` messages); a question is asked right after the
piece that ends at its ``end_index`` and scored by exact match on the option letter (no judge)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.core.session import Session
from deltamem.datasets.common import Conversation, Question
from deltamem.datasets.personamem import (
    load_personamem_contexts,
    load_personamem_questions,
    personamem_conversations,
)
from deltamem.eval.benchmarks.base import Answered, ConversationPlan, Defaults, Step, pick
from deltamem.eval.metrics.personamem import PersonaMemItem, aggregate_personamem, extract_option, is_correct
from deltamem.llm.base import ChatModel


class PersonaMem(Defaults):
    """The PersonaMem plug-in."""

    name = "personamem"
    files: tuple[str, ...] = ("questions_32k.csv", "questions_32k_dev.csv")
    needs_judge = False

    def plans(self, path: Path, *, ids: Sequence[str] | None, sessions: int | None,
              chunk: int) -> list[ConversationPlan]:
        """Each picked history cut into pieces; questions after the piece their context ends with."""
        return [_plan(c, sessions, chunk) for c in pick(_conversations(path), ids)]

    def judge(self, judge: ChatModel | None, question: Question, response: str, *,
              strict: bool) -> dict[str, Any]:
        """The option letter the answer chose, right when it is the correct one."""
        return {"label": extract_option(response), "correct": is_correct(response, question.answer), "valid": True,
                "reason": "", "judge_raw": None}

    def summary(self, answered: Sequence[Answered], sessions: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """Accuracy overall and per question type."""
        overall, per_type = aggregate_personamem(PersonaMemItem(q["category"], bool(r["correct"]))
                                                 for q, r in answered)
        return {"overall": asdict(overall), "by_type": {k: asdict(v) for k, v in per_type.items()}}


def _conversations(path: Path) -> list[Conversation]:
    contexts = sorted(path.parent.glob("*contexts*.jsonl"))
    if not contexts:
        raise ConfigError(f"no shared_contexts_<size>.jsonl next to {path}: PersonaMem needs the conversation "
                          "histories (see docs/evaluation.md)")
    qs = load_personamem_questions(path)
    return personamem_conversations(qs, load_personamem_contexts(contexts[0], only={q.shared_context_id for q in qs}))


def _plan(conv: Conversation, n: int | None, chunk: int) -> ConversationPlan:
    if chunk < 1:
        raise ConfigError("chunk must be at least 1")
    messages = conv.sessions[0].messages
    cuts = sorted({q.context_end for q in conv.questions if q.context_end})
    bounds: list[int] = []
    start = 0
    for end in [*cuts, len(messages)]:
        while end - start > chunk:
            start += chunk
            bounds.append(start)
        if end > start:
            bounds.append(end)
            start = end
    steps: list[Step] = []
    depth: dict[str, int] = {}
    lo = 0
    for i, hi in enumerate(bounds[:n], start=1):
        part = Session(id=f"{conv.id[:12]}:{lo}-{hi}", date=None, messages=messages[lo:hi])
        qs = tuple(q for q in conv.questions if q.context_end == hi)
        depth.update({q.id: i for q in qs})
        steps.append(Step(part, qs))
        lo = hi
    return ConversationPlan(conv.id, conv.speakers, tuple(steps), depth)
