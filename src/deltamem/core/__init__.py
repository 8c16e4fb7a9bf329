"""Pure memory model: entries, states, operations and their application. No I/O."""

from deltamem.core.changeset import (
    MAX_TEXT_CHARS,
    Change,
    ChangeKind,
    ChangeSet,
    apply,
    check_change,
    check_change_set,
    invert,
)
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
    NamespaceError,
    NotFoundError,
    StoreError,
    ValidationError,
)
from deltamem.core.limits import DEFAULT_METADATA_LIMITS, MetadataLimits, check_metadata
from deltamem.core.model import MemoryEntry, MemoryState
from deltamem.core.ops import Add, Delete, Noop, Operation, Update, op_from_dict, op_to_dict
from deltamem.core.timeutil import MAX_TIME, MIN_TIME, as_utc, stored_time, to_iso, utcnow

__all__ = [
    "DEFAULT_METADATA_LIMITS", "MAX_TEXT_CHARS", "MAX_TIME", "MIN_TIME", "Add", "AgentOutputError", "Change",
    "ChangeKind", "ChangeSet", "ConfigError", "ConflictError", "CorruptDataError", "Delete", "DeltamemError",
    "EmbedderError", "EmbeddingDimensionError", "InvalidOperation", "LLMError", "MemoryEntry", "MemoryState",
    "MetadataLimits", "NamespaceError", "Noop", "NotFoundError", "Operation", "StoreError", "Update", "ValidationError",
    "apply", "as_utc", "check_change", "check_change_set", "check_metadata", "invert", "op_from_dict", "op_to_dict",
    "stored_time", "to_iso", "utcnow",
]
