"""LoCoMo (Maharana et al., ACL 2024): ``locomo10.json`` and parts of it in the same schema.

The file is a JSON list of conversations. Quirks handled here (see the data folder's README): orphan
``session_<N>_date_time`` keys without a ``session_<N>`` list, integer answers, category-5 questions with only an
``adversarial_answer``, malformed evidence strings (ids are pulled out with ``D\\d+:\\d+``), and observation facts
whose evidence is a list of ids. ``observation`` / ``session_summary`` / ``event_summary`` are annotated side
material a memory system must not read; they are kept apart from :meth:`LocomoSample.to_conversation`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from deltamem.core.session import Message, Session
from deltamem.datasets.common import (
    Conversation,
    Question,
    Record,
    Verify,
    maybe_verify,
    read_json,
    require_file,
)

#: Published sha256 of the files this loader knows (official file and our development part).
KNOWN_SHA256: Mapping[str, str] = {
    "locomo10.json": "79fa87e90f04081343b8c8debecb80a9a6842b76a7aa537dc9fdf651ea698ff4",
    "locomo_dev.json": "fc003e021fc57d5583399b67ea5dbdfb62cdfe16ef7c3377c6c64953155a4cc5",
}

DATE_FORMAT = "%I:%M %p on %d %B, %Y"  # "1:56 pm on 8 May, 2023"
_SESSION_KEY = re.compile(r"^session_(\d+)$")
_DIA_ID = re.compile(r"D(\d+):(\d+)")

#: Category number -> meaning, following the data (see docs/benchmarks.md for the mem0-lineage naming trap).
CATEGORY_NAMES: Mapping[int, str] = {
    1: "multi-hop",
    2: "temporal",
    3: "open-domain",
    4: "single-hop",
    5: "adversarial",
}
#: Categories the mem0-lineage metrics score (5, adversarial, is skipped).
SCORED_CATEGORIES: tuple[int, ...] = (1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class LocomoTurn:
    """One turn; ``blip_caption`` / ``img_urls`` / ``query`` describe a shared photo (images are not included)."""

    speaker: str
    dia_id: str | None  # "D<session>:<turn>"; None in a file written by hand without ids
    text: str
    blip_caption: str | None = None
    img_urls: tuple[str, ...] = ()
    query: str | None = None

    @property
    def text_with_photo(self) -> str:
        """The text, followed by ``[shares a photo: <caption>]`` where the turn shares one."""
        return self.text + (f" [shares a photo: {self.blip_caption}]" if self.blip_caption else "")


@dataclass(frozen=True, slots=True)
class LocomoSession:
    """``session_<number>`` with its parsed date-time (None when the file has no date key for it)."""

    number: int
    date: datetime | None
    date_text: str | None
    turns: tuple[LocomoTurn, ...]


@dataclass(frozen=True, slots=True)
class LocomoQA:
    """A question; ``answer`` is None only for adversarial items without a gold answer."""

    index: int
    question: str
    answer: str | None
    category: int
    evidence: tuple[str, ...]  # well-formed "D<session>:<turn>" ids only
    raw_evidence: tuple[str, ...]
    adversarial_answer: str | None = None

    @property
    def category_name(self) -> str:
        """The meaning of :attr:`category` (``"multi-hop"``, ``"temporal"``, ...)."""
        return CATEGORY_NAMES[self.category]

    @property
    def scored(self) -> bool:
        """False for category 5, which the mem0-lineage metrics skip."""
        return self.category in SCORED_CATEGORIES


@dataclass(frozen=True, slots=True)
class LocomoObservation:
    """An annotated fact about a speaker with the dia_ids that support it (side material)."""

    speaker: str
    fact: str
    dia_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LocomoSample:
    """One conversation of the file, with its questions and side material."""

    sample_id: str
    speaker_a: str
    speaker_b: str
    sessions: tuple[LocomoSession, ...]
    qa: tuple[LocomoQA, ...]
    observations: Mapping[int, tuple[LocomoObservation, ...]]
    session_summaries: Mapping[int, str]
    event_summary: Mapping[str, Any]  # kept as read: generated side material, not validated

    def to_conversation(self) -> Conversation:
        """The harness view: only what a memory system may see, then every question (category 5 unscored)."""
        sessions = tuple(
            Session(
                id=f"session_{s.number}",
                date=s.date,
                messages=tuple(
                    Message(speaker=t.speaker, text=t.text, id=t.dia_id) for t in s.turns
                ),
            )
            for s in self.sessions
        )
        questions = tuple(
            Question(
                id=f"{self.sample_id}:{q.index}",
                question=q.question,
                answer=q.answer if q.answer is not None else "",
                category=str(q.category),
                evidence_session_ids=tuple(dict.fromkeys(f"session_{session_of(d)}" for d in q.evidence)),
                evidence=q.evidence,
                scored=q.scored,
            )
            for q in self.qa
        )
        return Conversation(
            id=self.sample_id, sessions=sessions, questions=questions, speakers=(self.speaker_a, self.speaker_b)
        )


def session_of(dia_id: str) -> int:
    """The session number of a ``"D<session>:<turn>"`` id."""
    m = _DIA_ID.fullmatch(dia_id)
    if m is None:
        raise ValueError(f"not a dia_id: {dia_id!r}")
    return int(m.group(1))


def load_locomo(path: str | Path, *, verify: Verify = "off") -> list[LocomoSample]:
    """Read a LoCoMo file (``locomo10.json`` or a part of it in the same schema).

    ``verify="warn"|"raise"`` checks the file's sha256 against :data:`KNOWN_SHA256` first. Schema problems raise
    :class:`~deltamem.core.errors.CorruptDataError` naming the file and the record.
    """
    p = require_file(path)
    maybe_verify(p, KNOWN_SHA256, verify)
    data = read_json(p)
    if not isinstance(data, list):
        raise Record({}, path=p, where="top level").error(f"expected a JSON list, got {type(data).__name__}")
    return [_sample(Record(item, path=p, where=f"conversation #{i}")) for i, item in enumerate(data)]


def load_locomo_conversations(path: str | Path, *, verify: Verify = "off") -> list[Conversation]:
    """:func:`load_locomo` in the harness's normalised view."""
    return [s.to_conversation() for s in load_locomo(path, verify=verify)]


def _sample(rec: Record) -> LocomoSample:
    sample_id = rec.get("sample_id", str)
    rec = Record(rec.data, path=rec.path, where=f"{rec.where} ({sample_id})")
    conv = rec.child(rec.get("conversation", dict), "conversation")
    sessions = locomo_sessions(conv)
    qa = tuple(_qa(rec.child(q, f"qa #{i}"), i) for i, q in enumerate(rec.get("qa", list)))
    return LocomoSample(
        sample_id=sample_id,
        speaker_a=conv.get("speaker_a", str),
        speaker_b=conv.get("speaker_b", str),
        sessions=sessions,
        qa=qa,
        observations=_observations(rec),
        session_summaries=_summaries(rec),
        event_summary=rec.get("event_summary", dict, default={}),
    )


def locomo_sessions(conversation: Record) -> tuple[LocomoSession, ...]:
    """The ``session_<N>`` lists of one sample's ``conversation`` object, in session order."""
    numbers = sorted(int(m.group(1)) for k in conversation.data if (m := _SESSION_KEY.match(k)))
    # Orphan session_<N>_date_time keys (no session_<N> list) exist in conv-26: they are simply never looked up.
    return tuple(_session(conversation, n) for n in numbers)


def _session(conv: Record, n: int) -> LocomoSession:
    date_text = conv.get(f"session_{n}_date_time", str, default=None)
    date = conv.parse_date(f"session_{n}_date_time", DATE_FORMAT) if date_text is not None else None
    turns = []
    for i, raw in enumerate(conv.get(f"session_{n}", list)):
        t = conv.child(raw, f"session_{n} turn #{i}")
        turns.append(
            LocomoTurn(
                speaker=t.get("speaker", str),
                dia_id=t.get("dia_id", str, default=None),
                text=t.get("text", str),
                blip_caption=t.get("blip_caption", str, default=None, nullable=True),
                img_urls=_urls(t),
                query=t.get("query", str, default=None, nullable=True),
            )
        )
    return LocomoSession(number=n, date=date, date_text=date_text, turns=tuple(turns))


def _urls(t: Record) -> tuple[str, ...]:
    raw = t.get("img_url", (list, str), default=None, nullable=True)
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    return t.str_list("img_url")


def _qa(q: Record, index: int) -> LocomoQA:
    category = q.get("category", int)
    if category not in CATEGORY_NAMES:
        raise q.error(f"category {category} is not one of 1-5")
    answer = q.get("answer", (str, int, float), default=None, nullable=True)
    if answer is None and category != 5:
        raise q.error("missing required key 'answer' (only category-5 questions may lack it)")
    raw_evidence = q.str_list("evidence")
    # Malformed entries ("D8:6; D9:17", "D", "D:11:26") exist: keep every well-formed id, drop the rest.
    evidence = tuple(dict.fromkeys(m.group(0) for e in raw_evidence for m in _DIA_ID.finditer(e)))
    adv = q.get("adversarial_answer", (str, int, float), default=None, nullable=True)
    return LocomoQA(
        index=index,
        question=q.get("question", str),
        answer=None if answer is None else str(answer),
        category=category,
        evidence=evidence,
        raw_evidence=raw_evidence,
        adversarial_answer=None if adv is None else str(adv),
    )


def _observations(rec: Record) -> dict[int, tuple[LocomoObservation, ...]]:
    raw = rec.child(rec.get("observation", dict, default={}), "observation")
    out: dict[int, tuple[LocomoObservation, ...]] = {}
    for key, per_speaker in raw.data.items():
        m = re.fullmatch(r"session_(\d+)_observation", key)
        if m is None:
            continue
        facts: list[LocomoObservation] = []
        for speaker, items in raw.child(per_speaker, key).data.items():
            if not isinstance(items, list):
                raise raw.error(f"{key}.{speaker} should be a list")
            for item in items:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise raw.error(f"{key}.{speaker}: a fact should be [sentence, dia_id(s)], got {item!r}")
                ids = item[1] if isinstance(item[1], list) else [item[1]]  # a list of ids 10 times in the file
                facts.append(LocomoObservation(speaker=speaker, fact=item[0], dia_ids=tuple(str(i) for i in ids)))
        out[int(m.group(1))] = tuple(facts)
    return out


def _summaries(rec: Record) -> dict[int, str]:
    raw = rec.child(rec.get("session_summary", dict, default={}), "session_summary")
    out: dict[int, str] = {}
    for key in raw.data:
        m = re.fullmatch(r"session_(\d+)_summary", key)
        if m is not None:
            out[int(m.group(1))] = raw.get(key, str)
    return out
