"""Stores: SQLite (default), an in-process store (tests, training rollouts), PostgreSQL + pgvector."""

from deltamem.stores.base import (
    Archive,
    ArchiveStore,
    ChangeSetRecord,
    DumpRecord,
    Filters,
    HistoryRecord,
    SearchHit,
    SearchMode,
    Store,
    StoredMemory,
)

__all__ = [
    "Archive", "ArchiveStore", "ChangeSetRecord", "DumpRecord", "Filters", "HistoryRecord", "SearchHit", "SearchMode",
    "Store", "StoredMemory",
]
