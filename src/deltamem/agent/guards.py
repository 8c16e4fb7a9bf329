"""Post-processing of the model's operations, before anything is applied.

Small models repeat themselves and invent facts; capable ones occasionally touch one memory twice. Every op that is
dropped here is kept with its reason (``Rejected``) so a trace shows exactly what the model proposed and why it was
not applied. Also: relative dates become absolute, and ops get provenance (supporting message indices).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from deltamem.agent.dates import resolve
from deltamem.agent.session import Session
from deltamem.core import Add, Delete, MemoryEntry, Noop, Operation, Update
from deltamem.embed.base import Embedder
from deltamem.stores.text import STOPWORDS, stem

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_DATE_WORDS = frozenset(m.lower() for m in [*calendar.month_name[1:], *calendar.day_name]) | {
    "week", "weekend", "month", "year", "day", "today", "yesterday", "around", "during"}


@dataclass(frozen=True, slots=True)
class Rejected:
    """An operation the agent proposed but that was not applied as written, and why."""

    op: Operation
    reason: str


def rejected_dicts(items: Sequence[Rejected]) -> list[dict[str, Any]]:
    """JSON-ready trace of rejected (or repaired) ops: kind, text where the op has one, and the reason."""
    return [{"op": r.op.kind, "text": getattr(r.op, "text", None), "reason": r.reason} for r in items]


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """Thresholds of the guards (all configurable through AgentConfig)."""

    min_support: float = 0.5  # share of an op's content words that must occur in the session (or the old memory)
    duplicate_cosine: float = 0.93  # an ADD this close to a shown memory restates it


def normalise(text: str) -> str:
    """Case-folded words joined by single spaces (for exact-duplicate checks)."""
    return " ".join(_WORD.findall(text.casefold()))


def content_words(text: str) -> set[str]:
    """Stemmed content words, without stopwords and date vocabulary (resolved dates are not in the session)."""
    out = set()
    for w in _WORD.findall(text.lower()):
        if w in STOPWORDS or w in _DATE_WORDS or (len(w) < 2 and not w.isdigit()):
            continue
        if w.isdecimal() and (len(w) == 4 or (len(w) <= 2 and int(w) <= 31)):
            continue  # years and day numbers come from date resolution as often as from the session
        out.add(stem(w))
    return out


def name_words(names: Sequence[str]) -> set[str]:
    """The content words of people's names (left out when two texts are compared on what they say)."""
    return set().union(*(content_words(n) for n in names))


def detail_words(text: str) -> set[str]:
    """Stemmed words without stopwords, with dates and numbers: what a fact says, for comparing the details of two
    facts (a fact whose words are all in another's says nothing the other does not)."""
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())}


def session_vocabulary(session: Session) -> set[str]:
    """Content words of the transcript and the speakers' names."""
    vocab: set[str] = set()
    for m in session.messages:
        vocab |= content_words(m.text) | content_words(m.speaker)
    return vocab


def support(text: str, vocab: set[str]) -> float:
    """Share of the text's content words found in ``vocab`` (1.0 for a text without content words)."""
    words = content_words(text)
    return len(words & vocab) / len(words) if words else 1.0


def attribute(text: str, session: Session, *, limit: int = 3) -> tuple[int, ...]:
    """Indices of the messages that share the most content words with ``text`` (at least two, or all of them)."""
    words = content_words(text)
    scored = []
    for i, m in enumerate(session.messages):
        shared = len(words & (content_words(m.text) | content_words(m.speaker)))
        if shared >= min(2, len(words)) and shared:
            scored.append((shared, -i))
    scored.sort(reverse=True)
    return tuple(sorted(-neg for _, neg in scored[:limit]))


def sanitise(
    ops: Sequence[Operation],
    *,
    session: Session,
    shown: Mapping[str, MemoryEntry],
    embedder: Embedder | None,
    config: GuardConfig,
) -> tuple[list[Operation], list[Rejected]]:
    """Drop repeated, duplicate, unsupported and conflicting ops; date and attribute the rest.

    ``shown`` holds the memories the model saw, by memory id.
    """
    vocab = session_vocabulary(session)
    seen_text = {normalise(e.text): mid for mid, e in shown.items()}
    kept: list[Operation] = []
    rejected: list[Rejected] = []
    touched: set[str] = set()
    for op in ops:
        if isinstance(op, Update) and op.id in shown and normalise(op.text) == normalise(shown[op.id].text):
            continue  # an UPDATE that restates the memory is a no-op, not a refusal
        reason = _reject_reason(op, vocab, seen_text, shown, touched, config)
        if reason:
            rejected.append(Rejected(op, reason))
            continue
        if isinstance(op, Add | Update):
            seen_text[normalise(op.text)] = "(this session)"
        if isinstance(op, Update | Delete):
            touched.add(op.id)
        kept.append(op)
    if embedder is not None:
        kept, near = _near_duplicates(kept, shown, embedder, config.duplicate_cosine)
        rejected += near
    return [_dated(_attributed(op, session), session.date) for op in kept], rejected


def _reject_reason(op: Operation, vocab: set[str], seen_text: dict[str, str], shown: Mapping[str, MemoryEntry],
                   touched: set[str], config: GuardConfig) -> str | None:
    if isinstance(op, Noop):
        return "no-op"
    if isinstance(op, Update | Delete) and op.id in touched:
        return "a second op on the same memory"
    if isinstance(op, Add):
        dup = seen_text.get(normalise(op.text))
        if dup is not None:
            return f"repeats {dup if dup.startswith('(') else 'a stored memory'}"
        if support(op.text, vocab) < config.min_support:
            return f"not supported by the session (support {support(op.text, vocab):.2f})"
    if isinstance(op, Update):
        old = shown[op.id]
        dup = seen_text.get(normalise(op.text))
        if dup is not None and dup != op.id:
            # Overwriting one memory with another's text loses the first fact and stores the second twice
            # (the 1.5B agent did this on HaluMem).
            return f"update repeats {dup if dup.startswith('(') else 'another stored memory'}"
        if support(op.text, vocab | content_words(old.text)) < config.min_support:
            return "update not supported by the session"
    return None


def _near_duplicates(ops: list[Operation], shown: Mapping[str, MemoryEntry], embedder: Embedder,
                     threshold: float) -> tuple[list[Operation], list[Rejected]]:
    adds = [op for op in ops if isinstance(op, Add)]
    if not adds or not shown:
        return ops, []
    entries = list(shown.values())
    vecs = embedder.embed([a.text for a in adds] + [e.text for e in entries])
    sims = vecs[: len(adds)] @ vecs[len(adds):].T
    drop: dict[int, str] = {}
    for i, add in enumerate(adds):
        j = int(np.argmax(sims[i]))
        if sims[i, j] >= threshold:
            drop[id(add)] = f"near-duplicate of a stored memory ({sims[i, j]:.2f}): {entries[j].text}"
    return ([op for op in ops if id(op) not in drop],
            [Rejected(op, drop[id(op)]) for op in ops if id(op) in drop])


def _attributed(op: Operation, session: Session) -> Operation:
    if isinstance(op, Add) and not op.message_indices:
        return Add(text=op.text, timestamp=op.timestamp, keywords=op.keywords, metadata=op.metadata,
                   message_indices=attribute(op.text, session))
    if isinstance(op, Update) and not op.message_indices:
        return Update(id=op.id, text=op.text, timestamp=op.timestamp, keywords=op.keywords, metadata=op.metadata,
                      message_indices=attribute(op.text, session))
    return op


def _dated(op: Operation, session_date: datetime | None) -> Operation:
    """Absolute dates for relative expressions; the memory's timestamp is the date meant, else one the episode
    kept (a memory left with part of its text keeps its date), else the session date (never a time the model wrote:
    the parser leaves those out)."""
    if not isinstance(op, Add | Update) or session_date is None:
        return op
    r = resolve(op.text, session_date)
    when = r.date or op.timestamp or session_date
    if isinstance(op, Add):
        return Add(text=r.text, timestamp=when, keywords=op.keywords, metadata=op.metadata,
                   message_indices=op.message_indices)
    return Update(id=op.id, text=r.text, timestamp=when, keywords=op.keywords, metadata=op.metadata,
                  message_indices=op.message_indices)
