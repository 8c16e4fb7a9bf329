"""deltamem itself as a :class:`MemorySystem`: the memory agent turns each session into ADD/UPDATE/DELETE ops.

One :class:`deltamem.facade.memory.Memory` over an in-memory store (or a SQLite file in a temporary folder) holds every
conversation, each in its own namespace. The review guard rail is switched off: in an evaluation every change set
the agent proposes is applied, since nobody is there to approve it.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Literal

from deltamem.config import AgentSettings, MemoryConfig, ReviewPolicy
from deltamem.core.errors import AgentOutputError, ConfigError
from deltamem.core.session import Session
from deltamem.embed.base import Embedder
from deltamem.eval.metering import MeteredChatModel
from deltamem.eval.systems._turns import iso, speaker_name
from deltamem.eval.systems.base import ContextItem, Cost, IngestReport
from deltamem.facade.answering import memory_context, ordered
from deltamem.facade.memory import Memory
from deltamem.llm.base import ChatModel
from deltamem.stores.base import ArchiveStore
from deltamem.stores.memory import InMemoryStore

__all__ = ["DeltamemSystem", "session_messages"]

_NEVER_REVIEW = ReviewPolicy(enabled=False)


def session_messages(session: Session, speakers: tuple[str, ...]) -> list[dict[str, str]]:
    """The session as deltamem's agent reads it: ``{speaker, text}`` per non-empty message."""
    return [{"speaker": speaker_name(m, speakers), "text": m.text} for m in session.messages if m.text.strip()]


class DeltamemSystem:
    """deltamem's agent with any ChatModel; memories are retrieved with the facade's hybrid search."""

    def __init__(self, llm: ChatModel, embedder: Embedder, *, store: Literal["memory", "sqlite"] = "memory",
                 name: str = "deltamem", agent: AgentSettings | None = None) -> None:
        self._llm = llm if isinstance(llm, MeteredChatModel) else MeteredChatModel(llm)
        self._name = name
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        backend: ArchiveStore
        if store == "memory":
            backend = InMemoryStore()
        elif store == "sqlite":
            from deltamem.stores.sqlite import SqliteStore

            self._tmp = tempfile.TemporaryDirectory(prefix="deltamem-eval-")
            backend = SqliteStore(Path(self._tmp.name) / "memory.db")
        else:
            raise ConfigError(f"store must be 'memory' or 'sqlite', not {store!r}")
        config = MemoryConfig(agent=agent or AgentSettings())  # the agent as users get it, unless told otherwise
        self.memory = Memory(store=backend, embedder=embedder, llm=self._llm, review_policy=_NEVER_REVIEW,
                             config=config)

    @property
    def name(self) -> str:
        return self._name

    def close(self) -> None:
        """Close the store and remove the temporary SQLite folder, if any."""
        self.memory.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def reset(self, conversation_id: str) -> None:
        self.memory.reset(namespace=conversation_id)

    def ingest(self, conversation_id: str, session: Session, *, speakers: tuple[str, ...] = ()) -> IngestReport:
        messages = session_messages(session, speakers)
        start = time.perf_counter()
        ops: Counter[str] = Counter()
        error: str | None = None
        with self._llm.measure() as usage:
            if messages:
                try:
                    result = self.memory.add(messages, namespace=conversation_id, session_id=session.id,
                                             session_date=session.date)
                except AgentOutputError as e:
                    # Memory is untouched; the raw reply is kept (shortened) so a report can show what went wrong.
                    error = f"{e} | raw: {e.raw[:500]}"
                else:
                    if result.change_set is not None:
                        ops.update(c.kind for c in result.change_set.changes)
                    if result.agent is not None:
                        # An UPDATE of an id never shown is repaired into an ADD (counted with the ADDs if it
                        # passed the guards); only the rejected ones were really refused.
                        if result.agent.repaired:
                            ops["REPAIRED"] += len(result.agent.repaired)
                        if result.agent.rejected:
                            ops["REJECTED"] += len(result.agent.rejected)
        cost = Cost(llm_calls=usage.calls, prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens, cached_tokens=usage.cached_tokens,
                    seconds=time.perf_counter() - start, errors=int(error is not None))
        return IngestReport(session_id=session.key, cost=cost, ops=dict(ops), error=error)

    def context(self, conversation_id: str, question: str, *, asked_at: datetime | None = None,
                k: int = 10) -> tuple[list[ContextItem], Cost]:
        start = time.perf_counter()
        # The same search, order and rendering as Memory.answer (deltamem.facade.answering.ordered, memory_context).
        hits = self.memory.search(question, namespace=conversation_id, k=k)
        score = {h.entry.id: h.score for h in hits}
        items = [ContextItem(text=memory_context(e)[1], score=score[e.id], date=iso(e.timestamp), id=e.id)
                 for e in ordered(hits)]
        return items, Cost(seconds=time.perf_counter() - start)

    def memories(self, conversation_id: str) -> list[ContextItem]:
        return [ContextItem(text=e.text, date=iso(e.timestamp), id=e.id)
                for e in self.memory.get_all(namespace=conversation_id)]
