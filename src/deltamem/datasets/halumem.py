"""HaluMem (Chen et al., 2025): ``HaluMem-Medium.jsonl`` / ``HaluMem-Long.jsonl`` and parts of them.

One JSON object per line = one user: chronological sessions, each with its dialogue, the gold memory points
extracted from it (some are updates of earlier ones, some are planted "interference" distractors) and the
questions asked right after it. Quirks handled: ``is_update`` is the string ``"True"``/``"False"``; evidence
memory types may be bracketed (``"[Persona Memory]"``, ``"[<date>][Event Memory]"``); questions exist only on some
sessions; HaluMem-Long's distractor sessions carry ``is_generated_qa_session``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from deltamem.core.session import Message, Session
from deltamem.datasets.common import (
    Conversation,
    Question,
    Record,
    Verify,
    iter_jsonl,
    maybe_verify,
    require_file,
)

KNOWN_SHA256: Mapping[str, str] = {
    "halumem_medium_dev.jsonl": "a8cf7794d728aad99e46be6c4067609b5266dd544a7d2ad6d0eafd5e5feb2146",
}

DATE_FORMAT = "%b %d, %Y, %H:%M:%S"  # "Sep 04, 2025, 10:44:31" (treated as UTC by the official harness)
MEMORY_TYPES = ("Persona Memory", "Event Memory", "Relationship Memory")
QUESTION_TYPES = (
    "Basic Fact Recall",
    "Multi-hop Inference",
    "Dynamic Update",
    "Memory Boundary",
    "Memory Conflict",
    "Generalization & Application",
)
_NAME = re.compile(r"Name:\s*(.*?)\s*;\s*Gender:")


@dataclass(frozen=True, slots=True)
class HaluMemTurn:
    """One dialogue message; both messages of a user/assistant pair share ``dialogue_turn``."""

    role: str
    content: str
    timestamp: datetime | None
    dialogue_turn: int


@dataclass(frozen=True, slots=True)
class HaluMemMemoryPoint:
    """A gold memory of a session. Interference points are distractors that must NOT be stored."""

    index: int
    content: str
    memory_type: str
    memory_source: str  # "primary" | "secondary" | "system" | "interference"
    is_update: bool
    original_memories: tuple[str, ...]
    importance: float
    timestamp: datetime | None
    event_source: int | None = None
    reason: str | None = None
    reference_memory_content: str | None = None

    @property
    def is_interference(self) -> bool:
        """True for a planted distractor."""
        return self.memory_source == "interference"


@dataclass(frozen=True, slots=True)
class HaluMemEvidence:
    """A key memory point behind a question (``memory_type`` with brackets/dates stripped)."""

    memory_content: str
    memory_type: str


@dataclass(frozen=True, slots=True)
class HaluMemQuestion:
    """A question asked right after its session."""

    question: str
    answer: str
    evidence: tuple[HaluMemEvidence, ...]
    difficulty: str
    question_type: str


@dataclass(frozen=True, slots=True)
class HaluMemSession:
    """A session with its dialogue, gold memory points and questions."""

    index: int
    start_time: datetime | None
    end_time: datetime | None
    dialogue: tuple[HaluMemTurn, ...]
    memory_points: tuple[HaluMemMemoryPoint, ...]
    questions: tuple[HaluMemQuestion, ...]
    dialogue_token_length: int | None = None
    is_generated_qa_session: bool = False  # HaluMem-Long distractor: ingest it, score nothing of it

    @property
    def id(self) -> str:
        """The session id used in the normalised view."""
        return f"session_{self.index + 1}"


@dataclass(frozen=True, slots=True)
class HaluMemUser:
    """One user record (one line of the file)."""

    uuid: str
    user_name: str
    persona_info: str
    sessions: tuple[HaluMemSession, ...]
    total_dialogue_token_length: int | None
    total_question_count: int | None

    def to_conversation(self) -> Conversation:
        """The harness view; each question carries ``after_session_id`` (it is asked right after that session)."""
        sessions: list[Session] = []
        questions: list[Question] = []
        first_seen: dict[str, str] = {}  # memory text -> id of the first session holding it
        for s in self.sessions:
            sessions.append(
                Session(
                    id=s.id,
                    date=s.start_time,
                    messages=tuple(
                        Message(speaker=t.role, text=t.content, role=t.role) for t in s.dialogue
                    ),
                )
            )
            for mp in s.memory_points:
                first_seen.setdefault(mp.content, s.id)
            for j, q in enumerate(s.questions):
                texts = tuple(e.memory_content for e in q.evidence)
                questions.append(
                    Question(
                        id=f"{self.uuid}:{s.id}:{j}",
                        question=q.question,
                        answer=q.answer,
                        category=q.question_type,
                        evidence_session_ids=tuple(dict.fromkeys(first_seen[t] for t in texts if t in first_seen)),
                        evidence=texts,
                        asked_at=s.end_time,
                        after_session_id=s.id,
                        is_abstention=q.question_type == "Memory Boundary",
                        scored=not s.is_generated_qa_session,
                    )
                )
        return Conversation(id=self.uuid, sessions=tuple(sessions), questions=tuple(questions),
                            speakers=(self.user_name, "assistant"))


def normalise_memory_type(raw: str) -> str:
    """``"[Persona Memory]"`` / ``"[2025-10-01][Event Memory]"`` -> ``"Persona Memory"`` / ``"Event Memory"``."""
    parts = re.findall(r"\[([^\]]*)\]", raw)
    return (parts[-1] if parts else raw).strip()


def load_halumem(path: str | Path, *, verify: Verify = "off") -> list[HaluMemUser]:
    """Read a HaluMem JSONL file (one user per line); schema problems name the file, line and record."""
    p = require_file(path)
    maybe_verify(p, KNOWN_SHA256, verify)
    return [_user(Record(obj, path=p, where=f"line {lineno}")) for lineno, obj in iter_jsonl(p)]


def load_halumem_conversations(path: str | Path, *, verify: Verify = "off") -> list[Conversation]:
    """:func:`load_halumem` in the harness's normalised view."""
    return [u.to_conversation() for u in load_halumem(path, verify=verify)]


def _user(rec: Record) -> HaluMemUser:
    uuid = rec.get("uuid", str)
    rec = Record(rec.data, path=rec.path, where=f"{rec.where} (user {uuid})")
    persona = rec.get("persona_info", str, default="")
    m = _NAME.search(persona)
    return HaluMemUser(
        uuid=uuid,
        user_name=m.group(1) if m else "",
        persona_info=persona,
        sessions=tuple(_session(rec.child(s, f"session #{i}"), i) for i, s in enumerate(rec.get("sessions", list))),
        total_dialogue_token_length=rec.get("total_dialogue_token_length", int, default=None, nullable=True),
        total_question_count=rec.get("total_question_count", int, default=None, nullable=True),
    )


def _session(s: Record, index: int) -> HaluMemSession:
    dialogue = tuple(
        HaluMemTurn(
            role=t.get("role", str),
            content=t.get("content", str),
            timestamp=t.parse_date("timestamp", DATE_FORMAT, default=None),
            dialogue_turn=t.get("dialogue_turn", int, default=i // 2),
        )
        for i, t in ((i, s.child(raw, f"dialogue #{i}")) for i, raw in enumerate(s.get("dialogue", list)))
    )
    raw_points = s.get("memory_points", list)
    points = tuple(_memory_point(s.child(raw, f"memory point #{i}")) for i, raw in enumerate(raw_points))
    raw_questions = s.get("questions", list, default=[])  # only sessions that carry questions have the key
    questions = tuple(_question(s.child(raw, f"question #{i}")) for i, raw in enumerate(raw_questions))
    return HaluMemSession(
        index=index,
        start_time=s.parse_date("start_time", DATE_FORMAT),
        end_time=s.parse_date("end_time", DATE_FORMAT, default=None),
        dialogue=dialogue,
        memory_points=points,
        questions=questions,
        dialogue_token_length=s.get("dialogue_token_length", int, default=None, nullable=True),
        is_generated_qa_session=bool(s.get("is_generated_qa_session", bool, default=False)),
    )


def _memory_point(m: Record) -> HaluMemMemoryPoint:
    raw_update = m.get("is_update", (str, bool))
    if isinstance(raw_update, bool):
        is_update = raw_update
    elif raw_update.strip().lower() in ("true", "false"):
        is_update = raw_update.strip().lower() == "true"
    else:
        raise m.error(f"is_update should be 'True' or 'False', got {raw_update!r}")
    return HaluMemMemoryPoint(
        index=m.get("index", int),
        content=m.get("memory_content", str),
        memory_type=normalise_memory_type(m.get("memory_type", str)),
        memory_source=m.get("memory_source", str),
        is_update=is_update,
        original_memories=m.str_list("original_memories", required=False),
        importance=float(m.get("importance", (int, float))),
        timestamp=m.parse_date("timestamp", DATE_FORMAT, default=None),
        event_source=m.get("event_source", int, default=None, nullable=True),
        reason=m.get("reason", str, default=None, nullable=True),
        reference_memory_content=m.get("reference_memory_content", str, default=None, nullable=True),
    )


def _question(q: Record) -> HaluMemQuestion:
    evidence = tuple(
        HaluMemEvidence(
            memory_content=e.get("memory_content", str),
            memory_type=normalise_memory_type(e.get("memory_type", str, default="")),
        )
        for e in (q.child(raw, f"evidence #{i}") for i, raw in enumerate(q.get("evidence", list, default=[])))
    )
    return HaluMemQuestion(
        question=q.get("question", str),
        answer=str(q.get("answer", (str, int, float))),
        evidence=evidence,
        difficulty=q.get("difficulty", str, default=""),
        question_type=q.get("question_type", str),
    )
