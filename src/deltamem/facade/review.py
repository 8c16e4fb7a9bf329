"""``memory.review``: list, diff, approve, edit and reject change sets held back by the guard rails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from deltamem.core import (
    ChangeSet,
    ConflictError,
    Delete,
    Update,
    apply,
    op_from_dict,
    op_to_dict,
    utcnow,
)
from deltamem.core.changeset import check_fields, check_label
from deltamem.facade.scope import namespace_for
from deltamem.facade.writer import ChangeWriter
from deltamem.stores.review import PendingChangeSet, ReviewQueue, ReviewStatus


class Review:
    """The review queue of a Memory (every call is scoped like the facade's: user_id / agent_id / namespace)."""

    def __init__(self, writer: ChangeWriter, queue: ReviewQueue) -> None:
        self._writer = writer
        self.queue = queue

    def list(self, *, user_id: str | None = None, agent_id: str | None = None, namespace: str | None = None,
             status: ReviewStatus | None = "pending") -> list[PendingChangeSet]:
        """Queued change sets, oldest first."""
        return self.queue.queue_list(namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace),
                                     status=status)

    def get(self, item_id: str, **scope: Any) -> PendingChangeSet:
        """One queued change set."""
        return self.queue.queue_get(namespace_for(**scope), item_id)

    def diff(self, item_id: str, **scope: Any) -> ChangeSet:
        """What approving would change now (computed against the current state; nothing is written)."""
        item = self.get(item_id, **scope)
        ops = [op_from_dict(o, index=i) for i, o in enumerate(item.ops)]
        ids = [op.id for op in ops if isinstance(op, Update | Delete)]
        return apply(self._writer.store.get(item.namespace, ids), ops, session_id=item.session_id, actor="review")

    def approve(self, item_id: str, *, by: str = "reviewer", **scope: Any) -> ChangeSet:
        """Apply the queued operations as one change set and mark the item approved."""
        item = self._pending(item_id, scope)
        ops = [op_from_dict(o, index=i) for i, o in enumerate(item.ops)]
        cs = self._writer.apply(ops, namespace=item.namespace, session_id=item.session_id, actor=f"review:{by}")
        self.queue.queue_update(replace(item, status="approved", resolved_at=utcnow(), resolved_by=by,
                                        change_set_id=cs.id))
        return cs

    def edit(self, item_id: str, ops: Sequence[dict[str, Any]], **scope: Any) -> PendingChangeSet:
        """Replace the queued operations (validated as ops, each field as approving would check it; still pending).
        Whether their ids are live is checked when the item is approved."""
        item = self._pending(item_id, scope)
        parsed = [op_from_dict(o, index=i) for i, o in enumerate(ops)]
        for i, op in enumerate(parsed):
            check_fields(op, i, max_text_chars=self._writer.config.max_text_chars,
                         metadata_limits=self._writer.config.metadata_limits())
        edited = replace(item, ops=tuple(op_to_dict(o) for o in parsed))
        self.queue.queue_update(edited)
        return edited

    def reject(self, item_id: str, *, by: str = "reviewer", **scope: Any) -> PendingChangeSet:
        """Discard the queued change set (kept in the queue as rejected, for the record)."""
        item = self._pending(item_id, scope)
        check_label(by, "by")  # approve checks it as part of the actor of the change set it commits
        rejected = replace(item, status="rejected", resolved_at=utcnow(), resolved_by=by)
        self.queue.queue_update(rejected)
        return rejected

    def _pending(self, item_id: str, scope: dict[str, Any]) -> PendingChangeSet:
        item = self.get(item_id, **scope)
        if item.status != "pending":
            raise ConflictError(f"queued change set {item_id} is already {item.status}")
        return item
