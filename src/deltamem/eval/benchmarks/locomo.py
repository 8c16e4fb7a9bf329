"""LoCoMo (Maharana et al., ACL 2024) as a benchmark plug-in: categories 1-4, every question asked after the last
ingested session (the official protocol), judged CORRECT / WRONG by an LLM (J) beside token F1 and BLEU-1.

Only questions whose evidence sessions were all ingested are asked (questions without any evidence id are left
out: nobody can tell whether they are answerable). ``depth`` of a question is its last evidence session's position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.datasets.common import Conversation, Question
from deltamem.datasets.locomo import CATEGORY_NAMES, load_locomo_conversations
from deltamem.eval.benchmarks.base import Answered, ConversationPlan, Defaults, ask, ask_after_last, num, pct, pick
from deltamem.eval.metrics.judge import JudgeVerdict
from deltamem.eval.metrics.locomo import (
    LocomoItem,
    aggregate_locomo,
    is_abstention,
    locomo_judge_prompt,
    parse_locomo_judge,
)
from deltamem.llm.base import ChatModel


class LoCoMo(Defaults):
    """The LoCoMo plug-in."""

    name = "locomo"
    files: tuple[str, ...] = ("locomo10.json", "locomo_dev.json")
    needs_judge = True

    def plans(self, path: Path, *, ids: Sequence[str] | None, sessions: int | None,
              chunk: int) -> list[ConversationPlan]:
        """Each picked conversation: its first ``sessions`` sessions, then the answerable questions."""
        return [_plan(c, sessions) for c in pick(load_locomo_conversations(path), ids)]

    def judge(self, judge: ChatModel | None, question: Question, response: str, *,
              strict: bool) -> dict[str, Any]:
        """J: the judge's CORRECT / WRONG; an abstention is WRONG without a call."""
        if judge is None:
            raise ConfigError("locomo needs a judge model")
        if is_abstention(response):
            # Every scored LoCoMo question has an answer, so declining is wrong; the 1.5B judge called
            # "I don't know" CORRECT on real runs. No judge call: the verdict does not depend on a model.
            return {"label": "WRONG", "correct": False, "valid": True, "reason": "abstention: no answer given",
                    "judge_raw": None}
        raw = ask(judge, locomo_judge_prompt(question.question, question.answer, response), 160)
        v = parse_locomo_judge(raw)
        return {"label": v.label, "correct": v.label == "CORRECT", "valid": v.valid, "reason": v.reason,
                "judge_raw": raw}

    def summary(self, answered: Sequence[Answered], sessions: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """J / F1 / BLEU-1 overall and per category (mem0 lineage)."""
        items = [LocomoItem(int(q["category"]), r["f1"], r["bleu1"],
                            JudgeVerdict(label=r["label"], raw=r.get("judge_raw") or ""))
                 for q, r in answered]
        return asdict(aggregate_locomo(items))

    def report_section(self, summary: Mapping[str, Any], heading: str) -> list[str]:
        """J, F1 and BLEU-1 per system, overall and per category."""
        out = ["", f"{heading} LoCoMo (mem0 lineage: J / F1 / BLEU-1, categories 1-4)", "",
               "| system | set | n | J % | F1 | BLEU-1 |", "| --- | --- | ---: | ---: | ---: | ---: |"]
        for s, v in summary.items():
            rep = v["locomo"]
            rows = [("overall", rep["overall"])] + [(self.category_label(str(c)), m)
                                                    for c, m in sorted(rep["by_category"].items())]
            out += [f"| {s} | {name} | {m['count']} | {pct(m['j'])} | {num(m['f1'])} | {num(m['bleu1'])} |"
                    for name, m in rows]
        return out

    def category_label(self, category: str) -> str:
        """``"1 (multi-hop)"``: the number and its meaning."""
        if category.isdigit() and int(category) in CATEGORY_NAMES:
            return f"{category} ({CATEGORY_NAMES[int(category)]})"
        return category


def _plan(conv: Conversation, n: int | None) -> ConversationPlan:
    sessions = conv.sessions[:n]
    position = {s.id: i + 1 for i, s in enumerate(sessions)}
    qs = [q for q in conv.questions
          if q.scored and q.evidence_session_ids and all(e in position for e in q.evidence_session_ids)]
    depth = {q.id: max(position[e] for e in q.evidence_session_ids) for q in qs}
    return ask_after_last(conv, sessions, qs, depth)
