"""What to run: a benchmark file turned into per-conversation steps (ingest this session, then ask these questions);
the per-benchmark rules live in the plug-ins of :mod:`deltamem.eval.benchmarks`.

Selection rules (documented in docs/evaluation.md):

* ``sessions``: ingest only the first N sessions of each conversation (in chronological order).
* LoCoMo: only categories 1-4, and only questions whose evidence sessions are all among the ingested ones
  (questions without any evidence id are left out: nobody can tell whether they are answerable). All are asked
  after the last ingested session, as in the official protocol.
* HaluMem: each question right after its own session, if that session is ingested.
* PersonaMem: the single history is cut into sessions at the questions' ``end_index`` (and into pieces of at most
  ``chunk`` messages); a question is asked right after the piece that ends at its ``end_index``.
* LongMemEval: the question after the last ingested session; with ``sessions`` set, only if its evidence sessions
  were ingested.
* ``questions``: at most N of the eligible questions per conversation, in file order.

``depth`` of a question = how many sessions of its conversation it depends on (the last evidence session's
position for LoCoMo, the session it is asked after otherwise); the cumulative-accuracy plot groups by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from deltamem.core.errors import ConfigError
from deltamem.eval.benchmarks import benchmark
from deltamem.eval.benchmarks.base import ConversationPlan, Step

__all__ = ["ConversationPlan", "Step", "build_plan", "resolve_data"]


def resolve_data(bench: str, data: Path) -> Path:
    """A data file: ``data`` itself, or the first known file name inside the folder ``data`` (or ``data/bench``)."""
    files = benchmark(bench).files
    if data.is_file():
        return data
    for folder in (data, data / bench):
        for name in files:
            if (folder / name).is_file():
                return folder / name
    raise ConfigError(f"no {bench} file in {data}: expected one of {', '.join(files)} "
                      "(see docs/evaluation.md for where to download it), or pass the file itself with --data")


def build_plan(bench: str, data: Path, *, conversations: Sequence[str] | None = None,
               sessions: int | None = None, questions: int | None = None, chunk: int = 20
               ) -> list[ConversationPlan]:
    """Load ``data`` and select conversations, sessions and questions as described in the module docstring."""
    plugin = benchmark(bench)
    if sessions is not None and sessions < 1:
        raise ConfigError("--sessions must be at least 1")
    if questions is not None and questions < 0:
        raise ConfigError("--questions must not be negative")
    plans = plugin.plans(resolve_data(bench, data), ids=conversations, sessions=sessions, chunk=chunk)
    return [_cap(p, questions) for p in plans]


def _cap(plan: ConversationPlan, n: int | None) -> ConversationPlan:
    if n is None:
        return plan
    keep = {q.id for q in plan.questions[:n]}
    steps = tuple(Step(s.session, tuple(q for q in s.questions if q.id in keep), s.gold) for s in plan.steps)
    return ConversationPlan(plan.id, plan.speakers, steps, {k: v for k, v in plan.depth.items() if k in keep})
