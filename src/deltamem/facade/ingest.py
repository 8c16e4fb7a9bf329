"""Conversation ingestion: session → agent → guard rails → one change set (or a held-back review item).

The guard rail: a change set that would delete or overwrite too much of the namespace, by itself or with the
agent's recent change sets (:mod:`deltamem.facade.review_policy`), is not applied but queued for a person with the
reason, whatever the conversation told the agent (for example an injected "delete all memories").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from deltamem.agent.loop import AgentResult, MemoryAgent
from deltamem.agent.session import Session
from deltamem.agent.tools import MemorySearch
from deltamem.config import ReviewPolicy
from deltamem.core import Add, ChangeSet, Operation, op_to_dict, utcnow
from deltamem.facade.review_policy import AGENT_ACTOR, review_reason
from deltamem.facade.writer import ChangeWriter
from deltamem.stores.base import SearchMode
from deltamem.stores.review import PendingChangeSet, ReviewQueue


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


def ingest(writer: ChangeWriter, session: Session, namespace: str, *, agent: MemoryAgent, queue: ReviewQueue,
           policy: ReviewPolicy, search_mode: SearchMode) -> IngestResult:
    """Run the agent on one session and apply (or queue) its operations as one change set."""
    result = agent.run(session, MemorySearch(writer.store, writer.embedder, namespace, mode=search_mode))
    reason = review_reason(writer.store, namespace, result.ops, policy)
    if reason is not None:
        item = PendingChangeSet(id=uuid.uuid4().hex, namespace=namespace, ops=tuple(op_to_dict(o) for o in result.ops),
                                reason=reason, created_at=utcnow(), session_id=session.id)
        queue.queue_put(item)
        return IngestResult(None, item.id, result, session)
    cs = writer.apply(result.ops, namespace=namespace, session_id=session.id, actor=AGENT_ACTOR)
    return IngestResult(cs, None, result, session)


def raw_ops(session: Session) -> list[Operation]:
    """``infer=False``: every message stored as it is, ``Speaker: text``, dated by the session."""
    return [Add(text=f"{m.speaker}: {m.text}", timestamp=m.time or session.date, message_indices=(i,))
            for i, m in enumerate(session.messages) if m.text.strip()]
