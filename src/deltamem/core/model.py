"""Memory entries and the state of one namespace. Pure data, no I/O."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from deltamem.core.timeutil import as_utc

#: Embedding vectors as stores keep them and embedders make them: one L2-normalised float32 row per text.
Vectors = npt.NDArray[np.float32]

#: The metadata key under which the agent keeps the line of the conversation a memory was written from
#: (``"Ana: I sold my Honda last Friday"``); the answer path shows it beside the memory.
EVIDENCE_KEY = "evidence"


@dataclass(frozen=True, slots=True)
class MemoryEntry:
    """One memory: an atomic fact sentence with a timestamp, an id and its provenance.

    ``timestamp`` is when the fact was stated or holds; ``created_at`` / ``updated_at`` are bookkeeping times of the
    store. ``session_id`` and ``message_indices`` record which session (and which of its messages) support the fact.
    """

    id: str
    namespace: str
    text: str
    timestamp: datetime
    created_at: datetime
    updated_at: datetime
    session_id: str | None = None
    message_indices: tuple[int, ...] = ()
    keywords: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Normalise once here so that equality, export and SQL range filters never see mixed time zones; as_utc is
        # also the range gate, so no entry can hold a time its store could not write and read back.
        object.__setattr__(self, "timestamp", as_utc(self.timestamp, what="timestamp"))
        object.__setattr__(self, "created_at", as_utc(self.created_at, what="created_at"))
        object.__setattr__(self, "updated_at", as_utc(self.updated_at, what="updated_at"))
        object.__setattr__(self, "message_indices", tuple(int(i) for i in self.message_indices))
        object.__setattr__(self, "keywords", tuple(str(k) for k in self.keywords))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def evidence(self) -> str:
        """The conversation line this memory was written from (``metadata["evidence"]``), or ``""``."""
        value = self.metadata.get(EVIDENCE_KEY)
        return value if isinstance(value, str) else ""

    def evolve(self, **changes: Any) -> MemoryEntry:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MemoryEntry):
            return NotImplemented
        return _key(self) == _key(other)

    def __hash__(self) -> int:
        return hash((self.id, self.namespace, self.text, self.updated_at))


def _key(e: MemoryEntry) -> tuple[Any, ...]:
    return (
        e.id, e.namespace, e.text, e.timestamp, e.created_at, e.updated_at, e.session_id, e.message_indices,
        e.keywords, dict(e.metadata),
    )


class MemoryState(Mapping[str, MemoryEntry]):
    """The live memories of one namespace: an immutable mapping ``id -> MemoryEntry``.

    A state may be *partial* (only the entries an operation list refers to); :func:`deltamem.core.apply` only reads
    the entries that operations name, so partial states are enough to validate and apply a change set cheaply.
    """

    __slots__ = ("_entries", "namespace")

    def __init__(self, namespace: str, entries: Mapping[str, MemoryEntry] | None = None) -> None:
        self.namespace = namespace
        self._entries: dict[str, MemoryEntry] = dict(entries or {})
        for key, entry in self._entries.items():
            if key != entry.id or entry.namespace != namespace:
                raise ValueError(f"entry {entry.id!r} of namespace {entry.namespace!r} cannot sit in {namespace!r}")

    @classmethod
    def of(cls, namespace: str, entries: list[MemoryEntry] | tuple[MemoryEntry, ...]) -> MemoryState:
        """Build a state from a sequence of entries."""
        return cls(namespace, {e.id: e for e in entries})

    def __getitem__(self, key: str) -> MemoryEntry:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MemoryState):
            return NotImplemented
        return self.namespace == other.namespace and self._entries == other._entries

    def __hash__(self) -> int:  # Mapping defines __eq__, so be explicit that states are not hashable keys
        raise TypeError("MemoryState is not hashable")

    def __repr__(self) -> str:
        return f"MemoryState({self.namespace!r}, {len(self)} entries)"

    def texts(self) -> list[str]:
        """The fact sentences, in insertion order."""
        return [e.text for e in self._entries.values()]

    def _with(self, entries: dict[str, MemoryEntry]) -> MemoryState:
        # Internal fast path: ``entries`` is freshly built and already validated by apply().
        new = MemoryState.__new__(MemoryState)
        new.namespace = self.namespace
        new._entries = entries
        return new

    def _raw(self) -> dict[str, MemoryEntry]:
        return self._entries
