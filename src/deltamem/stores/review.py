"""The review queue: change sets held back because they delete or overwrite too much of a namespace."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from deltamem.core import ConflictError, NotFoundError

ReviewStatus = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class PendingChangeSet:
    """Operations proposed for a namespace, waiting for a person. ``ops`` are op dicts with real memory ids."""

    id: str
    namespace: str
    ops: tuple[dict[str, Any], ...]
    reason: str
    created_at: datetime
    session_id: str | None = None
    actor: str = "agent"
    status: ReviewStatus = "pending"
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    change_set_id: str | None = None  # the change set an approval committed


@runtime_checkable
class ReviewQueue(Protocol):
    """Where held-back change sets wait."""

    def queue_put(self, item: PendingChangeSet) -> None:
        """Hold a change set for review."""
        ...

    def queue_list(self, namespace: str, *, status: ReviewStatus | None = "pending") -> list[PendingChangeSet]:
        """Queued change sets of a namespace, oldest first."""
        ...

    def queue_get(self, namespace: str, item_id: str) -> PendingChangeSet:
        """One queued change set (NotFoundError if not in this namespace)."""
        ...

    def queue_update(self, item: PendingChangeSet) -> None:
        """Replace a queued item (edited ops, or its resolution)."""
        ...


class InMemoryReviewQueue:
    """A ReviewQueue in process memory."""

    def __init__(self) -> None:
        self._items: dict[str, PendingChangeSet] = {}
        self._qlock = threading.Lock()

    def queue_put(self, item: PendingChangeSet) -> None:
        with self._qlock:
            if item.id in self._items:  # never replace an item, of this namespace or another (as the SQL stores)
                raise ConflictError(f"queued change set {item.id} already exists")
            self._items[item.id] = item

    def queue_list(self, namespace: str, *, status: ReviewStatus | None = "pending") -> list[PendingChangeSet]:
        with self._qlock:
            items = [i for i in self._items.values() if i.namespace == namespace]
        return sorted((i for i in items if status is None or i.status == status), key=lambda i: i.created_at)

    def queue_get(self, namespace: str, item_id: str) -> PendingChangeSet:
        with self._qlock:
            item = self._items.get(item_id)
        if item is None or item.namespace != namespace:
            raise NotFoundError(f"no queued change set {item_id!r} in {namespace!r}")
        return item

    def queue_update(self, item: PendingChangeSet) -> None:
        self.queue_get(item.namespace, item.id)
        with self._qlock:
            self._items[item.id] = replace(item)
