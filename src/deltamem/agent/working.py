"""The working state of one episode: stored memories as the episode has changed them so far, plus its new facts.

Nothing is written until the episode ends; then :meth:`WorkingState.ops` gives the one change set that turns
S_t into S_t+1. A later window therefore sees what an earlier one changed: an UPDATE of a memory updated before
replaces the earlier text (one op per memory), and a fact added earlier in the session can itself be found,
updated or removed (it stays an ADD, with its final text, or disappears).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltamem.core import Add, Delete, MemoryEntry, Operation, Update
from deltamem.core.model import EVIDENCE_KEY
from deltamem.embed.base import Embedder


@dataclass(slots=True)
class Item:
    """One memory of the working state, under its alias (``m3``) in prompts."""

    alias: str
    text: str
    entry: MemoryEntry | None  # the stored memory, or None for a fact added in this episode
    indices: tuple[int, ...] = ()
    deleted: bool = False
    evidence: str = ""  # the conversation line the episode's text came from ("Name: ..."), kept as metadata
    trimmed: bool = False  # a stored memory left with part of its text: it keeps its date

    @property
    def changed(self) -> bool:
        """A stored memory whose text this episode changed."""
        return self.entry is not None and self.text != self.entry.text


class WorkingState:
    """Stored memories met so far (by alias) and the episode's own facts; similarity with names left out."""

    def __init__(self, embedder: Embedder | None, names: Sequence[str] = ()) -> None:
        self.embedder = embedder
        self.items: dict[str, Item] = {}
        self._by_id: dict[str, Item] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._names = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True)
                                               if n.strip()) + r")(?:'s|’s)?\b", re.I) if any(
            n.strip() for n in names) else None

    def _alias(self) -> str:
        return f"m{len(self.items) + 1}"

    def adopt(self, entries: Iterable[MemoryEntry]) -> list[Item]:
        """Stored memories as items (each gets one alias for the whole episode); deleted ones are left out."""
        out = []
        for e in entries:
            item = self._by_id.get(e.id)
            if item is None:
                item = Item(self._alias(), e.text, e)
                self.items[item.alias] = self._by_id[e.id] = item
            if not item.deleted:
                out.append(item)
        return out

    def add(self, text: str, indices: tuple[int, ...] = (), evidence: str = "") -> Item:
        """A new fact of this episode."""
        item = Item(self._alias(), text, None, indices, evidence=evidence)
        self.items[item.alias] = item
        return item

    def new_items(self) -> list[Item]:
        """Facts added in this episode and still live."""
        return [i for i in self.items.values() if i.entry is None and not i.deleted]

    def shown(self) -> dict[str, MemoryEntry]:
        """Alias → stored memory, for every stored memory the episode looked at."""
        return {a: i.entry for a, i in self.items.items() if i.entry is not None}

    def ops(self) -> list[Operation]:
        """The change set of the episode so far: ADDs of new facts, UPDATEs and DELETEs of stored memories."""
        out: list[Operation] = []
        for item in self.items.values():
            if item.entry is None:
                if not item.deleted:
                    out.append(Add(text=item.text, message_indices=item.indices, metadata=_evidence({}, item)))
            elif item.deleted:
                out.append(Delete(id=item.entry.id))
            elif item.changed:
                out.append(Update(id=item.entry.id, text=item.text, message_indices=item.indices,
                                  timestamp=item.entry.timestamp if item.trimmed else None,
                                  metadata=_evidence(item.entry.metadata, item)))
        return out

    # -- similarity -------------------------------------------------------------------------------------------
    def topic(self, text: str) -> str:
        """The text without the people's names, so that two facts about one person are not similar for that."""
        return " ".join((self._names.sub(" ", text) if self._names else text).split())

    def similarities(self, fact: str, items: Sequence[Item]) -> list[float]:
        """Cosine between the topic of ``fact`` and of each item (1.0 for equal topics; 0.0 without embedder)."""
        if not items:
            return []
        topics = [self.topic(fact)] + [self.topic(i.text) for i in items]
        if self.embedder is None:
            return [1.0 if t.casefold() == topics[0].casefold() else 0.0 for t in topics[1:]]
        missing = [t for t in dict.fromkeys(topics) if t not in self._vectors]
        if missing:
            for t, v in zip(missing, self.embedder.embed(missing), strict=True):
                self._vectors[t] = np.asarray(v, dtype=np.float32)
        first = self._vectors[topics[0]]
        return [float(first @ self._vectors[t]) for t in topics[1:]]


def _evidence(metadata: Mapping[str, Any], item: Item) -> dict[str, Any]:
    """``metadata`` with the item's evidence line in place of an earlier one (other keys are the user's: kept)."""
    out = {k: v for k, v in metadata.items() if k != EVIDENCE_KEY}
    if item.evidence:
        out[EVIDENCE_KEY] = item.evidence
    return out
