"""Memory operations: ``Add | Update | Delete | Noop``, a discriminated union on ``kind``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from deltamem.core.errors import InvalidOperation
from deltamem.core.timeutil import as_utc


@dataclass(frozen=True, slots=True, kw_only=True)
class Add:
    """Store a new fact sentence. ``id`` may be given (import, tests); otherwise apply() makes one."""

    text: str
    timestamp: datetime | None = None
    keywords: tuple[str, ...] = ()
    message_indices: tuple[int, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    kind: Literal["ADD"] = "ADD"


@dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    """Replace the text of memory ``id`` (the fact changed or was refined). ``None`` fields keep their value."""

    id: str
    text: str
    timestamp: datetime | None = None
    keywords: tuple[str, ...] | None = None
    message_indices: tuple[int, ...] = ()
    metadata: Mapping[str, Any] | None = None
    kind: Literal["UPDATE"] = "UPDATE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Delete:
    """Retire memory ``id`` (the fact was retracted or no longer holds). Non-destructive: history keeps it."""

    id: str
    reason: str = ""
    kind: Literal["DELETE"] = "DELETE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Noop:
    """Nothing to change; may carry the reason, for the record."""

    reason: str = ""
    kind: Literal["NOOP"] = "NOOP"


Operation: TypeAlias = Add | Update | Delete | Noop


def op_to_dict(op: Operation) -> dict[str, Any]:
    """JSON-ready dict of an operation (``op`` holds the kind); the inverse of :func:`op_from_dict`."""
    out: dict[str, Any] = {"op": op.kind}
    for name in op.__dataclass_fields__:
        if name == "kind":
            continue
        value = getattr(op, name)
        if value is None or value == () or value == "" or (isinstance(value, Mapping) and not value):
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def op_from_dict(data: Mapping[str, Any], *, index: int | None = None) -> Operation:
    """Parse one operation from a JSON-like dict such as ``{"op": "UPDATE", "id": "m3", "text": "..."}``.

    Raises :class:`InvalidOperation` naming the problem; unknown fields are refused so that typos never pass silently.
    """
    if not isinstance(data, Mapping):
        raise InvalidOperation(f"an operation must be an object, got {type(data).__name__}", index=index, op=data)
    kind = str(data.get("op", data.get("kind", data.get("event", "")))).strip().upper()
    classes: dict[str, type[Any]] = {"ADD": Add, "UPDATE": Update, "DELETE": Delete, "NOOP": Noop, "NONE": Noop}
    cls = classes.get(kind)
    if cls is None:
        raise InvalidOperation(f"unknown op {kind or '(missing)'!r}; expected ADD, UPDATE, DELETE or NOOP",
                               index=index, op=dict(data))
    allowed = set(cls.__dataclass_fields__) - {"kind"}
    extra = set(data) - allowed - {"op", "kind", "event"}
    if extra:
        raise InvalidOperation(f"unexpected field(s) {sorted(extra)} for {kind}", index=index, op=dict(data))
    kwargs: dict[str, Any] = {}
    try:
        for name in allowed & set(data):
            value = data[name]
            if value is None:
                continue
            if name == "timestamp":
                value = as_utc(value)
            elif name in ("keywords", "message_indices"):
                if isinstance(value, str) or not isinstance(value, list | tuple):
                    raise ValueError(f"{name} must be a list")
                value = tuple(int(v) for v in value) if name == "message_indices" else tuple(str(v) for v in value)
            elif name == "metadata":
                if not isinstance(value, Mapping):
                    raise ValueError("metadata must be an object")
                value = MappingProxyType(dict(value))
            elif name in ("id", "text", "reason"):
                if not isinstance(value, str | int):
                    raise ValueError(f"{name} must be a string")
                value = str(value)
            kwargs[name] = value
        return cls(**kwargs)  # type: ignore[no-any-return]
    except TypeError as e:
        raise InvalidOperation(f"missing or bad field for {kind}: {e}", index=index, op=dict(data)) from e
    except ValueError as e:
        raise InvalidOperation(str(e), index=index, op=dict(data)) from e
