"""The full-context baseline: no memory at all, the whole transcript so far is the context.

Sessions come back one context item each (dated), oldest first. When the transcript exceeds ``max_tokens``
(estimated at 4 characters per token), the oldest messages are dropped until it fits and the context opens with
an item saying how many were left out; its id is ``omitted:<n>``, which the harness counts per question.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from deltamem.core.errors import ConfigError
from deltamem.core.session import Session
from deltamem.eval.systems._turns import approx_tokens, iso, line
from deltamem.eval.systems.base import ContextItem, Cost, IngestReport

__all__ = ["OMITTED_PREFIX", "FullContextSystem"]

OMITTED_PREFIX = "omitted:"


class FullContextSystem:
    """Keeps every message; :meth:`context` ignores the question and returns the (budgeted) transcript."""

    def __init__(self, *, max_tokens: int = 6000, name: str = "full") -> None:
        if max_tokens < 1:
            raise ConfigError("max_tokens must be positive")
        self.max_tokens = max_tokens
        self._name = name
        self._sessions: dict[str, list[tuple[str | None, list[str]]]] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def reset(self, conversation_id: str) -> None:
        with self._lock:
            self._sessions.pop(conversation_id, None)

    def ingest(self, conversation_id: str, session: Session, *, speakers: tuple[str, ...] = ()) -> IngestReport:
        lines = [line(m, speakers) for m in session.messages if m.text.strip()]
        with self._lock:
            self._sessions.setdefault(conversation_id, []).append((iso(session.date), lines))
        return IngestReport(session_id=session.key, cost=Cost(), ops={"MESSAGES": len(lines)})

    def context(self, conversation_id: str, question: str, *, asked_at: datetime | None = None,
                k: int = 10) -> tuple[list[ContextItem], Cost]:
        start = time.perf_counter()
        with self._lock:
            sessions = [(d, list(ls)) for d, ls in self._sessions.get(conversation_id, [])]
        # Walk back from the newest message, keeping whole messages while they fit the budget.
        budget, kept_rev, omitted = self.max_tokens, [], 0
        for date, lines in reversed(sessions):
            keep: list[str] = []
            for text in reversed(lines):
                cost = approx_tokens(text) + 1
                if omitted or cost > budget:
                    omitted += 1
                    continue
                budget -= cost
                keep.append(text)
            if keep:
                kept_rev.append(ContextItem(text="\n".join(reversed(keep)), date=date))
        items = list(reversed(kept_rev))
        if omitted:
            note = f"({omitted} earlier messages are left out: the transcript exceeds the context budget)"
            items.insert(0, ContextItem(text=note, id=f"{OMITTED_PREFIX}{omitted}"))
        return items, Cost(seconds=time.perf_counter() - start)

    def memories(self, conversation_id: str) -> list[ContextItem]:
        with self._lock:
            sessions = list(self._sessions.get(conversation_id, []))
        return [ContextItem(text=t, date=d) for d, lines in sessions for t in lines]
