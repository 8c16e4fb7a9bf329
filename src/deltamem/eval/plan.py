"""What to run: a benchmark file turned into per-conversation steps (ingest this session, then ask these questions).

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
from dataclasses import dataclass, field
from pathlib import Path

from deltamem.core.errors import ConfigError
from deltamem.eval.judging import Benchmark
from deltamem.eval.loaders.common import Conversation, Question, Session
from deltamem.eval.loaders.halumem import HaluMemSession, load_halumem
from deltamem.eval.loaders.locomo import load_locomo_conversations
from deltamem.eval.loaders.longmemeval import load_longmemeval_conversations
from deltamem.eval.loaders.personamem import (
    load_personamem_contexts,
    load_personamem_questions,
    personamem_conversations,
)

__all__ = ["DEFAULT_FILES", "ConversationPlan", "Step", "build_plan", "resolve_data"]

#: File names looked for when ``--data`` is a folder (official name first, then our development part).
DEFAULT_FILES: dict[str, tuple[str, ...]] = {
    "locomo": ("locomo10.json", "locomo_dev.json"),
    "halumem": ("HaluMem-Medium.jsonl", "halumem_medium_dev.jsonl", "HaluMem-Long.jsonl"),
    "longmemeval": ("longmemeval_s_cleaned.json", "longmemeval_oracle.json", "longmemeval_m_cleaned.json"),
    "personamem": ("questions_32k.csv", "questions_32k_dev.csv"),
}


@dataclass(frozen=True, slots=True)
class Step:
    """Ingest ``session``, then ask ``questions``; ``halumem`` carries the gold memory points for scoring."""

    session: Session
    questions: tuple[Question, ...] = ()
    halumem: HaluMemSession | None = None


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


def resolve_data(bench: Benchmark, data: Path) -> Path:
    """A data file: ``data`` itself, or the first known file name inside the folder ``data`` (or ``data/bench``)."""
    if data.is_file():
        return data
    for folder in (data, data / bench):
        for name in DEFAULT_FILES[bench]:
            if (folder / name).is_file():
                return folder / name
    raise ConfigError(f"no {bench} file in {data}: expected one of {', '.join(DEFAULT_FILES[bench])} "
                      "(see docs/evaluation.md for where to download it), or pass the file itself with --data")


def build_plan(bench: Benchmark, data: Path, *, conversations: Sequence[str] | None = None,
               sessions: int | None = None, questions: int | None = None, chunk: int = 20
               ) -> list[ConversationPlan]:
    """Load ``data`` and select conversations, sessions and questions as described in the module docstring."""
    if sessions is not None and sessions < 1:
        raise ConfigError("--sessions must be at least 1")
    if questions is not None and questions < 0:
        raise ConfigError("--questions must not be negative")
    path = resolve_data(bench, data)
    if bench == "locomo":
        plans = [_locomo(c, sessions) for c in _pick(load_locomo_conversations(path), conversations)]
    elif bench == "halumem":
        users = {u.uuid: u for u in load_halumem(path)}
        convs = _pick([u.to_conversation() for u in users.values()], conversations)
        plans = [_halumem(c, users[c.id].sessions, sessions) for c in convs]
    elif bench == "personamem":
        plans = [_personamem(c, sessions, chunk) for c in _pick(_personamem_conversations(path), conversations)]
    elif bench == "longmemeval":
        plans = [_longmemeval(c, sessions) for c in _pick(load_longmemeval_conversations(path), conversations)]
    else:
        raise ConfigError(f"unknown benchmark {bench!r}")
    return [_cap(p, questions) for p in plans]


def _pick(convs: list[Conversation], ids: Sequence[str] | None) -> list[Conversation]:
    if not ids:
        return convs
    by_id = {c.id: c for c in convs}
    missing = [i for i in ids if i not in by_id]
    if missing:
        known = ", ".join(list(by_id)[:12]) + (" ..." if len(by_id) > 12 else "")
        raise ConfigError(f"unknown conversation id(s) {', '.join(missing)}; the file has {known}")
    return [by_id[i] for i in ids]


def _cap(plan: ConversationPlan, n: int | None) -> ConversationPlan:
    if n is None:
        return plan
    keep = {q.id for q in plan.questions[:n]}
    steps = tuple(Step(s.session, tuple(q for q in s.questions if q.id in keep), s.halumem) for s in plan.steps)
    return ConversationPlan(plan.id, plan.speakers, steps, {k: v for k, v in plan.depth.items() if k in keep})


def _ask_last(conv: Conversation, sessions: tuple[Session, ...], qs: list[Question], depth: dict[str, int]
              ) -> ConversationPlan:
    steps = [Step(s) for s in sessions]
    if steps:
        steps[-1] = Step(steps[-1].session, tuple(qs))
    return ConversationPlan(conv.id, conv.speakers, tuple(steps), depth)


def _locomo(conv: Conversation, n: int | None) -> ConversationPlan:
    sessions = conv.sessions[:n]
    position = {s.id: i + 1 for i, s in enumerate(sessions)}
    qs = [q for q in conv.questions
          if q.scored and q.evidence_session_ids and all(e in position for e in q.evidence_session_ids)]
    depth = {q.id: max(position[e] for e in q.evidence_session_ids) for q in qs}
    return _ask_last(conv, sessions, qs, depth)


def _longmemeval(conv: Conversation, n: int | None) -> ConversationPlan:
    sessions = conv.sessions[:n]
    ids = {s.id for s in sessions}
    qs = [q for q in conv.questions if n is None or all(e in ids for e in q.evidence_session_ids)]
    return _ask_last(conv, sessions, qs, {q.id: len(sessions) for q in qs})


def _halumem(conv: Conversation, raw: Sequence[HaluMemSession], n: int | None) -> ConversationPlan:
    by_session: dict[str, list[Question]] = {}
    for q in conv.questions:
        if q.scored and q.after_session_id is not None:
            by_session.setdefault(q.after_session_id, []).append(q)
    steps, depth = [], {}
    for i, (s, h) in enumerate(zip(conv.sessions[:n], raw, strict=False), start=1):
        qs = tuple(by_session.get(s.id, ()))
        depth.update({q.id: i for q in qs})
        steps.append(Step(s, qs, h))
    return ConversationPlan(conv.id, conv.speakers, tuple(steps), depth)


def _personamem_conversations(path: Path) -> list[Conversation]:
    folder = path.parent
    contexts = sorted(folder.glob("*contexts*.jsonl"))
    if not contexts:
        raise ConfigError(f"no shared_contexts_<size>.jsonl next to {path}: PersonaMem needs the conversation "
                          "histories (see docs/evaluation.md)")
    qs = load_personamem_questions(path)
    return personamem_conversations(qs, load_personamem_contexts(contexts[0], only={q.shared_context_id for q in qs}))


def _personamem(conv: Conversation, n: int | None, chunk: int) -> ConversationPlan:
    if chunk < 1:
        raise ConfigError("chunk must be at least 1")
    messages = conv.sessions[0].messages
    cuts = sorted({q.context_end for q in conv.questions if q.context_end})
    bounds: list[int] = []
    start = 0
    for end in [*cuts, len(messages)]:
        while end - start > chunk:
            start += chunk
            bounds.append(start)
        if end > start:
            bounds.append(end)
            start = end
    steps: list[Step] = []
    depth: dict[str, int] = {}
    lo = 0
    for i, hi in enumerate(bounds[:n], start=1):
        part = Session(id=f"{conv.id[:12]}:{lo}-{hi}", date=None, messages=messages[lo:hi])
        qs = tuple(q for q in conv.questions if q.context_end == hi)
        depth.update({q.id: i for q in qs})
        steps.append(Step(part, qs))
        lo = hi
    return ConversationPlan(conv.id, conv.speakers, tuple(steps), depth)
