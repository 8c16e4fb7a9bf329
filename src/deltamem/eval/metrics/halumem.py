"""HaluMem scoring: memory extraction (integrity / accuracy), memory updating and question answering.

Everything here is pure: the judge prompts are built from data, the replies are parsed into per-item judgements,
and :func:`aggregate_halumem` turns judgements into the official ratios. Every ratio is given over **all** items
(an invalid judgement counts as a failure) and over **valid** items; the paper's headline numbers are "all".
A ratio whose denominator is empty is None (the official script would divide by zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from deltamem.datasets.halumem import DATE_FORMAT, HaluMemMemoryPoint, HaluMemTurn
from deltamem.eval.metrics.judge import JudgeVerdict, extract_json_object, fenced_json_object
from deltamem.eval.prompts import load

__all__ = [
    "QA_LABELS",
    "UPDATE_LABELS",
    "AccuracyJudgement",
    "HaluMemReport",
    "IntegrityJudgement",
    "LabelJudgement",
    "Ratio",
    "accuracy_prompt",
    "aggregate_halumem",
    "integrity_prompt",
    "parse_accuracy_reply",
    "parse_integrity_reply",
    "parse_qa_reply",
    "parse_update_reply",
    "qa_prompt",
    "route_memory_points",
    "update_prompt",
]

UPDATE_LABELS = ("Correct", "Hallucination", "Omission", "Other")
QA_LABELS = ("Correct", "Hallucination", "Omission")


@dataclass(frozen=True, slots=True)
class IntegrityJudgement:
    """Coverage of one gold memory point by the session's extracted memories; ``score`` None = invalid reply."""

    score: int | None
    importance: float
    is_interference: bool
    memory_type: str = ""


@dataclass(frozen=True, slots=True)
class AccuracyJudgement:
    """Support of one extracted memory; ``included`` = its fields appear among the gold memories."""

    score: int | None
    included: bool


@dataclass(frozen=True, slots=True)
class LabelJudgement:
    """An update or QA item's label (None = invalid reply); ``group`` is the memory or question type."""

    label: str | None
    group: str = ""


@dataclass(frozen=True, slots=True)
class Ratio:
    """``hits / n`` over all items and over valid ones."""

    all: float | None
    valid: float | None
    n_all: int
    n_valid: int


@dataclass(frozen=True, slots=True)
class HaluMemReport:
    """The official HaluMem numbers (see docs/benchmarks.md for each definition)."""

    recall: Ratio
    weighted_recall: Ratio
    interference_accuracy: Ratio  # the leaderboard's FMR (false-memory resistance)
    target_precision: Ratio
    weighted_accuracy: Ratio
    extraction_f1: float | None
    update: dict[str, Ratio] = field(default_factory=dict)
    qa: dict[str, Ratio] = field(default_factory=dict)
    by_memory_type: dict[str, dict[str, float]] = field(default_factory=dict)


# --- routing and prompts ---------------------------------------------------------------------------------------


def route_memory_points(
    points: Sequence[HaluMemMemoryPoint], memories_from_system: Mapping[int, Sequence[str]]
) -> tuple[list[HaluMemMemoryPoint], list[HaluMemMemoryPoint]]:
    """Split a session's gold points into (integrity items, update items) the way the official scorer does.

    ``memories_from_system`` maps a point's ``index`` to what the system's search returned for it. An update point
    whose search came back empty is scored as an integrity item, not as an update.
    """
    integrity: list[HaluMemMemoryPoint] = []
    update: list[HaluMemMemoryPoint] = []
    for p in points:
        (update if p.is_update and memories_from_system.get(p.index) else integrity).append(p)
    return integrity, update


def integrity_prompt(extracted_memories: Sequence[str], expected_memory: str) -> str:
    """Judge prompt for one gold point. Do not call the judge when ``extracted_memories`` is empty: score 0."""
    return load("halumem_integrity").format(
        extracted_memories="\n".join(extracted_memories), expected_memory=expected_memory
    )


def format_dialogue(dialogue: Sequence[HaluMemTurn]) -> str:
    """``[<timestamp>]<role>: <content>`` per message, a blank line after each assistant message."""
    lines: list[str] = []
    for t in dialogue:
        stamp = t.timestamp.strftime(DATE_FORMAT) if t.timestamp else ""
        lines.append(f"[{stamp}]{t.role}: {t.content}")
        if t.role == "assistant":
            lines.append("")
    return "\n".join(lines)


def accuracy_prompt(
    dialogue: Sequence[HaluMemTurn], gold_points: Sequence[HaluMemMemoryPoint], candidate_memory: str
) -> str:
    """Judge prompt for one extracted memory; interference points are left out of the reference memories."""
    return load("halumem_accuracy").format(
        dialogue=format_dialogue(dialogue),
        golden_memories="\n".join(p.content for p in gold_points if not p.is_interference),
        candidate_memory=candidate_memory,
    )


def update_prompt(system_memories: Sequence[str], point: HaluMemMemoryPoint) -> str:
    """Judge prompt for one update point and what the system's search returned for it."""
    return load("halumem_update").format(
        system_memories="\n".join(system_memories),
        new_memory=point.content,
        original_memories="\n".join(point.original_memories),
    )


def qa_prompt(question: str, reference_answer: str, key_memory_points: Sequence[str], response: str) -> str:
    """Judge prompt for one answered question (key points empty for Memory Boundary questions)."""
    return load("halumem_qa").format(
        question=question,
        reference_answer=reference_answer,
        key_memory_points="\n".join(key_memory_points),
        response=response,
    )


# --- reply parsers ---------------------------------------------------------------------------------------------


def _json(reply: str, strict: bool) -> dict[str, object] | None:
    # strict = the official reading: only a ```json fenced block counts.
    return fenced_json_object(reply) if strict else extract_json_object(reply)


def _score(value: object) -> int | None:
    try:
        score = int(str(value).strip())
    except ValueError:
        return None
    return score if score in (0, 1, 2) else None


def parse_integrity_reply(reply: str, *, strict: bool = True) -> JudgeVerdict:
    """``score`` 0/1/2 as the verdict label (a string), or an invalid verdict."""
    obj = _json(reply, strict)
    if obj is None:
        return JudgeVerdict(label=None, raw=reply, reason="no fenced JSON block" if strict else "no JSON object")
    score = _score(obj.get("score"))
    if score is None:
        return JudgeVerdict(label=None, raw=reply, reason=f"score {obj.get('score')!r} is not 0, 1 or 2", fields=obj)
    return JudgeVerdict(label=str(score), raw=reply, fields=obj)


def parse_accuracy_reply(reply: str, *, strict: bool = True) -> tuple[JudgeVerdict, bool]:
    """``(verdict with accuracy_score as label, included)``; an invalid reply is never "included"."""
    obj = _json(reply, strict)
    if obj is None:
        return JudgeVerdict(label=None, raw=reply, reason="no JSON found"), False
    score = _score(obj.get("accuracy_score"))
    if score is None:
        bad = obj.get("accuracy_score")
        return JudgeVerdict(label=None, raw=reply, reason=f"accuracy_score {bad!r} is not 0-2", fields=obj), False
    inc = obj.get("is_included_in_golden_memories", "false")
    # The official scorer counts only the strings "true"/"True"; a JSON boolean true is read the same way here.
    included = inc is True or (isinstance(inc, str) and inc.strip() in ("true", "True"))
    return JudgeVerdict(label=str(score), raw=reply, fields=obj), included


def _parse_label(reply: str, labels: tuple[str, ...], strict: bool) -> JudgeVerdict:
    obj = _json(reply, strict)
    if obj is None:
        return JudgeVerdict(label=None, raw=reply, reason="no JSON found")
    raw = obj.get("evaluation_result")
    label = raw.strip() if isinstance(raw, str) else None
    if label not in labels and not strict and label is not None:
        label = next((x for x in labels if x.lower() == label.lower()), None)
    if label not in labels:
        return JudgeVerdict(label=None, raw=reply, reason=f"evaluation_result {raw!r} not in {labels}", fields=obj)
    return JudgeVerdict(label=label, raw=reply, fields=obj)


def parse_update_reply(reply: str, *, strict: bool = True) -> JudgeVerdict:
    """Correct / Hallucination / Omission / Other, or an invalid verdict."""
    return _parse_label(reply, UPDATE_LABELS, strict)


def parse_qa_reply(reply: str, *, strict: bool = True) -> JudgeVerdict:
    """Correct / Hallucination / Omission, or an invalid verdict."""
    return _parse_label(reply, QA_LABELS, strict)


# --- aggregation -----------------------------------------------------------------------------------------------


def _ratio(hits: float, n_all: float, n_valid: float, count_all: int, count_valid: int) -> Ratio:
    return Ratio(
        all=hits / n_all if n_all else None,
        valid=hits / n_valid if n_valid else None,
        n_all=count_all,
        n_valid=count_valid,
    )


def _label_ratios(items: Sequence[LabelJudgement], labels: tuple[str, ...]) -> dict[str, Ratio]:
    n, valid = len(items), sum(1 for i in items if i.label in labels)
    return {lab: _ratio(sum(1 for i in items if i.label == lab), n, valid, n, valid) for lab in labels}


def aggregate_halumem(
    integrity: Iterable[IntegrityJudgement],
    accuracy: Iterable[AccuracyJudgement],
    updates: Iterable[LabelJudgement] = (),
    qa: Iterable[LabelJudgement] = (),
) -> HaluMemReport:
    """The official ratios from per-item judgements (``updates[i].group`` = the point's memory type)."""
    integ, acc, upd, qas = list(integrity), list(accuracy), list(updates), list(qa)
    core = [i for i in integ if not i.is_interference]
    core_valid = [i for i in core if i.score is not None]
    interf = [i for i in integ if i.is_interference]
    interf_valid = [i for i in interf if i.score is not None]
    full = sum(1 for i in core_valid if i.score == 2)
    weighted = sum(0.5 * (i.score or 0) * i.importance for i in core_valid)
    recall = _ratio(full, len(core), len(core_valid), len(core), len(core_valid))
    weighted_recall = _ratio(
        weighted, sum(i.importance for i in core), sum(i.importance for i in core_valid), len(core), len(core_valid)
    )
    resisted = sum(1 for i in interf_valid if i.score == 0)
    interference = _ratio(resisted, len(interf), len(interf_valid), len(interf), len(interf_valid))

    acc_valid = [a for a in acc if a.score is not None]
    # Invalid replies are never "included", so the target set is the same over all and valid items.
    target = [a for a in acc_valid if a.included]
    target_sum = sum(0.5 * (a.score or 0) for a in target)
    target_precision = _ratio(target_sum, len(target), len(target), len(target), len(target))
    acc_sum = sum(0.5 * (a.score or 0) for a in acc_valid)
    weighted_accuracy = _ratio(acc_sum, len(acc), len(acc_valid), len(acc), len(acc_valid))

    p, r = target_precision.all, recall.all
    f1 = None if p is None or r is None else (0.0 if p + r == 0 else 2 * p * r / (p + r))
    return HaluMemReport(
        recall=recall,
        weighted_recall=weighted_recall,
        interference_accuracy=interference,
        target_precision=target_precision,
        weighted_accuracy=weighted_accuracy,
        extraction_f1=f1,
        update=_label_ratios(upd, UPDATE_LABELS),
        qa=_label_ratios(qas, QA_LABELS),
        by_memory_type=_by_memory_type(integ, upd),
    )


def _by_memory_type(integ: Sequence[IntegrityJudgement], upd: Sequence[LabelJudgement]) -> dict[str, dict[str, float]]:
    """Per memory type: integrity hits (score 2) and correct updates, each over integrity + update items of it.

    As in the official scorer, every integrity item counts here, interference points and invalid replies
    included.
    """
    counts: dict[str, list[int]] = {}
    for i in integ:
        c = counts.setdefault(i.memory_type, [0, 0, 0])
        c[0] += i.score == 2
        c[2] += 1
    for u in upd:
        c = counts.setdefault(u.group, [0, 0, 0])
        c[1] += u.label == "Correct"
        c[2] += 1
    out = {}
    for mtype, (hits, correct, total) in counts.items():
        integrity_acc, update_acc = hits / total, correct / total
        out[mtype] = {
            "memory_integrity_acc": integrity_acc,
            "memory_update_acc": update_acc,
            "memory_acc": integrity_acc + update_acc,
            "total_num": float(total),
        }
    return out
