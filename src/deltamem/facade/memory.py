"""``Memory``: the facade users import. Names follow mem0 (add, search, get, get_all, update, delete, ...).

Every write goes through one :class:`~deltamem.facade.writer.ChangeWriter` (operations → one change set → one store
transaction, retried on concurrent-write conflicts), which ingestion and the review queue share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any, overload

from deltamem.agent.loop import AgentConfig, MemoryAgent
from deltamem.agent.session import Session, looks_like_messages, to_session
from deltamem.config import MemoryConfig, ReviewPolicy
from deltamem.core import (
    ChangeSet,
    ConfigError,
    Delete,
    EmbeddingDimensionError,
    InvalidOperation,
    MemoryEntry,
    MemoryState,
    NotFoundError,
    Operation,
    Update,
)
from deltamem.embed.base import Embedder
from deltamem.facade.answering import Answer, answer_from_hits
from deltamem.facade.ingest import IngestResult, ingest, raw_ops
from deltamem.facade.review import Review
from deltamem.facade.scope import namespace_for, to_operations
from deltamem.facade.writer import ChangeWriter
from deltamem.llm.base import ChatModel
from deltamem.stores.archive import read_export, write_export
from deltamem.stores.base import ArchiveStore, ChangeSetRecord, Filters, HistoryRecord, SearchHit, SearchMode
from deltamem.stores.retry import Backoff
from deltamem.stores.review import InMemoryReviewQueue, ReviewQueue

#: Upper bound on pagination values (SQLite integers are 64-bit; nobody pages past a billion memories).
MAX_OFFSET = 1_000_000_000


class Memory:
    """Long-term memory over a store and an embedder (both injected; see :meth:`from_config` for defaults)."""

    def __init__(self, *, store: ArchiveStore, embedder: Embedder, llm: ChatModel | None = None,
                 agent: MemoryAgent | None = None, config: MemoryConfig | None = None,
                 review_queue: ReviewQueue | None = None, review_policy: ReviewPolicy | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.llm = llm
        self._owned_llm = False  # True when from_config built the model: close() then closes it too
        self._writer = ChangeWriter(store, embedder, config or MemoryConfig())
        self.agent = agent or (MemoryAgent(llm, embedder=embedder, config=AgentConfig(
            mode=self.config.agent.mode, window=self.config.agent.window)) if llm is not None else None)
        queue = review_queue or (store if isinstance(store, ReviewQueue) else InMemoryReviewQueue())
        self.review = Review(self._writer, queue)
        self.review_policy = review_policy or self.config.review
        dim = store.embedding_dim
        if dim is not None and dim != embedder.dim:
            raise EmbeddingDimensionError(
                f"the store holds {dim}-d vectors but embedder {embedder.name!r} makes {embedder.dim}-d vectors; "
                "configure the embedder the store was built with"
            )

    @classmethod
    def from_config(cls, config: MemoryConfig | None = None, *, llm: ChatModel | None = None) -> Memory:
        """Build store, embedder and LLM from a config (defaults: SQLite file + local MiniLM + the packaged GGUF,
        loaded on first use); ``llm`` replaces the chat model ``config.llm`` names."""
        from deltamem.registry import build_chat_model, build_embedder, build_store

        config = config or MemoryConfig()
        memory = cls(store=build_store(config), embedder=build_embedder(config.embedder),
                     llm=llm if llm is not None else build_chat_model(config.llm), config=config)
        memory._owned_llm = llm is None  # built here, so closed here; a model passed in belongs to the caller
        return memory

    @property
    def config(self) -> MemoryConfig:
        """Search defaults, write limits, agent and review settings (may be replaced; writes use the new one)."""
        return self._writer.config

    @config.setter
    def config(self, value: MemoryConfig) -> None:
        self._writer.config = value

    @property
    def backoff(self) -> Backoff:
        """How writes that lost a race to a concurrent writer are retried (jittered backoff, bounded total time)."""
        return self._writer.backoff

    @backoff.setter
    def backoff(self, value: Backoff) -> None:
        self._writer.backoff = value

    def close(self) -> None:
        """Close the store, and the chat model if :meth:`from_config` built it (a local model frees its memory)."""
        self.store.close()
        close_llm = getattr(self.llm, "close", None) if self._owned_llm else None
        if callable(close_llm):
            close_llm()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------------------------------
    @overload
    def add(self, data: str | Sequence[str | Operation], *, user_id: str | None = ..., agent_id: str | None = ...,
            namespace: str | None = ..., session_id: str | None = ..., session_date: datetime | str | None = ...,
            metadata: Mapping[str, Any] | None = ..., infer: bool = ..., actor: str = ...) -> ChangeSet: ...

    @overload
    def add(self, data: Session | Sequence[Mapping[str, Any]], *, user_id: str | None = ...,
            agent_id: str | None = ..., namespace: str | None = ..., session_id: str | None = ...,
            session_date: datetime | str | None = ..., metadata: Mapping[str, Any] | None = ..., infer: bool = ...,
            actor: str = ...) -> IngestResult: ...

    def add(self, data: Any, *, user_id: str | None = None, agent_id: str | None = None,
            namespace: str | None = None, session_id: str | None = None, session_date: datetime | str | None = None,
            metadata: Mapping[str, Any] | None = None, infer: bool = True,
            actor: str = "user") -> ChangeSet | IngestResult:
        """Add to memory.

        - Facts (a string or a list of strings) or explicit operations: applied as one change set.
        - A conversation session (a list of ``{"role"|"speaker", "content"|"text"}`` messages, or a Session): the
          memory agent reads it against the stored memories and emits ADD / UPDATE / DELETE, applied as one change
          set (or queued for review when it would overwrite too much). ``session_date`` anchors relative dates.
          With ``infer=False`` the messages are stored as they are, without an LLM.
        """
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        if looks_like_messages(data):
            session = to_session(data, date=session_date, session_id=session_id)
            if not infer:
                cs = self.apply(raw_ops(session), namespace=ns, session_id=session.id, actor=actor)
                return IngestResult(cs, None, None, session)
            if self.agent is None:
                raise ConfigError("adding a conversation needs an LLM: Memory(..., llm=...) or infer=False")
            return ingest(self._writer, session, ns, agent=self.agent, queue=self.review.queue,
                          policy=self.review_policy, search_mode=self.config.search_mode)
        return self.apply(to_operations(data, metadata=metadata), namespace=ns, session_id=session_id, actor=actor)

    def answer(self, question: str, *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None, k: int | None = None, today: datetime | None = None) -> Answer:
        """Answer a question from the top-k memories (shown with their dates); returns the answer and their ids."""
        if self.llm is None:
            raise ConfigError("answering needs an LLM: Memory(..., llm=...)")
        hits = self.search(question, user_id=user_id, agent_id=agent_id, namespace=namespace, k=k)
        return answer_from_hits(self.llm, question, hits, today=today)

    def apply(self, ops: Sequence[Operation], *, namespace: str, session_id: str | None = None,
              actor: str = "user") -> ChangeSet:
        """Validate and commit operations on one namespace atomically (retrying on concurrent-write conflicts)."""
        return self._writer.apply(ops, namespace=namespace, session_id=session_id, actor=actor)

    def update(self, memory_id: str, text: str, *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None, timestamp: datetime | None = None) -> ChangeSet:
        """Replace a memory's text."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self._apply_one(Update(id=memory_id, text=text, timestamp=timestamp), ns)

    def delete(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None) -> ChangeSet:
        """Retire a memory (kept in history; revertable)."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self._apply_one(Delete(id=memory_id), ns)

    def _apply_one(self, op: Update | Delete, ns: str) -> ChangeSet:
        # One memory named by the caller: "not live" is NotFoundError (404 on the server), also when a concurrent
        # delete wins the race between the caller's check and this write; other invalid ops stay InvalidOperation.
        try:
            return self.apply([op], namespace=ns)
        except InvalidOperation as e:
            if op.id not in self.store.get(ns, [op.id]):
                raise NotFoundError(f"no memory {op.id!r} in {ns!r} (unknown or deleted)") from e
            raise

    def delete_all(self, *, user_id: str | None = None, agent_id: str | None = None,
                   namespace: str | None = None) -> ChangeSet:
        """Retire every live memory of the namespace as one (revertable) change set."""
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        retry = self._writer.retry()
        while True:
            ops = [Delete(id=e.id) for e in self.store.list_entries(ns)]
            try:
                return self.apply(ops, namespace=ns)
            except InvalidOperation as e:  # a concurrent delete made an id unknown: list again
                retry.pause(e)

    def revert(self, change_set_id: str, *, user_id: str | None = None, agent_id: str | None = None,
               namespace: str | None = None, force: bool = False) -> ChangeSet:
        """Restore exactly the state before a change set, as a new change set.

        Refuses (ConflictError) when a later change set touched the same memories, or when it was already
        reverted, unless ``force``.
        """
        ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
        return self._writer.revert(ns, change_set_id, force=force)

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
        if not 0 <= offset <= MAX_OFFSET or (limit is not None and not 0 <= limit <= MAX_OFFSET):
            raise ConfigError(f"limit and offset must lie between 0 and {MAX_OFFSET}")
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
        """Read an export; validates the whole file first (checksums, namespaces, memory records against the history:
        :func:`~deltamem.stores.archive.read_export`), then writes all of it in one transaction or nothing."""
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

