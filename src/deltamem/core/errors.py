"""The one exception hierarchy of deltamem.

Everything the package raises on purpose derives from :class:`DeltamemError`, so callers can catch one type at the
edge (HTTP status, CLI exit code). Errors that wrap a library failure are raised ``from`` the original exception.
"""

from __future__ import annotations

from typing import Any


class DeltamemError(Exception):
    """Base class of every error deltamem raises on purpose."""


class ConfigError(DeltamemError):
    """Misuse: a bad argument, a bad config value, a missing optional dependency."""


class InvalidOperation(DeltamemError):
    """A memory operation that cannot be applied; nothing of its change set was applied.

    ``index`` is the position of the offending op in the submitted list and ``op`` the op itself.
    """

    def __init__(self, message: str, *, index: int | None = None, op: Any = None) -> None:
        where = f"op #{index} ({_short(op)}): " if index is not None else ""
        super().__init__(where + message)
        self.index = index
        self.op = op
        self.reason = message


def _short(value: Any, limit: int = 160) -> str:
    # An op can carry kilobytes of metadata; the message names it, it does not echo it back.
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class ValidationError(DeltamemError, ValueError):
    """An input value outside its accepted form or range (a time, metadata, text); nothing was written.

    Also a ``ValueError``, so parsers that turn ``ValueError`` into their own error (an op, a record) keep working.
    """


class NamespaceError(InvalidOperation):
    """A change, entry or record that reaches outside the namespace it is written to (or names another memory id
    than its own); nothing was written. Every write path checks this (:func:`deltamem.core.check_change_set`)."""


class NotFoundError(DeltamemError):
    """A memory, change set or namespace that does not exist (or is not visible from this namespace)."""


class ConflictError(DeltamemError):
    """A write that would silently overwrite a concurrent or later change; retry or force explicitly."""


class AgentOutputError(DeltamemError):
    """The agent's model output could not be turned into valid operations; memory was left untouched."""

    def __init__(self, message: str, *, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


class StoreError(DeltamemError):
    """The storage backend failed or holds data it cannot read."""


class EmbeddingDimensionError(StoreError):
    """A vector's dimension differs from the dimension the store was created with."""


class CorruptDataError(StoreError):
    """An export file, record or stored row that cannot be parsed or fails validation."""


class EmbedderError(DeltamemError):
    """The embedding backend failed."""


class LLMError(DeltamemError):
    """The chat model backend failed (network, auth, timeout, bad response)."""
