"""What every benchmark plug-in provides (:class:`Benchmark`), and the plan types they build.

A benchmark turns its data file into :class:`ConversationPlan` s (which sessions to ingest, which questions to ask
after which session), judges one answer, optionally judges each ingested session (HaluMem scores extraction and
updates per session), aggregates its own metrics and writes its own section of the report. The harness, the runner
and the report are generic: they call these through the table in :mod:`deltamem.eval.benchmarks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from deltamem.core.errors import ConfigError
from deltamem.core.session import Session
from deltamem.datasets.common import Conversation, Question
from deltamem.llm.base import ChatModel

#: One question with a system's checkpointed record for it (what :meth:`Benchmark.summary` aggregates).
Answered = tuple[Mapping[str, Any], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Step:
    """Ingest ``session``, then ask ``questions``; ``gold`` is what the benchmark scores the session itself
    against, when it does (HaluMem's memory points), else None."""

    session: Session
    questions: tuple[Question, ...] = ()
    gold: Any = None


@dataclass(frozen=True, slots=True)
class ConversationPlan:
    """One conversation's steps, its speakers and each selected question's depth."""

    id: str
    speakers: tuple[str, ...]
    steps: tuple[Step, ...]
    depth: dict[str, int] = field(default_factory=dict)

    @property
    def questions(self) -> list[Question]:
        """Every selected question, in the order they are asked."""
        return [q for s in self.steps for q in s.questions]


class Benchmark(Protocol):
    """A benchmark plug-in. ``files``: the data file names looked for in a folder, the official one first;
    ``needs_judge``: whether answers are judged by a model; ``judges_sessions``: whether
    :meth:`judge_session` scores each ingested session."""

    name: str
    files: tuple[str, ...]
    needs_judge: bool
    judges_sessions: bool

    def plans(self, path: Path, *, ids: Sequence[str] | None, sessions: int | None,
              chunk: int) -> list[ConversationPlan]:
        """The plans of the conversations ``ids`` (all when None), ingesting at most ``sessions`` sessions each."""
        ...

    def judge(self, judge: ChatModel | None, question: Question, response: str, *,
              strict: bool) -> dict[str, Any]:
        """``{label, correct, valid, reason, judge_raw}`` for one answer."""
        ...

    def judge_session(self, judge: ChatModel, step: Step, extracted: Sequence[str],
                      search: Callable[[str], list[str]], *, strict: bool) -> dict[str, Any]:
        """Fields for the session's checkpoint record: the judgements of one ingested session (only called when
        ``judges_sessions``; ``extracted``: the memory texts the session created or changed)."""
        ...

    def summary(self, answered: Sequence[Answered], sessions: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """The benchmark's own metrics of one system, kept in ``results.json`` under its name (None: none)."""
        ...

    def report_section(self, summary: Mapping[str, Any], heading: str) -> list[str]:
        """Markdown lines of the benchmark's own table over every system's summary."""
        ...

    def category_label(self, category: str) -> str:
        """How a question category is shown."""
        ...


class Defaults:
    """What a benchmark without session judging, extra metrics or category names inherits."""

    name: str
    files: tuple[str, ...]
    needs_judge: bool
    judges_sessions: bool = False

    def judge_session(self, judge: ChatModel, step: Step, extracted: Sequence[str],
                      search: Callable[[str], list[str]], *, strict: bool) -> dict[str, Any]:
        """Never called: ``judges_sessions`` is False."""
        raise ConfigError("this benchmark does not judge sessions")

    def summary(self, answered: Sequence[Answered], sessions: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """No metrics beyond the shared ones."""
        return None

    def report_section(self, summary: Mapping[str, Any], heading: str) -> list[str]:
        """No section beyond the shared tables."""
        return []

    def category_label(self, category: str) -> str:
        """The category as the data names it."""
        return category


def ask(judge: ChatModel, prompt: str, max_tokens: int) -> str:
    """One greedy judge call."""
    return judge.chat([{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0).content


def pick(convs: list[Conversation], ids: Sequence[str] | None) -> list[Conversation]:
    """The conversations ``ids`` in that order (all when None); an unknown id is a ConfigError naming known ones."""
    if not ids:
        return convs
    by_id = {c.id: c for c in convs}
    missing = [i for i in ids if i not in by_id]
    if missing:
        known = ", ".join(list(by_id)[:12]) + (" ..." if len(by_id) > 12 else "")
        raise ConfigError(f"unknown conversation id(s) {', '.join(missing)}; the file has {known}")
    return [by_id[i] for i in ids]


def ask_after_last(conv: Conversation, sessions: tuple[Session, ...], qs: list[Question],
                   depth: dict[str, int]) -> ConversationPlan:
    """Ingest ``sessions`` in order and ask every question after the last one."""
    steps = [Step(s) for s in sessions]
    if steps:
        steps[-1] = Step(steps[-1].session, tuple(qs))
    return ConversationPlan(conv.id, conv.speakers, tuple(steps), depth)


def pct(x: float | None) -> str:
    """A ratio as a percentage with one decimal ("—" when there is none)."""
    return "—" if x is None else f"{100 * x:.1f}"


def num(x: float | None, nd: int = 3) -> str:
    """A number with ``nd`` decimals ("—" when there is none)."""
    return "—" if x is None else f"{x:.{nd}f}"
