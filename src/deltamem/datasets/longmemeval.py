"""LongMemEval (Wu et al., ICLR 2025): ``longmemeval_{s_cleaned,m_cleaned,oracle}.json``.

Each file is a JSON list of instances; every instance is an independent history (haystack sessions with dates)
followed by one question asked at ``question_date``. Ids ending in ``_abs`` are abstention questions.
``haystack_sessions`` are sorted by time in the _s/_m files but **not** in the oracle file, so sessions are
sorted by date here (stable, so equal dates keep file order).
"""

from __future__ import annotations

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
    maybe_verify,
    parse_date,
    read_json,
    require_file,
)

#: Third-party record (an LFS pointer) of the cleaned _s release; see the data folder's README.
KNOWN_SHA256: Mapping[str, str] = {
    "longmemeval_s_cleaned.json": "d6f21ea9d60a0d56f34a05b609c79c88a451d2ae03597821ea3d5a9678c3a442",
}

DATE_FORMAT = "%Y/%m/%d (%a) %H:%M"  # "2023/05/30 (Tue) 23:40"
QUESTION_TYPES = (
    "single-session-user",
    "single-session-assistant",
    "single-session-preference",
    "multi-session",
    "temporal-reasoning",
    "knowledge-update",
)


@dataclass(frozen=True, slots=True)
class LongMemEvalTurn:
    """One message; ``has_answer`` marks the evidence turns."""

    role: str
    content: str
    has_answer: bool = False


@dataclass(frozen=True, slots=True)
class LongMemEvalSession:
    """A haystack session with its date."""

    session_id: str
    date: datetime
    turns: tuple[LongMemEvalTurn, ...]


@dataclass(frozen=True, slots=True)
class LongMemEvalInstance:
    """One question with its own history (sessions sorted by date)."""

    question_id: str
    question_type: str
    question: str
    answer: str
    question_date: datetime
    sessions: tuple[LongMemEvalSession, ...]
    answer_session_ids: tuple[str, ...]

    @property
    def is_abstention(self) -> bool:
        """True for ``*_abs`` ids: the gold is an explanation of why the question cannot be answered."""
        return self.question_id.endswith("_abs")

    def to_conversation(self) -> Conversation:
        """The harness view: the sorted sessions, then the one question as of ``question_date``."""
        sessions = tuple(
            Session(
                id=s.session_id,
                date=s.date,
                messages=tuple(
                    Message(speaker=t.role, text=t.content, role=t.role) for t in s.turns
                ),
            )
            for s in self.sessions
        )
        q = Question(
            id=self.question_id,
            question=self.question,
            answer=self.answer,
            category=self.question_type,
            evidence_session_ids=self.answer_session_ids,
            asked_at=self.question_date,
            is_abstention=self.is_abstention,
        )
        return Conversation(id=self.question_id, sessions=sessions, questions=(q,), speakers=("user", "assistant"))


def load_longmemeval(path: str | Path, *, verify: Verify = "off") -> list[LongMemEvalInstance]:
    """Read a LongMemEval file; schema problems name the file and the instance (index and question_id)."""
    p = require_file(path)
    maybe_verify(p, KNOWN_SHA256, verify)
    data = read_json(p)
    if not isinstance(data, list):
        raise Record({}, path=p, where="top level").error(f"expected a JSON list, got {type(data).__name__}")
    return [_instance(Record(item, path=p, where=f"instance #{i}")) for i, item in enumerate(data)]


def load_longmemeval_conversations(path: str | Path, *, verify: Verify = "off") -> list[Conversation]:
    """:func:`load_longmemeval` in the harness's normalised view."""
    return [x.to_conversation() for x in load_longmemeval(path, verify=verify)]


def _instance(rec: Record) -> LongMemEvalInstance:
    qid = rec.get("question_id", str)
    rec = Record(rec.data, path=rec.path, where=f"{rec.where} ({qid})")
    qtype = rec.get("question_type", str)
    if qtype not in QUESTION_TYPES:
        raise rec.error(f"unknown question_type {qtype!r}")
    ids = rec.str_list("haystack_session_ids")
    dates = rec.str_list("haystack_dates")
    raw_sessions = rec.get("haystack_sessions", list)
    if not len(ids) == len(dates) == len(raw_sessions):
        raise rec.error(
            f"haystack_session_ids ({len(ids)}), haystack_dates ({len(dates)}) and haystack_sessions "
            f"({len(raw_sessions)}) should be parallel lists"
        )
    sessions = []
    for sid, date, turns in zip(ids, dates, raw_sessions, strict=True):
        if not isinstance(turns, list):
            raise rec.error(f"session {sid}: should be a list of turns, got {type(turns).__name__}")
        sessions.append(
            LongMemEvalSession(
                session_id=sid,
                date=parse_date(date, DATE_FORMAT, err=lambda m, sid=sid: rec.error(f"session {sid}: {m}")),
                turns=tuple(_turn(rec.child(t, f"session {sid} turn #{i}")) for i, t in enumerate(turns)),
            )
        )
    sessions.sort(key=lambda s: s.date)  # the oracle file is not in time order
    return LongMemEvalInstance(
        question_id=qid,
        question_type=qtype,
        question=rec.get("question", str),
        answer=str(rec.get("answer", (str, int, float))),
        question_date=rec.parse_date("question_date", DATE_FORMAT) or datetime.min,
        sessions=tuple(sessions),
        answer_session_ids=rec.str_list("answer_session_ids"),
    )


def _turn(t: Record) -> LongMemEvalTurn:
    return LongMemEvalTurn(
        role=t.get("role", str),
        content=t.get("content", str),
        has_answer=bool(t.get("has_answer", bool, default=False, nullable=True)),
    )
