"""A memory as the outside world sees it: the one JSON shape of an entry on every surface. Pure.

The REST API (``server.dto.MemoryOut``), the MCP tools (``mcp_server.models.MemoryItem``), the CLI's ``--json``
output and the Python client all derive from :class:`MemoryView`, so its fields, their order, the time format and
what is left out are decided here, once:

- times are ISO-8601 UTC with a ``Z`` (``2024-05-01T09:30:00Z``; microseconds only when there are any), as
  :func:`json_time` writes them;
- provenance is ``session_id`` (or null) and ``message_indices`` (the 0-based messages of that session behind the
  fact, ``[]`` when unknown);
- ``namespace`` is the one its reader names (a REST caller's is relative to their tenant, see :meth:`MemoryView.of`);
- metadata too deeply nested to send (stored by a version before the write limits) is replaced by
  ``{"deltamem_unsendable": "<why>"}``, so one old row cannot break every read of its namespace; the stored value is
  kept.

This is an outward form only: export files and the stores keep :mod:`deltamem.core.codec`'s fixed-width form.
:mod:`deltamem.core` does not import this module (it needs pydantic); import ``deltamem.core.view``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Self, overload

from pydantic import BaseModel, ConfigDict, TypeAdapter

from deltamem.core.errors import ValidationError
from deltamem.core.limits import MAX_JSON_DEPTH, check_json
from deltamem.core.model import MemoryEntry

log = logging.getLogger(__name__)

#: The key of the object sent instead of a stored value too deep to send back (written before the limits existed).
UNSENDABLE = "deltamem_unsendable"

_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def json_time(value: datetime) -> str:
    """A time as every outward record writes it, the same text as a :class:`MemoryView`'s times.

    >>> from datetime import UTC
    >>> json_time(datetime(2024, 5, 1, 9, 30, tzinfo=UTC))
    '2024-05-01T09:30:00Z'
    """
    text: str = _TIME.dump_python(value, mode="json")
    return text


def sendable(value: Any, what: str) -> dict[str, Any]:
    """``value`` (a stored JSON object) as it may be sent: itself, or the :data:`UNSENDABLE` marker saying why not.

    Writes are limited to ``MAX_JSON_DEPTH`` now; a deeper value stored by an older version would fail the response
    encoder and, with it, every list or search of its namespace. The marker answers instead; the stored value is kept.
    """
    try:
        check_json(value, max_depth=MAX_JSON_DEPTH, max_values=1 << 20, what=what)
    except ValidationError as err:
        log.warning("%s; sent as {%r: ...} (rewrite it to fix the row)", err, UNSENDABLE)
        return {UNSENDABLE: str(err)}
    return dict(value)


class MemoryView(BaseModel):
    """One memory as JSON: the fact, when it holds, the store's bookkeeping times, its provenance and metadata.

    Surfaces subclass it to give it their own name or field descriptions, never other fields.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    namespace: str
    text: str
    timestamp: datetime
    created_at: datetime
    updated_at: datetime
    session_id: str | None = None
    message_indices: list[int] = []
    keywords: list[str] = []
    metadata: dict[str, Any] = {}

    @classmethod
    def of(cls, entry: MemoryEntry, *, namespace: str | None = None) -> Self:
        """The view of ``entry``; ``namespace`` replaces its namespace (the REST API's is tenant-relative)."""
        return cls(id=entry.id, namespace=entry.namespace if namespace is None else namespace, text=entry.text,
                   timestamp=entry.timestamp, created_at=entry.created_at, updated_at=entry.updated_at,
                   session_id=entry.session_id, message_indices=list(entry.message_indices),
                   keywords=list(entry.keywords),
                   metadata=sendable(entry.metadata, f"metadata of memory {entry.id!r}"))


@overload
def memory_view(entry: MemoryEntry, *, namespace: str | None = None) -> dict[str, Any]: ...
@overload
def memory_view(entry: MemoryEntry | None, *, namespace: str | None = None) -> dict[str, Any] | None: ...
def memory_view(entry: MemoryEntry | None, *, namespace: str | None = None) -> dict[str, Any] | None:
    """``entry`` as JSON-ready data (:class:`MemoryView`, dumped); ``None`` stays ``None`` (a change's missing side).

    >>> from datetime import UTC
    >>> t = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    >>> view = memory_view(MemoryEntry(id="m1", namespace="user:ana", text="Ana lives in Oslo", timestamp=t,
    ...                                created_at=t, updated_at=t, session_id="s1", message_indices=(0, 2)))
    >>> view["timestamp"], view["session_id"], view["message_indices"]
    ('2024-05-01T09:30:00Z', 's1', [0, 2])
    """
    return None if entry is None else MemoryView.of(entry, namespace=namespace).model_dump(mode="json")
