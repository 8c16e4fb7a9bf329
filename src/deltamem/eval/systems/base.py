"""The one interface every compared memory system implements, and the records the harness keeps about it.

A system ingests a conversation's sessions in order, then, per question, returns the *context* it would show
the answer model (memories, retrieved turns, or the whole transcript). The harness builds the answer prompt
from that context with the same template and the same answer model for every system, so only memory differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from deltamem.core.session import Session


@dataclass(frozen=True, slots=True)
class ContextItem:
    """One piece of context: a memory, a retrieved turn or a transcript chunk, with its date where known."""

    text: str
    score: float | None = None
    date: str | None = None  # ISO date (or datetime) string of the memory / turn, where the system knows it
    id: str | None = None


@dataclass(slots=True)
class Cost:
    """What a system spent. LLM figures are for the system's own calls (ingestion, retrieval), not answering."""

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    seconds: float = 0.0
    errors: int = 0  # sessions whose ingestion failed (memory left as it was), counted, never hidden

    def add(self, other: Cost) -> None:
        """Accumulate ``other`` into this record."""
        self.llm_calls += other.llm_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens
        self.seconds += other.seconds
        self.errors += other.errors


@dataclass(frozen=True, slots=True)
class IngestReport:
    """The outcome of ingesting one session: its cost, the memory ops it made (by type) and any error text."""

    session_id: str
    cost: Cost
    ops: dict[str, int] = field(default_factory=dict)  # e.g. {"ADD": 3, "UPDATE": 1}
    error: str | None = None


@runtime_checkable
class MemorySystem(Protocol):
    """A memory system under evaluation. One instance may serve many conversations, each isolated by id."""

    @property
    def name(self) -> str:
        """Short name used in tables and plots: ``deltamem``, ``mem0``, ``full``, ``rag``."""
        ...

    def reset(self, conversation_id: str) -> None:
        """Forget everything stored for ``conversation_id`` (a fresh memory before its first session)."""
        ...

    def ingest(self, conversation_id: str, session: Session, *, speakers: tuple[str, ...] = ()) -> IngestReport:
        """Take in one session (sessions arrive in chronological order). Never raises for a model's bad output:
        the failure is reported in :attr:`IngestReport.error` and memory stays as it was."""
        ...

    def context(self, conversation_id: str, question: str, *, asked_at: datetime | None = None,
                k: int = 10) -> tuple[list[ContextItem], Cost]:
        """The context the answer model sees for ``question`` (at most ``k`` items for retrieval systems)."""
        ...

    def memories(self, conversation_id: str) -> list[ContextItem]:
        """Everything the system currently holds for ``conversation_id`` (HaluMem extraction/update scoring)."""
        ...
