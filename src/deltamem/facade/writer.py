"""The one write path: operations → :func:`deltamem.core.apply` on fresh reads → one change set → embeddings of what
it adds or updates → one store transaction.

The facade, ingestion and the review queue all write through a :class:`ChangeWriter`, so none of them needs the
others (nothing below :class:`~deltamem.facade.memory.Memory` imports it). A concurrent writer that changed the same
memories in between makes the commit fail with ConflictError; the change set is then recomputed from fresh state and
committed again, after a jittered pause and under the namespace's lock where the store has one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager

from deltamem.config import MemoryConfig
from deltamem.core import (
    Add,
    Change,
    ChangeSet,
    ConflictError,
    Delete,
    MemoryState,
    NotFoundError,
    Operation,
    Update,
    apply,
    invert,
)
from deltamem.core.model import Vectors
from deltamem.embed.base import Embedder
from deltamem.stores.base import ArchiveStore, ChangeSetRecord, NamespaceLock, Store
from deltamem.stores.retry import DEFAULT_BACKOFF, Backoff, Retry


def commit_fresh(store: Store, namespace: str, compute: Callable[[], ChangeSet],
                 vectors: Callable[[ChangeSet], Mapping[str, Vectors]], *,
                 backoff: Backoff = DEFAULT_BACKOFF) -> ChangeSet:
    """Commit the change set ``compute`` makes from fresh reads of ``store`` (an empty one is returned unwritten).

    After a ConflictError at commit: pause, then compute and commit again, inside ``store.exclusive(namespace)``
    where the store has it; errors of ``compute`` itself (an invalid op, a revert that conflicts) are not retried.
    Raises the last ConflictError once ``backoff.budget_s`` is spent.
    """
    retry = Retry(backoff)
    while True:
        held: AbstractContextManager[None] = contextlib.nullcontext()
        if retry.attempts and isinstance(store, NamespaceLock):
            held = store.exclusive(namespace)
        with held:
            cs = compute()
            if cs.is_empty:
                return cs
            try:
                store.commit(cs, vectors(cs))
                return cs
            except ConflictError as e:
                conflict = e
        retry.pause(conflict)


class ChangeWriter:
    """Validates operations against the live state of one namespace and commits them as one change set.

    ``config`` gives the limits every op is checked against (text length, metadata size); ``backoff`` paces the
    retries of a write that lost a race to a concurrent writer. Both may be replaced on the instance (the facade's
    ``config`` and ``backoff`` are this writer's).
    """

    def __init__(self, store: ArchiveStore, embedder: Embedder, config: MemoryConfig, *,
                 backoff: Backoff = DEFAULT_BACKOFF) -> None:
        self.store = store
        self.embedder = embedder
        self.config = config
        self.backoff = backoff

    def apply(self, ops: Sequence[Operation], *, namespace: str, session_id: str | None = None,
              actor: str = "user") -> ChangeSet:
        """Validate and commit ``ops`` on ``namespace`` atomically (retrying on concurrent-write conflicts)."""
        # ADD ids too: apply() refuses a live one at once; the commit's ConflictError would be retried for seconds.
        ids = [op.id for op in ops if isinstance(op, Update | Delete | Add) and isinstance(op.id, str)]

        def compute() -> ChangeSet:
            return apply(self.store.get(namespace, ids), ops, session_id=session_id, actor=actor,
                         max_text_chars=self.config.max_text_chars,
                         metadata_limits=self.config.metadata_limits())

        return self.commit(namespace, compute)

    def commit(self, namespace: str, compute: Callable[[], ChangeSet]) -> ChangeSet:
        """Commit the change set ``compute`` makes from fresh reads (a revert computes its inverse this way)."""
        return commit_fresh(self.store, namespace, compute, self.vectors, backoff=self.backoff)

    def vectors(self, cs: ChangeSet) -> dict[str, Vectors]:
        """Embeddings of the memories a change set adds or rewrites, by id."""
        todo = [c.after for c in cs.changes if c.after is not None]
        if not todo:
            return {}
        vecs = self.embedder.embed([e.text for e in todo])
        return {e.id: vecs[i] for i, e in enumerate(todo)}

    def retry(self) -> Retry:
        """A fresh pacer for a write that must list again before it retries (``Memory.delete_all``)."""
        return Retry(self.backoff)

    def revert(self, namespace: str, change_set_id: str, *, force: bool = False) -> ChangeSet:
        """Commit the inverse of a change set of ``namespace`` (ConflictError when it was already reverted or a later
        change set touched its memories, unless ``force``; NotFoundError for an id the namespace does not have)."""
        record = self._change_set_record(namespace, change_set_id)
        if record.reverted_by and not force:
            raise ConflictError(f"change set {change_set_id} was already reverted by {record.reverted_by}")
        original = self._rebuild(record)
        ids = [c.memory_id for c in original.changes]
        return self.commit(namespace, lambda: invert(original, self.store.get(namespace, ids), force=force))

    def _change_set_record(self, namespace: str, change_set_id: str) -> ChangeSetRecord:
        # Change sets are looked up inside the caller's namespace only, so ids from other namespaces are invisible.
        rec = self.store.change_set(namespace, change_set_id)
        if rec is not None:
            return rec
        raise NotFoundError(f"no change set {change_set_id!r} in {namespace!r}")

    def _rebuild(self, record: ChangeSetRecord) -> ChangeSet:
        hist = self.store.history(record.namespace, change_set_id=record.id)
        return ChangeSet(
            id=record.id, namespace=record.namespace, ops=(),
            changes=tuple(Change(h.kind, h.memory_id, h.before, h.after) for h in hist),
            state=MemoryState(record.namespace), created_at=record.created_at, session_id=record.session_id,
            actor=record.actor, reverts=record.reverts,
        )
