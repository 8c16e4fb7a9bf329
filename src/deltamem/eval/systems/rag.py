"""The retrieval baseline: every raw turn is embedded (with its session date); a question gets the top-k turns.

It uses the same embedder as deltamem, so the comparison isolates what the memory agent adds over plain retrieval
of what was said. Items come back best first with their cosine score.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from deltamem.core.session import Session
from deltamem.eval.systems._turns import iso, line
from deltamem.eval.systems.base import ContextItem, Cost, IngestReport

__all__ = ["RagSystem"]

from deltamem.embed.base import Embedder


@dataclass
class _Index:
    items: list[ContextItem] = field(default_factory=list)
    vectors: list[NDArray[np.float32]] = field(default_factory=list)


class RagSystem:
    """Top-k raw turns by cosine similarity to the question."""

    def __init__(self, embedder: Embedder, *, name: str = "rag") -> None:
        self.embedder = embedder
        self._name = name
        self._index: dict[str, _Index] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def reset(self, conversation_id: str) -> None:
        with self._lock:
            self._index.pop(conversation_id, None)

    def ingest(self, conversation_id: str, session: Session, *, speakers: tuple[str, ...] = ()) -> IngestReport:
        start = time.perf_counter()
        # A turn is named by its position in the session: "<session id>#<index>".
        items = [ContextItem(text=line(m, speakers), date=iso(session.date), id=f"{session.id}#{i}")
                 for i, m in enumerate(session.messages) if m.text.strip()]
        vectors = self.embedder.embed([i.text for i in items]) if items else None
        with self._lock:
            idx = self._index.setdefault(conversation_id, _Index())
            idx.items.extend(items)
            if vectors is not None:
                idx.vectors.extend(np.asarray(v, dtype=np.float32) for v in vectors)
        return IngestReport(session_id=session.key, cost=Cost(seconds=time.perf_counter() - start),
                            ops={"TURNS": len(items)})

    def context(self, conversation_id: str, question: str, *, asked_at: datetime | None = None,
                k: int = 10) -> tuple[list[ContextItem], Cost]:
        start = time.perf_counter()
        with self._lock:
            idx = self._index.get(conversation_id, _Index())
            items, vectors = list(idx.items), list(idx.vectors)
        if not items or k <= 0:
            return [], Cost(seconds=time.perf_counter() - start)
        q = self.embedder.embed([question])[0]
        scores = np.stack(vectors) @ np.asarray(q, dtype=np.float32)
        # Stable sort on the negated score: equal scores keep conversation order, so results are reproducible.
        order = np.argsort(-scores, kind="stable")[:k]
        out = [ContextItem(text=items[i].text, score=float(scores[i]), date=items[i].date, id=items[i].id)
               for i in order]
        return out, Cost(seconds=time.perf_counter() - start)

    def memories(self, conversation_id: str) -> list[ContextItem]:
        with self._lock:
            return list(self._index.get(conversation_id, _Index()).items)
