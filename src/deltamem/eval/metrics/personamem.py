"""PersonaMem scoring: exact match on the option letter, overall and per question type (no judge).

The official rule (see the data folder's PROTOCOL.md): keep the text after the last ``<final_answer>``, collect the
letters written as ``(a)``..``(d)`` or, failing that, bare letters a-d standing as words; the item is correct iff
that set is exactly the gold letter. If not, the same test runs on the whole reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Accuracy", "PersonaMemItem", "aggregate_personamem", "extract_option", "is_correct", "option_letters"]

_PAREN = re.compile(r"\(([a-d])\)")
# A bare letter must stand alone: not part of a word nor of a contraction ("i'd" is not option d).
_BARE = re.compile(r"(?<![\w'’])([a-d])(?![\w'’])")
_STATED = re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?([a-d])\b")


def _final_part(reply: str) -> str:
    text = reply
    if "<final_answer>" in text:
        text = text.rsplit("<final_answer>", 1)[1]
    return text.replace("</final_answer>", "")


def option_letters(text: str) -> set[str]:
    """The option letters named in ``text``: parenthesised ones, else bare single letters (lower-cased)."""
    low = text.lower()
    letters: set[str] = set(_PAREN.findall(low))
    return letters or set(_BARE.findall(low))


def is_correct(reply: str, correct: str) -> bool:
    """The official test: exactly the gold letter in the final answer part, else in the whole reply.

    >>> is_correct("Answer: b", "(b)"), is_correct("<final_answer>(B)</final_answer>", "b")
    (True, True)
    >>> is_correct("(a) or (b)", "b")
    False
    """
    gold = correct.strip().strip("()").lower()
    return option_letters(_final_part(reply)) == {gold} or option_letters(reply) == {gold}


def extract_option(reply: str) -> str | None:
    """The one letter a free-text reply chooses, or None if it names none or several.

    Tries the official reading first, then phrases like "answer is c" / "option: c" (so a stray article "a"
    does not make the reply ambiguous).
    """
    for text in (_final_part(reply), reply):
        letters = option_letters(text)
        if len(letters) == 1:
            return letters.pop()
        stated: set[str] = set(_STATED.findall(text.lower()))
        if len(stated) == 1:
            return stated.pop()
    return None


@dataclass(frozen=True, slots=True)
class PersonaMemItem:
    """One answered question."""

    question_type: str
    correct: bool


@dataclass(frozen=True, slots=True)
class Accuracy:
    """``correct / count`` (None for an empty set)."""

    correct: int
    count: int

    @property
    def value(self) -> float | None:
        """The accuracy."""
        return self.correct / self.count if self.count else None


def aggregate_personamem(items: Iterable[PersonaMemItem]) -> tuple[Accuracy, dict[str, Accuracy]]:
    """Overall accuracy and accuracy per question type (the seven data labels)."""
    overall = [0, 0]
    per: dict[str, list[int]] = {}
    for it in items:
        for acc in (overall, per.setdefault(it.question_type, [0, 0])):
            acc[0] += it.correct
            acc[1] += 1
    return Accuracy(*overall), {k: Accuracy(*v) for k, v in sorted(per.items())}
