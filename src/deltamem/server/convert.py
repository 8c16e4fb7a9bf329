"""deltamem objects → response models, with namespaces made relative to the caller's tenant."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from deltamem.core import ChangeKind, ChangeSet, MemoryEntry
from deltamem.core.codec import ops_to_list
from deltamem.core.view import sendable
from deltamem.server.dto import (
    ChangeOut,
    ChangeSetOut,
    ChangeSetRecordOut,
    HistoryOut,
    MemoryOut,
    ReviewItemOut,
)
from deltamem.stores.base import ChangeSetRecord, HistoryRecord
from deltamem.stores.review import PendingChangeSet

Rel = Callable[[str], str]

#: The internal prefix of every tenant's namespaces (``deps.tenant_prefix``; tenant names hold no ``/`` or quotes).
_TENANT_PREFIX = re.compile(r"tenant:[^\s/'\"]+/")


def relative(prefix: str) -> Rel:
    """A function that strips the tenant prefix from a namespace (which every namespace the caller sees has)."""
    def rel(namespace: str) -> str:
        return namespace[len(prefix):] if namespace.startswith(prefix) else namespace
    return rel


def hide_tenants(value: Any) -> Any:
    """``value`` (a message, or the strings inside error details) without internal ``tenant:<t>/`` prefixes, so that
    error messages name namespaces as the caller does, as responses promise (one place for every error body)."""
    if isinstance(value, str):
        return _TENANT_PREFIX.sub("", value)
    if isinstance(value, dict):
        return {k: hide_tenants(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [hide_tenants(v) for v in value]
    return value


def memory_out(e: MemoryEntry, rel: Rel) -> MemoryOut:
    """One entry, its namespace relative to the caller's tenant."""
    return MemoryOut.of(e, namespace=rel(e.namespace))


def change_out(kind: ChangeKind, memory_id: str, before: MemoryEntry | None, after: MemoryEntry | None,
               rel: Rel) -> ChangeOut:
    """One memory's change inside a change set (from the change set itself or from its history)."""
    return ChangeOut(kind=kind, memory_id=memory_id, before=_opt(before, rel), after=_opt(after, rel))


def _opt(e: MemoryEntry | None, rel: Rel) -> MemoryOut | None:
    return memory_out(e, rel) if e is not None else None


def change_set_out(cs: ChangeSet, rel: Rel) -> ChangeSetOut:
    """A change set with its changes."""
    return ChangeSetOut(
        id=cs.id, namespace=rel(cs.namespace), session_id=cs.session_id, actor=cs.actor, created_at=cs.created_at,
        reverts=cs.reverts, counts=cs.counts(), ops=ops_to_list(cs),
        changes=[change_out(c.kind, c.memory_id, c.before, c.after, rel) for c in cs.changes],
    )


def history_out(r: HistoryRecord, rel: Rel) -> HistoryOut:
    """One history record."""
    return HistoryOut(seq=r.seq, change_set_id=r.change_set_id, namespace=rel(r.namespace), memory_id=r.memory_id,
                      kind=r.kind, before=_opt(r.before, rel), after=_opt(r.after, rel), session_id=r.session_id,
                      actor=r.actor, created_at=r.created_at)


def change_set_record_out(r: ChangeSetRecord, rel: Rel) -> ChangeSetRecordOut:
    """A change set header."""
    return ChangeSetRecordOut(id=r.id, namespace=rel(r.namespace), created_at=r.created_at, session_id=r.session_id,
                              actor=r.actor, ops=[sendable(o, f"an op of change set {r.id}") for o in r.ops],
                              counts=dict(r.counts), reverts=r.reverts,
                              reverted_by=r.reverted_by, note=r.note)


def review_out(item: PendingChangeSet, rel: Rel) -> ReviewItemOut:
    """A queued change set."""
    return ReviewItemOut(id=item.id, namespace=rel(item.namespace),
                         ops=[sendable(o, f"an op of review item {item.id}") for o in item.ops],
                         reason=item.reason, created_at=item.created_at, session_id=item.session_id,
                         actor=item.actor, status=item.status, resolved_at=item.resolved_at,
                         resolved_by=item.resolved_by, change_set_id=item.change_set_id)


def error_info(e: BaseException, *, type_name: str | None = None, details: Any = None) -> dict[str, Any]:
    """The ``error`` object of an error body."""
    return {"type": type_name or type(e).__name__, "message": hide_tenants(str(e)), "details": hide_tenants(details)}
