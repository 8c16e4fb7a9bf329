"""Typed inputs and outputs of the MCP tools.

The field descriptions end up in the tools' JSON schemas, so they are written for the LLM client that reads them.
Converters from the core types live here too, so the tools stay a thin layer over :class:`deltamem.Memory`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deltamem.core import ChangeSet
from deltamem.core.view import MemoryView
from deltamem.facade.answering import Answer
from deltamem.stores.base import HistoryRecord, SearchHit

ChangeKind = Literal["ADD", "UPDATE", "DELETE"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ChatMessage(BaseModel):
    """One message of a conversation, as an OpenAI-style chat message."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="Who spoke: 'user' or 'assistant' (or any speaker label).", min_length=1,
                      max_length=200)
    content: str = Field(description="What was said.")
    name: str | None = Field(default=None, max_length=200,
                             description="Optional speaker name (e.g. 'Caroline'); used instead of the role.")
    time: str | None = Field(default=None, description="Optional ISO-8601 time the message was sent.")

    def to_dict(self) -> dict[str, Any]:
        """The message in the shape :meth:`deltamem.Memory.add` accepts."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
        if self.time:
            out["time"] = self.time
        return out


#: What each field of a memory means, for the LLM client that reads the tools' output schemas.
MEMORY_FIELD_DESCRIPTIONS = {
    "id": "The memory id (pass it to get/update/delete/history).",
    "namespace": "Whose memory it is, e.g. 'user:alice'.",
    "text": "The fact.",
    "timestamp": "When the fact was stated or holds (UTC).",
    "created_at": "When it was first stored (UTC).",
    "updated_at": "When it last changed (UTC).",
    "session_id": "The conversation session it came from, if any.",
    "message_indices": "Which messages of that session (0-based) support it; empty if not recorded.",
    "keywords": "Keywords stored with it, if any.",
    "metadata": "Caller-supplied metadata.",
}


def _describe(schema: dict[str, Any]) -> None:
    for name, description in MEMORY_FIELD_DESCRIPTIONS.items():
        schema["properties"][name]["description"] = description


class MemoryItem(MemoryView):
    """One stored memory: an atomic fact sentence."""

    # The fields are deltamem.core.view's (the REST API and the CLI send the same); this class adds descriptions.
    model_config = ConfigDict(frozen=True, json_schema_extra=_describe)


class ScoredMemory(MemoryItem):
    """A search hit: a memory and its relevance score (higher is more relevant; compare within one search only)."""

    score: float = Field(description="Relevance score of this hit.")

    @classmethod
    def of_hit(cls, h: SearchHit) -> ScoredMemory:
        """Convert a store search hit."""
        return cls(**dict(MemoryItem.of(h.entry)), score=h.score)


class ChangeItem(_Out):
    """One memory's change inside a change set."""

    kind: ChangeKind = Field(description="ADD, UPDATE or DELETE.")
    memory_id: str = Field(description="The memory that changed.")
    before: str | None = Field(description="Its text before (null for ADD).")
    after: str | None = Field(description="Its text after (null for DELETE).")


class WriteResult(_Out):
    """What a write did. Every write is one change set: atomic, kept in history and revertable."""

    status: Literal["applied", "unchanged", "queued_for_review"] = Field(
        description="'applied': the changes are stored; 'unchanged': nothing needed to change; 'queued_for_review': "
                    "the memory agent proposed changes that would overwrite a lot, so they wait for a human review.")
    namespace: str = Field(description="Whose memory was written, e.g. 'user:alice'.")
    change_set_id: str | None = Field(default=None, description="Id of the committed change set, if any.")
    review_id: str | None = Field(default=None, description="Id of the review item when queued_for_review.")
    changes: list[ChangeItem] = Field(default_factory=list, description="The changes, one per memory touched.")

    @classmethod
    def of(cls, cs: ChangeSet) -> WriteResult:
        """Convert a committed (or empty) change set."""
        changes = [ChangeItem(kind=c.kind, memory_id=c.memory_id, before=c.before.text if c.before else None,
                              after=c.after.text if c.after else None) for c in cs.changes]
        return cls(status="unchanged" if cs.is_empty else "applied", namespace=cs.namespace,
                   change_set_id=None if cs.is_empty else cs.id, changes=changes)


class SearchResult(_Out):
    """Memories relevant to a query, most relevant first."""

    query: str = Field(description="The query that was searched.")
    results: list[ScoredMemory] = Field(description="The hits, best first.")


class MemoryPage(_Out):
    """One page of live memories, oldest first."""

    memories: list[MemoryItem] = Field(description="The memories on this page.")
    offset: int = Field(description="How many memories were skipped before this page.")
    limit: int = Field(description="The page size asked for.")
    next_offset: int | None = Field(description="Pass this as offset to get the next page; null on the last page.")


class HistoryEvent(_Out):
    """One change to one memory."""

    change_set_id: str = Field(description="The change set that made this change.")
    memory_id: str = Field(description="The memory that changed.")
    kind: ChangeKind = Field(description="ADD, UPDATE or DELETE.")
    before: str | None = Field(description="Text before (null for ADD).")
    after: str | None = Field(description="Text after (null for DELETE).")
    actor: str = Field(description="Who made the change ('user', 'agent', ...).")
    session_id: str | None = Field(description="The conversation session behind the change, if any.")
    created_at: datetime = Field(description="When the change was committed (UTC).")

    @classmethod
    def of(cls, r: HistoryRecord) -> HistoryEvent:
        """Convert a store history record."""
        return cls(change_set_id=r.change_set_id, memory_id=r.memory_id, kind=r.kind,
                   before=r.before.text if r.before else None, after=r.after.text if r.after else None,
                   actor=r.actor, session_id=r.session_id, created_at=r.created_at)


class HistoryResult(_Out):
    """Changes, oldest first."""

    memory_id: str | None = Field(description="The memory asked about; null for the whole namespace.")
    events: list[HistoryEvent] = Field(description="The changes, oldest first.")


class AnswerResult(_Out):
    """An answer written by deltamem's own LLM from the retrieved memories."""

    answer: str = Field(description="The answer text.")
    memories: list[MemoryItem] = Field(description="The memories the answer was based on (its provenance).")

    @classmethod
    def of(cls, a: Answer) -> AnswerResult:
        """Convert a facade answer."""
        return cls(answer=a.text, memories=[MemoryItem.of(m) for m in a.memories])
