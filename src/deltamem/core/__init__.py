"""Pure memory model: entries, states, operations and their application. No I/O."""

from deltamem.core.changeset import MAX_TEXT_CHARS, Change, ChangeKind, ChangeSet, apply, invert
from deltamem.core.errors import (
    AgentOutputError,
    ConfigError,
    ConflictError,
    CorruptDataError,
    DeltamemError,
    EmbedderError,
    EmbeddingDimensionError,
    InvalidOperation,
    LLMError,
    NotFoundError,
    StoreError,
)
from deltamem.core.model import MemoryEntry, MemoryState
from deltamem.core.ops import Add, Delete, Noop, Operation, Update, op_from_dict, op_to_dict
from deltamem.core.timeutil import as_utc, to_iso, utcnow

__all__ = [
    "MAX_TEXT_CHARS", "Add", "AgentOutputError", "Change", "ChangeKind", "ChangeSet", "ConfigError", "ConflictError",
    "CorruptDataError", "Delete", "DeltamemError", "EmbedderError", "EmbeddingDimensionError", "InvalidOperation",
    "LLMError", "MemoryEntry", "MemoryState", "Noop", "NotFoundError", "Operation", "StoreError", "Update", "apply",
    "as_utc", "invert", "op_from_dict", "op_to_dict", "to_iso", "utcnow",
]
