"""LongMemEval (Wu et al., ICLR 2025) as a benchmark plug-in: every question after the last ingested session (with
``sessions`` set, only if its evidence sessions were ingested), judged yes / no by an LLM with the protocol's
prompt per question type; abstention questions (``_abs``) are counted apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.datasets.common import Conversation, Question
from deltamem.datasets.longmemeval import load_longmemeval_conversations
from deltamem.eval.benchmarks.base import Answered, ConversationPlan, Defaults, ask, ask_after_last, pct, pick
from deltamem.eval.metrics.longmemeval import LongMemEvalItem, aggregate_longmemeval, judge_prompt, parse_yes_no
from deltamem.llm.base import ChatModel


class LongMemEval(Defaults):
    """The LongMemEval plug-in."""

    name = "longmemeval"
    files: tuple[str, ...] = ("longmemeval_s_cleaned.json", "longmemeval_oracle.json", "longmemeval_m_cleaned.json")
    needs_judge = True

    def plans(self, path: Path, *, ids: Sequence[str] | None, sessions: int | None,
              chunk: int) -> list[ConversationPlan]:
        """Each picked question's haystack: its first ``sessions`` sessions, then the question."""
        return [_plan(c, sessions) for c in pick(load_longmemeval_conversations(path), ids)]

    def judge(self, judge: ChatModel | None, question: Question, response: str, *,
              strict: bool) -> dict[str, Any]:
        """The judge's yes / no."""
        if judge is None:
            raise ConfigError("longmemeval needs a judge model")
        raw = ask(judge, judge_prompt(question.category, question.question, question.answer, response,
                                      abstention=question.is_abstention), 10)
        v = parse_yes_no(raw)
        return {"label": v.label, "correct": v.label == "yes", "valid": v.valid, "reason": v.reason,
                "judge_raw": raw}

    def summary(self, answered: Sequence[Answered], sessions: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """Overall, task-averaged and abstention accuracy, and per question type."""
        return asdict(aggregate_longmemeval(LongMemEvalItem(q["category"], q["id"].endswith("_abs"),
                                                            bool(r["correct"])) for q, r in answered))

    def report_section(self, summary: Mapping[str, Any], heading: str) -> list[str]:
        """Overall, task-averaged and abstention accuracy per system."""
        out = ["", f"{heading} LongMemEval", "", "| system | overall % | task-averaged % | abstention % |",
               "| --- | ---: | ---: | ---: |"]
        for s, v in summary.items():
            r = v["longmemeval"]
            out.append(f"| {s} | {pct(_acc(r['overall']))} | {pct(r['task_averaged'])} | "
                       f"{pct(_acc(r['abstention']))} |")
        return out


def _acc(a: Mapping[str, int]) -> float | None:
    return a["correct"] / a["count"] if a["count"] else None


def _plan(conv: Conversation, n: int | None) -> ConversationPlan:
    sessions = conv.sessions[:n]
    ids = {s.id for s in sessions}
    qs = [q for q in conv.questions if n is None or all(e in ids for e in q.evidence_session_ids)]
    return ask_after_last(conv, sessions, qs, {q.id: len(sessions) for q in qs})
