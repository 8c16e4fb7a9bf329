"""JSON (de)serialisation of queued change sets, shared by the SQL stores."""

from __future__ import annotations

import json
from typing import Any

from deltamem.core import CorruptDataError, to_iso
from deltamem.core.timeutil import stored_time
from deltamem.stores.review import PendingChangeSet


def item_to_json(item: PendingChangeSet) -> str:
    """A queued change set as JSON text."""
    return json.dumps({
        "id": item.id, "namespace": item.namespace, "ops": list(item.ops), "reason": item.reason,
        "created_at": to_iso(item.created_at), "session_id": item.session_id, "actor": item.actor,
        "status": item.status, "resolved_at": to_iso(item.resolved_at) if item.resolved_at else None,
        "resolved_by": item.resolved_by, "change_set_id": item.change_set_id,
    }, ensure_ascii=False)


def json_to_item(text: str) -> PendingChangeSet:
    """The inverse of :func:`item_to_json`."""
    try:
        d: dict[str, Any] = json.loads(text)
        return PendingChangeSet(
            id=d["id"], namespace=d["namespace"], ops=tuple(d["ops"]), reason=d["reason"],
            created_at=stored_time(d["created_at"], of=f"review item {d['id']!r}"), session_id=d.get("session_id"),
            actor=d.get("actor", "agent"),
            status=d["status"], resolved_at=stored_time(d["resolved_at"]) if d.get("resolved_at") else None,
            resolved_by=d.get("resolved_by"), change_set_id=d.get("change_set_id"),
        )
    except (KeyError, ValueError, TypeError) as e:
        raise CorruptDataError(f"queued change set cannot be read: {e}") from e
