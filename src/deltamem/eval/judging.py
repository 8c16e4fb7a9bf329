"""Scoring one answer (per benchmark) and one HaluMem session's extraction/update with the judge model.

Every function returns plain JSON-ready dicts, which the runner checkpoints as they are; aggregation happens in
:mod:`deltamem.eval.report` from those records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from deltamem.core.errors import ConfigError
from deltamem.eval.loaders.common import Question
from deltamem.eval.loaders.halumem import HaluMemSession
from deltamem.eval.metrics import halumem as hm
from deltamem.eval.metrics.locomo import is_abstention, locomo_judge_prompt, parse_locomo_judge
from deltamem.eval.metrics.longmemeval import judge_prompt as lme_prompt
from deltamem.eval.metrics.longmemeval import parse_yes_no
from deltamem.eval.metrics.personamem import extract_option, is_correct
from deltamem.eval.metrics.text import bleu1, token_f1
from deltamem.llm.base import ChatModel

__all__ = ["BENCHMARKS", "Benchmark", "judge_answer", "judge_halumem_session"]

Benchmark = Literal["locomo", "halumem", "personamem", "longmemeval"]
BENCHMARKS: tuple[Benchmark, ...] = ("locomo", "halumem", "personamem", "longmemeval")


def _ask(judge: ChatModel, prompt: str, max_tokens: int) -> str:
    return judge.chat([{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0).content


def judge_answer(bench: Benchmark, judge: ChatModel | None, question: Question, response: str, *,
                 strict: bool = True) -> dict[str, Any]:
    """``{label, correct, valid, reason, f1, bleu1}`` for one answer.

    ``correct`` is the benchmark's headline per-question score: LoCoMo J (CORRECT), HaluMem QA "Correct",
    PersonaMem exact option letter, LongMemEval judge "yes". An invalid judgement has ``valid`` False and counts as
    not correct. F1 / BLEU-1 (mem0-lineage) are computed for every benchmark; they are only meaningful for LoCoMo.
    """
    out: dict[str, Any] = {"f1": token_f1(response, question.answer), "bleu1": bleu1(response, question.answer)}
    if bench == "personamem":
        chosen = extract_option(response)
        ok = is_correct(response, question.answer)
        return {**out, "label": chosen, "correct": ok, "valid": True, "reason": "", "judge_raw": None}
    if judge is None:
        raise ConfigError(f"{bench} needs a judge model")
    if bench == "locomo":
        if is_abstention(response):
            # Every scored LoCoMo question has an answer, so declining is wrong; the 1.5B judge called
            # "I don't know" CORRECT on real runs. No judge call: the verdict does not depend on a model.
            return {**out, "label": "WRONG", "correct": False, "valid": True,
                    "reason": "abstention: no answer given", "judge_raw": None}
        raw = _ask(judge, locomo_judge_prompt(question.question, question.answer, response), 160)
        v = parse_locomo_judge(raw)
        correct = v.label == "CORRECT"
    elif bench == "halumem":
        if question.category != "Memory Boundary" and is_abstention(response):
            # Outside Memory Boundary the key points hold the answer, so declining is an Omission by the
            # protocol's own definition; the 1.5B judge called "I don't know" Correct and Hallucination on real runs.
            return {**out, "label": "Omission", "correct": False, "valid": True,
                    "reason": "abstention where the key memory points hold the answer", "judge_raw": None}
        key_points = () if question.category == "Memory Boundary" else question.evidence
        raw = _ask(judge, hm.qa_prompt(question.question, question.answer, key_points, response), 320)
        v = hm.parse_qa_reply(raw, strict=strict)
        correct = v.label == "Correct"
    elif bench == "longmemeval":
        prompt = lme_prompt(question.category, question.question, question.answer, response,
                            abstention=question.is_abstention)
        raw = _ask(judge, prompt, 10)
        v = parse_yes_no(raw)
        correct = v.label == "yes"
    else:
        raise ConfigError(f"unknown benchmark {bench!r}")
    return {**out, "label": v.label, "correct": correct, "valid": v.valid, "reason": v.reason, "judge_raw": raw}


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
            v = hm.parse_integrity_reply(_ask(judge, hm.integrity_prompt(extracted, p.content), 320), strict=strict)
            score = int(v.label) if v.label is not None else None
        integrity.append({"index": p.index, "score": score, "importance": p.importance,
                          "is_interference": p.is_interference, "memory_type": p.memory_type})
    accuracy: list[dict[str, Any]] = []
    for text in extracted:
        reply = _ask(judge, hm.accuracy_prompt(session.dialogue, session.memory_points, text), 320)
        v, included = hm.parse_accuracy_reply(reply, strict=strict)
        accuracy.append({"memory": text, "score": int(v.label) if v.label is not None else None,
                         "included": included})
    updates: list[dict[str, Any]] = []
    for p in update_pts:
        v = hm.parse_update_reply(_ask(judge, hm.update_prompt(update_hits[p.index], p), 320), strict=strict)
        updates.append({"index": p.index, "label": v.label, "memory_type": p.memory_type})
    return {"integrity": integrity, "accuracy": accuracy, "updates": updates}
