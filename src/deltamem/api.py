"""``Memory``: the facade users import. Names follow mem0 (add, search, get, get_all, update, delete, ...).

Writes go one way: operations → :func:`deltamem.core.apply` on the touched entries → one change set → embeddings for
what it adds or updates → one store transaction. A concurrent writer that changed the same memories in between
makes the commit fail with ConflictError; the write is then recomputed from fresh state (bounded retries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from deltamem.archive import read_export, write_export
from deltamem.config import MemoryConfig
from deltamem.core import (
    Change,
    ChangeSet,
    ConflictError,
    Delete,
    EmbeddingDimensionError,
    InvalidOperation,
    MemoryEntry,
    MemoryState,
    NotFoundError,
    Operation,
    Update,
    apply,
    invert,
)
from deltamem.embed.base import Embedder, Vectors
from deltamem.scope import namespace_for, to_operations
from deltamem.stores.base import ArchiveStore, ChangeSetRecord, Filters, HistoryRecord, SearchHit, SearchMode

_RETRIES = 8


class Memory:
    """Long-term memory over a store and an embedder (both injected; see :meth:`from_config` for defaults)."""

    def __init__(self, *, store: ArchiveStore, embedder: Embedder, config: MemoryConfig | None = None) -> None:
        self.config = config or MemoryConfig()
        self.store = store
        self.embedder = embedder
        dim = store.embedding_dim
        if dim is not None and dim != embedder.dim:
            raise EmbeddingDimensionError(
                f"the store holds {dim}-d vectors but embedder {embedder.name!r} makes {embedder.dim}-d vectors; "
                "configure the embedder the store was built with"
            )

    @classmethod
    def from_config(cls, config: MemoryConfig | None = None) -> Memory:
        """Build store and embedder from a config (defaults: SQLite file + local MiniLM)."""
        from deltamem.registry import build_embedder, build_store

        config = config or MemoryConfig()
        return cls(store=build_store(config), embedder=build_embedder(config.embedder), config=config)

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------------------------------
    def add(self, data: str | Sequence[Any], *, user_id: str | None = None, agent_id: str | None = None,
            namespace: str | None = None, session_id: str | None = None, metadata: Mapping[str, Any] | None = None,
            actor: str = "user") -> ChangeSet:
        """Add facts (a string or list of strings) or apply explicit operations, as one change set."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self.apply(to_operations(data, metadata=metadata), namespace=ns, session_id=session_id, actor=actor)

    def apply(self, ops: Sequence[Operation], *, namespace: str, session_id: str | None = None,
              actor: str = "user") -> ChangeSet:
        """Validate and commit operations on one namespace atomically (retrying on concurrent-write conflicts)."""
        ids = [op.id for op in ops if isinstance(op, Update | Delete)]
        for attempt in range(_RETRIES):
            state = self.store.get(namespace, ids)
            cs = apply(state, ops, session_id=session_id, actor=actor, max_text_chars=self.config.max_text_chars)
            if cs.is_empty:
                return cs
            try:
                self.store.commit(cs, self._vectors(cs.changes))
                return cs
            except ConflictError:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def update(self, memory_id: str, text: str, *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None, timestamp: datetime | None = None) -> ChangeSet:
        """Replace a memory's text."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self.apply([Update(id=memory_id, text=text, timestamp=timestamp)], namespace=ns)

    def delete(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None) -> ChangeSet:
        """Retire a memory (kept in history; revertable)."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self.apply([Delete(id=memory_id)], namespace=ns)

    def delete_all(self, *, user_id: str | None = None, agent_id: str | None = None,
                   namespace: str | None = None) -> ChangeSet:
        """Retire every live memory of the namespace as one (revertable) change set."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        for attempt in range(_RETRIES):
            ops = [Delete(id=e.id) for e in self.store.list_entries(ns)]
            try:
                return self.apply(ops, namespace=ns)
            except (ConflictError, InvalidOperation):  # a concurrent delete made an id unknown: list again
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def revert(self, change_set_id: str, *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None, force: bool = False) -> ChangeSet:
        """Restore exactly the state before a change set, as a new change set.

        Refuses (ConflictError) when a later change set touched the same memories, or when it was already
        reverted, unless ``force``.
        """
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        record = self._change_set_record(ns, change_set_id)
        if record.reverted_by and not force:
            raise ConflictError(f"change set {change_set_id} was already reverted by {record.reverted_by}")
        original = self._rebuild(record)
        for attempt in range(_RETRIES):
            current = self.store.get(ns, [c.memory_id for c in original.changes])
            inverse = invert(original, current, force=force)
            try:
                self.store.commit(inverse, self._vectors(inverse.changes))
                return inverse
            except ConflictError:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def reset(self, *, user_id: str | None = None, agent_id: str | None = None, namespace: str | None = None) -> int:
        """Erase a namespace completely, history included. Irreversible; prefer delete_all."""
        return self.store.purge(namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace))

    # -- reads ----------------------------------------------------------------------------------------------------
    def search(self, query: str, *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None, k: int | None = None, mode: SearchMode | None = None,
               filters: Filters | None = None) -> list[SearchHit]:
        """The k memories most relevant to ``query`` (hybrid vector + keyword search by default)."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        mode = mode or self.config.search_mode
        vector = self.embedder.embed([query])[0] if mode != "keyword" else None
        return self.store.search(ns, vector=vector, text=query, mode=mode, k=k or self.config.top_k,
                                 filters=filters)

    def get(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
            namespace: str | None = None) -> MemoryEntry:
        """One live memory; NotFoundError if unknown, deleted or in another namespace."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        state = self.store.get(ns, [memory_id])
        if memory_id not in state:
            raise NotFoundError(f"no live memory {memory_id!r} in {ns!r}")
        return state[memory_id]

    def get_all(self, *, user_id: str | None = None, agent_id: str | None = None, namespace: str | None = None,
                filters: Filters | None = None, limit: int | None = None, offset: int = 0) -> list[MemoryEntry]:
        """Live memories, oldest first (paginated with limit / offset)."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self.store.list_entries(ns, filters=filters, limit=limit, offset=offset)

    def state(self, *, user_id: str | None = None, agent_id: str | None = None,
              namespace: str | None = None) -> MemoryState:
        """The whole live state of a namespace."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return MemoryState.of(ns, self.store.list_entries(ns))

    def history(self, memory_id: str | None = None, *, user_id: str | None = None, agent_id: str | None = None,
                namespace: str | None = None, change_set_id: str | None = None) -> list[HistoryRecord]:
        """Every change, oldest first: of one memory, of one change set, or of the whole namespace."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self.store.history(ns, memory_id=memory_id, change_set_id=change_set_id)

    def change_sets(self, *, user_id: str | None = None, agent_id: str | None = None, namespace: str | None = None,
                    limit: int | None = None) -> list[ChangeSetRecord]:
        """Committed change sets, newest first."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self.store.change_sets(ns, limit=limit)

    # -- export / import ------------------------------------------------------------------------------------------
    def export(self, target: str | Path | IO[str], *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None, all_namespaces: bool = False) -> int:
        """Write a versioned JSONL export (memories with vectors, change sets, history); returns records written."""
        spaces = (self.store.namespaces() if all_namespaces
                  else [namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)])
        records = (rec for ns in spaces for rec in self.store.dump(ns))
        kwargs = {"embedder": self.embedder.name, "embedding_dim": self.store.embedding_dim, "namespaces": spaces}
        if isinstance(target, str | Path):
            tmp = Path(f"{target}.part")
            with open(tmp, "w", encoding="utf-8") as f:
                n = write_export(f, records, **kwargs)  # type: ignore[arg-type]
            tmp.replace(target)  # never leave a half-written export under the real name
            return n
        return write_export(target, records, **kwargs)  # type: ignore[arg-type]

    def import_(self, source: str | Path | IO[str]) -> int:
        """Read an export; validates the whole file first, then writes all of it in one transaction or nothing."""
        if isinstance(source, str | Path):
            with open(source, encoding="utf-8") as f:
                header, records = read_export(f, name=str(source))
        else:
            header, records = read_export(source)
        dim = header.get("embedding_dim")
        if dim is not None and dim != self.embedder.dim:
            raise EmbeddingDimensionError(
                f"the export holds {dim}-d vectors ({header.get('embedder')}); the configured embedder "
                f"{self.embedder.name!r} makes {self.embedder.dim}-d vectors"
            )
        return self.store.load(records)

    # -- helpers --------------------------------------------------------------------------------------------------
    def _vectors(self, changes: Sequence[Change]) -> dict[str, Vectors]:
        todo = [c.after for c in changes if c.after is not None]
        if not todo:
            return {}
        vecs = self.embedder.embed([e.text for e in todo])
        return {e.id: vecs[i] for i, e in enumerate(todo)}

    def _change_set_record(self, namespace: str, change_set_id: str) -> ChangeSetRecord:
        # Change sets are looked up inside the caller's namespace only, so ids from other namespaces are invisible.
        for rec in self.store.change_sets(namespace):
            if rec.id == change_set_id:
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
