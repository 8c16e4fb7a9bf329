"""LoCoMo scoring, mem0 lineage: LLM judge (J), token F1 and BLEU-1 per category 1-4 and overall.

Category 5 (adversarial) is excluded from all three metrics; "overall" is the mean over the remaining questions,
not a mean of per-category means. Category meanings follow the data (1 multi-hop, 2 temporal, 3 open-domain,
4 single-hop); mem0's own tables label the numbers differently (1 single-hop, 3 multi-hop, 4 open-domain, as its
maintainers stated in mem0ai/mem0 issue #2609), so match published columns by question count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from deltamem.core.errors import ConfigError
from deltamem.datasets.locomo import CATEGORY_NAMES, SCORED_CATEGORIES
from deltamem.eval.metrics.judge import JudgeVerdict, extract_json_object
from deltamem.eval.metrics.text import bleu1, token_f1
from deltamem.eval.prompts import load

__all__ = [
    "CATEGORY_NAMES",
    "LocomoItem",
    "LocomoMeans",
    "LocomoReport",
    "aggregate_locomo",
    "locomo_judge_prompt",
    "parse_locomo_judge",
    "score_locomo_item",
]

_LABELS = ("CORRECT", "WRONG")
_NEGATED_CORRECT = re.compile(r"\b(?:not|isn't|is\s+not|never)\s+(?:an?\s+|the\s+)?correct\b", re.IGNORECASE)
# Replies that decline to answer. LoCoMo categories 1-4 always have a gold answer, so these are WRONG.
_ABSTENTION = re.compile(r"^\W*(?:(?:i\s+(?:do\s+not|don't|dont)\s+know|not\s+(?:known|mentioned|stated)|"
                         r"(?:the\s+)?(?:context|information)\s+does\s+not\s+(?:say|hold|mention|contain)|"
                         r"no\s+(?:information|answer))\b|unknown\W*$)", re.IGNORECASE)


def is_abstention(answer: str) -> bool:
    """True for an answer that declines ("I don't know", "Not mentioned", ...) rather than answers."""
    return bool(_ABSTENTION.match(answer.strip()))


@dataclass(frozen=True, slots=True)
class LocomoItem:
    """One answered question with its scores; ``judge`` is None when no (valid) judgement was made."""

    category: int
    f1: float
    bleu1: float
    judge: JudgeVerdict | None = None


@dataclass(frozen=True, slots=True)
class LocomoMeans:
    """Means over a set of questions; ``j`` counts an invalid or missing judgement as WRONG."""

    count: int
    f1: float
    bleu1: float
    j: float | None  # None when no item in the set was judged at all
    judged: int
    invalid_judgements: int


@dataclass(frozen=True, slots=True)
class LocomoReport:
    """Overall and per-category means over categories 1-4 (category 5 is dropped)."""

    overall: LocomoMeans
    by_category: dict[int, LocomoMeans]
    skipped_adversarial: int

    def category_label(self, category: int) -> str:
        """``"1 (multi-hop)"``: reports name a category by number and meaning."""
        return f"{category} ({CATEGORY_NAMES[category]})"


def score_locomo_item(category: int, prediction: object, gold: object, judge: JudgeVerdict | None = None) -> LocomoItem:
    """F1 and BLEU-1 of one answer (both inputs are cast with ``str()`` like the reference scripts)."""
    return LocomoItem(category=category, f1=token_f1(prediction, gold), bleu1=bleu1(prediction, gold), judge=judge)


def locomo_judge_prompt(question: str, gold_answer: object, generated_answer: object) -> str:
    """The CORRECT/WRONG judge prompt (our wording of the mem0-lineage protocol)."""
    return load("locomo_judge").format(
        question=question, gold_answer=str(gold_answer), generated_answer=str(generated_answer)
    )


def parse_locomo_judge(reply: str) -> JudgeVerdict:
    """Read CORRECT / WRONG from a judge reply: JSON (fenced or not) first, then the label words in the text.

    Text fallback: the last upper-case ``CORRECT``/``WRONG``/``INCORRECT`` word wins (the prompt asks for the
    label last); failing that, a lower-case form is accepted only when just one of the two labels occurs.
    """
    obj = extract_json_object(reply)
    if obj is not None:
        label = next((v for k, v in obj.items() if k.lower() == "label"), None)
        if isinstance(label, str) and (norm := _label(label)) is not None:
            return JudgeVerdict(label=norm, raw=reply, fields=obj)
    upper = re.findall(r"\b(CORRECT|WRONG|INCORRECT)\b", reply)
    if upper:
        return JudgeVerdict(label=_label(upper[-1]), raw=reply, reason="label read from text")
    # "not a correct answer" is a WRONG verdict, not a CORRECT one.
    text = _NEGATED_CORRECT.sub(" wrong ", reply)
    lower = {_label(w) for w in re.findall(r"\b(correct|wrong|incorrect)\b", text, flags=re.IGNORECASE)}
    if len(lower) == 1:
        return JudgeVerdict(label=lower.pop(), raw=reply, reason="label read from text (case-insensitive)")
    why = "both labels in the reply" if lower else "no CORRECT/WRONG label in the reply"
    return JudgeVerdict(label=None, raw=reply, reason=why)


def _label(word: str) -> str | None:
    w = word.strip().strip(".\"'").upper()
    if w == "INCORRECT":
        return "WRONG"
    return w if w in _LABELS else None


def aggregate_locomo(items: Iterable[LocomoItem]) -> LocomoReport:
    """Per-category and overall means over categories 1-4, with question counts."""
    kept: list[LocomoItem] = []
    skipped = 0
    for item in items:
        if item.category == 5:
            skipped += 1
        elif item.category in SCORED_CATEGORIES:
            kept.append(item)
        else:
            raise ConfigError(f"LoCoMo category must be 1-5, got {item.category}")
    by_cat = {c: _means([i for i in kept if i.category == c]) for c in SCORED_CATEGORIES}
    return LocomoReport(
        overall=_means(kept),
        by_category={c: m for c, m in by_cat.items() if m.count},
        skipped_adversarial=skipped,
    )


def _means(items: list[LocomoItem]) -> LocomoMeans:
    n = len(items)
    judged = [i.judge for i in items if i.judge is not None]
    correct = sum(1 for v in judged if v.label == "CORRECT")
    return LocomoMeans(
        count=n,
        f1=sum(i.f1 for i in items) / n if n else 0.0,
        bleu1=sum(i.bleu1 for i in items) / n if n else 0.0,
        j=correct / len(judged) if judged else None,
        judged=len(judged),
        invalid_judgements=sum(1 for v in judged if not v.valid),
    )
