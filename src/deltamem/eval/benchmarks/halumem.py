"""HaluMem (Chen et al., 2025) as a benchmark plug-in: each question is asked right after its own session; each
ingested session is judged too, as in the official scorer: extraction (integrity of every memory point, accuracy of
every memory the session created or changed) and updates (what a search for each update point finds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.datasets.common import Conversation, Question
from deltamem.datasets.halumem import HaluMemSession, load_halumem
from deltamem.eval.benchmarks.base import Answered, ConversationPlan, Defaults, Step, ask, pct, pick
from deltamem.eval.metrics import halumem as hm
from deltamem.eval.metrics.locomo import is_abstention
from deltamem.llm.base import ChatModel


class HaluMem(Defaults):
    """The HaluMem plug-in (``Step.gold`` is the session's :class:`HaluMemSession`)."""

    name = "halumem"
    files: tuple[str, ...] = ("HaluMem-Medium.jsonl", "halumem_medium_dev.jsonl", "HaluMem-Long.jsonl")
    needs_judge = True
    judges_sessions = True

    def plans(self, path: Path, *, ids: Sequence[str] | None, sessions: int | None,
              chunk: int) -> list[ConversationPlan]:
        """Each picked user: their first ``sessions`` sessions, each followed by its own questions."""
        users = {u.uuid: u for u in load_halumem(path)}
        convs = pick([u.to_conversation() for u in users.values()], ids)
        return [_plan(c, users[c.id].sessions, sessions) for c in convs]

    def judge(self, judge: ChatModel | None, question: Question, response: str, *,
              strict: bool) -> dict[str, Any]:
        """Correct / Hallucination / Omission against the question's key memory points."""
        if judge is None:
            raise ConfigError("halumem needs a judge model")
        if question.category != "Memory Boundary" and is_abstention(response):
            # Outside Memory Boundary the key points hold the answer, so declining is an Omission by the
            # protocol's own definition; the 1.5B judge called "I don't know" Correct and Hallucination on real runs.
            return {"label": "Omission", "correct": False, "valid": True,
                    "reason": "abstention where the key memory points hold the answer", "judge_raw": None}
        key_points = () if question.category == "Memory Boundary" else question.evidence
        raw = ask(judge, hm.qa_prompt(question.question, question.answer, key_points, response), 320)
        v = hm.parse_qa_reply(raw, strict=strict)
        return {"label": v.label, "correct": v.label == "Correct", "valid": v.valid, "reason": v.reason,
                "judge_raw": raw}

    def judge_session(self, judge: ChatModel, step: Step, extracted: Sequence[str],
                      search: Callable[[str], list[str]], *, strict: bool) -> dict[str, Any]:
        """Extraction and update judgements of one session (``search``: a query → the top-10 memory texts), and
        what the search found for each update point."""
        session: HaluMemSession = step.gold
        hits = {p.index: search(p.content) for p in session.memory_points if p.is_update and p.original_memories}
        return {"halumem": judge_halumem_session(judge, session, extracted, hits, strict=strict),
                "update_hits": {str(k): v for k, v in hits.items()}}

    def summary(self, answered: Sequence[Answered], sessions: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """Recall, interference accuracy, precision, updates and QA as in the official scorer."""
        integ, acc, upd = [], [], []
        for s in sessions:
            h = s.get("halumem") or {}
            integ += [hm.IntegrityJudgement(i["score"], i["importance"], i["is_interference"], i["memory_type"])
                      for i in h.get("integrity", [])]
            acc += [hm.AccuracyJudgement(a["score"], a["included"]) for a in h.get("accuracy", [])]
            upd += [hm.LabelJudgement(u["label"], u["memory_type"]) for u in h.get("updates", [])]
        qa = [hm.LabelJudgement(r["label"], q["category"]) for q, r in answered]
        return asdict(hm.aggregate_halumem(integ, acc, upd, qa))

    def report_section(self, summary: Mapping[str, Any], heading: str) -> list[str]:
        """Extraction, update and QA ratios per system."""
        out = ["", f"{heading} HaluMem (ratios over all items; valid-only in results.json)", "",
               "| system | recall | weighted recall | FMR (interference acc.) | target precision | weighted acc. "
               "| extraction F1 | update correct | update halluc. | update omission | QA correct | QA halluc. "
               "| QA omission |", "| --- |" + " ---: |" * 12]
        for s, v in summary.items():
            h = v["halumem"]
            out.append(f"| {s} | {pct(h['recall']['all'])} | {pct(h['weighted_recall']['all'])} | "
                       f"{pct(h['interference_accuracy']['all'])} | {pct(h['target_precision']['all'])} | "
                       f"{pct(h['weighted_accuracy']['all'])} | {pct(h['extraction_f1'])} | "
                       + " | ".join(pct(h["update"][k]["all"]) for k in ("Correct", "Hallucination", "Omission"))
                       + " | " + " | ".join(pct(h["qa"][k]["all"]) for k in ("Correct", "Hallucination", "Omission"))
                       + " |")
        return out


def _plan(conv: Conversation, raw: Sequence[HaluMemSession], n: int | None) -> ConversationPlan:
    by_session: dict[str, list[Question]] = {}
    for q in conv.questions:
        if q.scored and q.after_session_id is not None:
            by_session.setdefault(q.after_session_id, []).append(q)
    steps, depth = [], {}
    for i, (s, h) in enumerate(zip(conv.sessions[:n], raw, strict=False), start=1):
        qs = tuple(by_session.get(s.key, ()))
        depth.update({q.id: i for q in qs})
        steps.append(Step(s, qs, h))
    return ConversationPlan(conv.id, conv.speakers, tuple(steps), depth)


def judge_halumem_session(judge: ChatModel, session: HaluMemSession, extracted: Sequence[str],
                          update_hits: Mapping[int, Sequence[str]], *, strict: bool = True) -> dict[str, Any]:
    """Extraction (integrity, accuracy) and update judgements for one session, as in the official scorer.

    ``extracted``: the memory texts the system created or changed while ingesting this session. ``update_hits``:
    for each update point (by index), the texts the system's search returned for its content (top 10).
    """
    integrity_pts, update_pts = hm.route_memory_points(session.memory_points, update_hits)
    integrity: list[dict[str, Any]] = []
    for p in integrity_pts:
        if not extracted:  # the official rule: nothing extracted scores 0 without a judge call
            score: int | None = 0
        else:
            v = hm.parse_integrity_reply(ask(judge, hm.integrity_prompt(extracted, p.content), 320), strict=strict)
            score = int(v.label) if v.label is not None else None
        integrity.append({"index": p.index, "score": score, "importance": p.importance,
                          "is_interference": p.is_interference, "memory_type": p.memory_type})
    accuracy: list[dict[str, Any]] = []
    for text in extracted:
        reply = ask(judge, hm.accuracy_prompt(session.dialogue, session.memory_points, text), 320)
        v, included = hm.parse_accuracy_reply(reply, strict=strict)
        accuracy.append({"memory": text, "score": int(v.label) if v.label is not None else None,
                         "included": included})
    updates: list[dict[str, Any]] = []
    for p in update_pts:
        v = hm.parse_update_reply(ask(judge, hm.update_prompt(update_hits[p.index], p), 320), strict=strict)
        updates.append({"index": p.index, "label": v.label, "memory_type": p.memory_type})
    return {"integrity": integrity, "accuracy": accuracy, "updates": updates}
