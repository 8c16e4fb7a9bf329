"""Namespaces from mem0-style scope arguments, and what a caller may pass to ``add``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from deltamem.core import Add, ConfigError, Operation, op_from_dict
from deltamem.core.ops import Delete, Noop, Update

_SAFE = re.compile(r"^[\w.@+-]{1,200}$", re.UNICODE)


def namespace_for(*, user_id: str | None = None, agent_id: str | None = None,
                  namespace: str | None = None) -> str:
    """``user:<id>``, ``agent:<id>``, ``user:<u>/agent:<a>`` for both, or an explicit ``namespace``.

    Exactly one way of naming the scope is required, so no call can act on memories without saying whose.
    """
    if namespace is not None:
        if user_id is not None or agent_id is not None:
            raise ConfigError("give either namespace or user_id / agent_id, not both")
        if not namespace.strip():
            raise ConfigError("namespace must not be empty")
        return namespace
    parts = []
    for label, value in (("user", user_id), ("agent", agent_id)):
        if value is None:
            continue
        if not _SAFE.match(str(value)):
            raise ConfigError(f"{label}_id {value!r} must be 1-200 letters, digits or . _ @ + -")
        parts.append(f"{label}:{value}")
    if not parts:
        raise ConfigError("say whose memory this is: pass user_id, agent_id or namespace")
    return "/".join(parts)


def to_operations(data: str | Sequence[Any], *, metadata: Mapping[str, Any] | None = None) -> list[Operation]:
    """Facts (strings), Operation objects or op dicts (``{"op": "ADD", ...}``) as a list of operations."""
    items: Sequence[Any] = [data] if isinstance(data, str) else data
    ops: list[Operation] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            ops.append(Add(text=item, metadata=dict(metadata or {})))
        elif isinstance(item, Add | Update | Delete | Noop):
            ops.append(item)
        elif isinstance(item, Mapping) and ("op" in item or "event" in item or "kind" in item):
            ops.append(op_from_dict(item, index=i))
        elif isinstance(item, Mapping) and "role" in item:
            raise ConfigError("this looks like a conversation; pass it as messages (see Memory.add)")
        else:
            raise ConfigError(f"item #{i} is neither a fact string nor an operation: {item!r}")
    return ops
