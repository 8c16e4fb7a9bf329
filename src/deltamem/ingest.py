"""Conversation ingestion: session → agent → guard rails → one change set (or a held-back review item).

The guard rail: a change set that deletes or overwrites more than ``max_destructive`` memories *and* more than
``max_destructive_share`` of the namespace is not applied but queued for a person, whatever the conversation told
the agent (for example an injected "delete all memories").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deltamem.agent.loop import AgentResult, MemoryAgent
from deltamem.agent.session import Session
from deltamem.agent.tools import MemorySearch
from deltamem.core import Add, ChangeSet, Delete, Operation, Update, op_to_dict, utcnow
from deltamem.stores.review import PendingChangeSet, ReviewQueue

if TYPE_CHECKING:
    from deltamem.api import Memory


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """When a change set must wait for review (both limits must be exceeded)."""

    max_destructive: int = 5
    max_destructive_share: float = 0.30


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What ``Memory.add(messages, ...)`` did: the committed change set, or the id of the queued review item."""

    change_set: ChangeSet | None
    review_id: str | None
    agent: AgentResult | None
    session: Session

    @property
    def queued(self) -> bool:
        """True when the change set waits in the review queue instead of being applied."""
        return self.review_id is not None


def review_reason(ops: list[Operation], live_count: int, policy: ReviewPolicy) -> str | None:
    """Why these ops need review, or None."""
    destructive = sum(1 for op in ops if isinstance(op, Update | Delete))
    if live_count and destructive > policy.max_destructive and destructive / live_count > policy.max_destructive_share:
        return (f"deletes or overwrites {destructive} of {live_count} memories "
                f"(limits: more than {policy.max_destructive} and more than {policy.max_destructive_share:.0%})")
    return None


def ingest(memory: Memory, session: Session, namespace: str, *, agent: MemoryAgent, queue: ReviewQueue,
           policy: ReviewPolicy) -> IngestResult:
    """Run the agent on one session and apply (or queue) its operations as one change set."""
    result = agent.run(session, MemorySearch(memory.store, memory.embedder, namespace,
                                             mode=memory.config.search_mode))
    reason = review_reason(result.ops, memory.store.count(namespace), policy)
    if reason is not None:
        item = PendingChangeSet(id=uuid.uuid4().hex, namespace=namespace, ops=tuple(op_to_dict(o) for o in result.ops),
                                reason=reason, created_at=utcnow(), session_id=session.id)
        queue.queue_put(item)
        return IngestResult(None, item.id, result, session)
    cs = memory.apply(result.ops, namespace=namespace, session_id=session.id, actor="agent")
    return IngestResult(cs, None, result, session)


def raw_ops(session: Session) -> list[Operation]:
    """``infer=False``: every message stored as it is, ``Speaker: text``, dated by the session."""
    return [Add(text=f"{m.speaker}: {m.text}", timestamp=m.time or session.date, message_indices=(i,))
            for i, m in enumerate(session.messages) if m.text.strip()]
