"""Expected facts of a sample conversation, and simple machine checks of answers and of the final memory.

A sample file such as ``deltamem/samples/caroline.json`` holds, next to its ``sessions``:

- ``questions``: ``{"question", "expected", "expect_any", "expect_none"}`` objects. An answer passes when it
  mentions at least one ``expect_any`` phrase and no ``expect_none`` phrase.
- ``memory_checks``: ``{"check", "some_memory" | "no_memory", "unless"}`` objects on the live memories after the
  last session. A memory *matches* when it mentions one phrase of every group in ``some_memory`` / ``no_memory``
  and no ``unless`` phrase. ``some_memory`` passes when at least one memory matches, ``no_memory`` when none does.

Matching is deliberately simple and predictable: case-insensitive, typographic apostrophes read as ``'``, runs of
white space as one space, and a phrase that starts (ends) with a letter or digit must start (end) at a word
boundary, so ``"no"`` does not match ``"now"`` and ``"3"`` does not match ``"2023"``. A memory is checked as
:func:`memory_line` writes it, ``[YYYY-MM-DD] text``: its date counts, as it does for the answerer. The checks are
written so that a correct short answer passes and a typical wrong one fails; they are a visible yardstick for the
demo, not a judge.

>>> q = QuestionCheck("Where does Caroline live now?", "Seattle", expect_any=("Seattle",), expect_none=("Boston",))
>>> check_answer(q, "Seattle.").passed, check_answer(q, "She lives in Boston.").detail
(True, 'says Boston')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from deltamem.core import ChangeSet, CorruptDataError, MemoryEntry

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


@dataclass(frozen=True, slots=True)
class QuestionCheck:
    """A question, the fact a correct answer states, and the phrases that decide pass or fail."""

    question: str
    expected: str
    expect_any: tuple[str, ...]
    expect_none: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemoryCheck:
    """An expectation on the live memories: some memory matches (``want="some"``) or none does (``"none"``)."""

    check: str
    want: Literal["some", "none"]
    mentions: tuple[tuple[str, ...], ...]
    unless: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Pass or fail, with a short reason (what was missing or wrong) or the evidence that passed."""

    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Expectations:
    """All checks of one sample conversation."""

    questions: tuple[QuestionCheck, ...]
    memory_checks: tuple[MemoryCheck, ...]


@dataclass(frozen=True, slots=True)
class Removal:
    """A memory text that left the live state: deleted, or replaced by an update."""

    kind: Literal["UPDATE", "DELETE"]
    memory_id: str
    before: str
    after: str | None
    change_set_id: str
    session_id: str | None


def normalise(text: str) -> str:
    """Lower case, plain apostrophes, single spaces.

    >>> normalise("  Seattle  Children\u2019s ")
    "seattle children's"
    """
    return " ".join(text.translate(_QUOTES).lower().split())


@lru_cache(maxsize=512)
def _pattern(phrase: str) -> re.Pattern[str]:
    p = normalise(phrase)
    if not p:
        raise ValueError("an empty phrase matches everything; remove it")
    left = r"(?<!\w)" if p[0].isalnum() else ""
    right = r"(?!\w)" if p[-1].isalnum() else ""
    return re.compile(left + re.escape(p) + right)


def mentions(text: str, phrase: str) -> bool:
    """True when ``text`` contains ``phrase`` as defined in the module docstring.

    >>> mentions("No, not anymore.", "no"), mentions("She has one now.", "no"), mentions("a 3-year-old", "3")
    (True, False, True)
    """
    return _pattern(phrase).search(normalise(text)) is not None


def memory_line(entry: MemoryEntry) -> str:
    """A memory as the checks (and the answerer) see it: ``[2024-06-09] Rex died.``"""
    return f"[{entry.timestamp:%Y-%m-%d}] {entry.text}"


def found(text: str, phrases: Iterable[str]) -> list[str]:
    """The phrases that ``text`` mentions, in the given order."""
    return [p for p in phrases if mentions(text, p)]


def check_answer(q: QuestionCheck, answer: str) -> CheckResult:
    """Pass when the answer mentions an ``expect_any`` phrase and no ``expect_none`` phrase.

    The detail of a failure names the wrong phrases the answer says, else the expected phrases it lacks; the detail
    of a pass names the expected phrases found.
    """
    wrong = found(answer, q.expect_none)
    if wrong:
        return CheckResult(False, "says " + ", ".join(wrong))
    hits = found(answer, q.expect_any)
    if not hits:
        return CheckResult(False, "mentions none of: " + ", ".join(q.expect_any))
    return CheckResult(True, ", ".join(hits))


def memory_matches(c: MemoryCheck, text: str) -> bool:
    """True when ``text`` mentions one phrase of every group of ``c`` and none of its ``unless`` phrases."""
    return all(found(text, group) for group in c.mentions) and not found(text, c.unless)


def check_memories(c: MemoryCheck, texts: Sequence[str]) -> CheckResult:
    """Check the live memory texts; the detail names the evidence (``some``) or the offending memories (``none``)."""
    matching = [t for t in texts if memory_matches(c, t)]
    if c.want == "some":
        return CheckResult(True, matching[0]) if matching else CheckResult(False, "no memory says so")
    return CheckResult(not matching, "; ".join(matching))


def removals(change_sets: Iterable[ChangeSet]) -> list[Removal]:
    """Every memory text deleted or overwritten by these change sets, in order (reverts included as given)."""
    out = []
    for cs in change_sets:
        for c in cs.changes:
            if c.kind in ("UPDATE", "DELETE") and c.before is not None:
                after = c.after.text if c.after is not None else None
                if c.kind == "UPDATE" and after == c.before.text:
                    continue  # only metadata changed: nothing was lost
                out.append(Removal(c.kind, c.memory_id, c.before.text, after, cs.id, cs.session_id))
    return out


def _phrases(item: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CorruptDataError(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(value)


def _question(item: Any, i: int) -> QuestionCheck:
    where = f"questions[{i}]"
    if not isinstance(item, Mapping) or not isinstance(item.get("question"), str):
        raise CorruptDataError(f"{where}: expected an object with a 'question' string")
    expect_any = _phrases(item, "expect_any", where)
    if not expect_any:
        raise CorruptDataError(f"{where}: 'expect_any' needs at least one phrase")
    return QuestionCheck(item["question"], str(item.get("expected", "")), expect_any,
                         _phrases(item, "expect_none", where))


def _memory_check(item: Any, i: int) -> MemoryCheck:
    where = f"memory_checks[{i}]"
    if not isinstance(item, Mapping) or not isinstance(item.get("check"), str):
        raise CorruptDataError(f"{where}: expected an object with a 'check' description")
    kinds = [k for k in ("some_memory", "no_memory") if k in item]
    if len(kinds) != 1:
        raise CorruptDataError(f"{where}: give exactly one of 'some_memory' and 'no_memory'")
    groups = item[kinds[0]]
    if not isinstance(groups, list) or not groups:
        raise CorruptDataError(f"{where}: {kinds[0]!r} must be a non-empty list of phrase lists")
    parsed = tuple(_phrases({"group": g}, "group", f"{where}.{kinds[0]}") for g in groups)
    if not all(parsed):
        raise CorruptDataError(f"{where}: every group of {kinds[0]!r} needs at least one phrase")
    return MemoryCheck(item["check"], "some" if kinds[0] == "some_memory" else "none", parsed,
                       _phrases(item, "unless", where))


def parse_expectations(data: Mapping[str, Any]) -> Expectations:
    """The ``questions`` and ``memory_checks`` of a sample file's JSON object (CorruptDataError if malformed)."""
    questions = data.get("questions", [])
    checks = data.get("memory_checks", [])
    if not isinstance(questions, list) or not isinstance(checks, list):
        raise CorruptDataError("'questions' and 'memory_checks' must be lists")
    return Expectations(tuple(_question(q, i) for i, q in enumerate(questions)),
                        tuple(_memory_check(c, i) for i, c in enumerate(checks)))


def load_expectations(path: str | Path) -> Expectations:
    """Read the checks of a sample file (the same file :func:`deltamem.agent.session.load_sessions` reads)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CorruptDataError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(data, Mapping):
        raise CorruptDataError(f"{path}: expected a JSON object with 'sessions' and 'questions'")
    try:
        return parse_expectations(data)
    except CorruptDataError as e:
        raise CorruptDataError(f"{path}: {e}") from e
