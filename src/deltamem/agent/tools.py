"""The agent's one tool, ``search_memory``, over a namespace of any Store, plus the LLM-free seed search."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from deltamem.agent.session import Session
from deltamem.core import MemoryEntry
from deltamem.embed.base import Embedder
from deltamem.stores.base import SearchMode, Store

_SENTENCE = re.compile(r"(?<=[.!?])\s+")

SEARCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search_memory",
        "description": "Search the stored memories of this user. Returns the most related memories with ids.",
        "parameters": {
            "type": "object",
            "properties": {
                "queries": {"type": "array", "items": {"type": "string"}, "description": "One or more queries."},
                "k": {"type": "integer", "description": "Results per query (default 5)."},
            },
            "required": ["queries"],
        },
    },
}


class MemorySearch:
    """``search_memory`` bound to one namespace of a store."""

    def __init__(self, store: Store, embedder: Embedder, namespace: str, *, mode: SearchMode = "hybrid") -> None:
        self.store, self.embedder, self.namespace, self.mode = store, embedder, namespace, mode

    def search(self, queries: Sequence[str], k: int) -> list[MemoryEntry]:
        """Results of several queries, merged by best rank (round-robin), without repeats."""
        if not queries:
            return []
        vecs = self.embedder.embed(list(queries)) if self.mode != "keyword" else [None] * len(queries)
        per_query = [[h.entry for h in self.store.search(self.namespace, vector=v, text=q, mode=self.mode, k=k)]
                     for q, v in zip(queries, vecs, strict=True)]
        merged: dict[str, MemoryEntry] = {}
        for rank in range(k):
            for hits in per_query:
                if rank < len(hits):
                    merged.setdefault(hits[rank].id, hits[rank])
        return list(merged.values())

    def seed(self, session: Session, *, k: int, limit: int) -> list[MemoryEntry]:
        """The first observation, needing no LLM: search with the session's own sentences."""
        sentences = [s for m in session.messages for s in _SENTENCE.split(m.text) if len(s.split()) >= 3]
        return self.search(sentences, k)[:limit]
