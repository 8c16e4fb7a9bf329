"""Limits on metadata, checked once before anything is written (ops, the REST API, import). Pure.

Metadata is stored as JSON and comes back through JSON encoders with their own recursion limits, so a value that
is too deep, too large or not JSON at all must be refused on the way in: once committed, it would make every read
of its namespace fail. :func:`check_metadata` walks the value without recursion and returns the canonical form
the stores will hand back (plain dicts, lists, str, int, finite float, bool, None).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deltamem.core.errors import ValidationError


@dataclass(frozen=True, slots=True)
class MetadataLimits:
    """Bounds on one memory's metadata: nesting depth (the object itself is level 1), object keys at all levels,
    and bytes of its canonical JSON (UTF-8, sorted keys, no spaces)."""

    max_depth: int = 16
    max_keys: int = 256
    max_bytes: int = 16_384


DEFAULT_METADATA_LIMITS = MetadataLimits()
#: No configuration may allow deeper JSON: far below the recursion limits of the encoders a stored value passes
#: on its way out (json, pydantic, PostgreSQL's jsonb), so whatever is stored can always be sent back.
MAX_JSON_DEPTH = 64


def check_metadata(value: object, limits: MetadataLimits = DEFAULT_METADATA_LIMITS, *,
                   what: str = "metadata") -> dict[str, Any]:
    """``value`` as canonical JSON-ready data, or :class:`ValidationError` saying which limit it breaks."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be an object, not {type(value).__name__}")
    keys = check_json(value, max_depth=limits.max_depth, max_values=limits.max_bytes, what=what, allow_nul=False)
    if keys > limits.max_keys:
        raise ValidationError(f"{what} has {keys} keys; the limit is {limits.max_keys}")
    try:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=dict).encode("utf-8")  # default: other Mappings (check_json let only those pass)
    except (UnicodeEncodeError, ValueError) as e:  # lone surrogates; integers too long to print
        raise ValidationError(f"{what} is not valid JSON text: {e}") from e
    if len(data) > limits.max_bytes:
        raise ValidationError(f"{what} takes {len(data)} bytes as JSON; the limit is {limits.max_bytes}")
    out: dict[str, Any] = json.loads(data)
    return out


def check_json(value: object, *, max_depth: int, max_values: int, what: str, allow_nul: bool = True) -> int:
    """Refuse a value that is not plain JSON data (str keys, finite numbers), nests more than ``max_depth`` levels
    or holds more than ``max_values`` values; returns its number of object keys. Walks without recursion, so no
    input can exhaust the stack here. ``allow_nul=False`` (writes) also refuses a NUL character in a key or string:
    PostgreSQL's jsonb cannot hold one, so only SQLite would keep it."""
    keys = values = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        values += 1
        if values > max_values:
            raise ValidationError(f"{what} holds more than {max_values} values")
        if isinstance(node, Mapping | list | tuple):
            if depth > max_depth:
                raise ValidationError(f"{what} is nested more than {max_depth} levels deep")
            if isinstance(node, Mapping):
                keys += len(node)
                bad = next((k for k in node if not isinstance(k, str)), None)
                if bad is not None:
                    raise ValidationError(f"{what} keys must be strings, not {type(bad).__name__} ({bad!r:.40})")
                if not allow_nul and any("\x00" in k for k in node):
                    raise ValidationError(f"{what} has a key with a NUL character (\\x00), which no store keeps")
                stack += [(v, depth + 1) for v in node.values()]
            else:
                stack += [(v, depth + 1) for v in node]
        elif isinstance(node, str) and not allow_nul and "\x00" in node:
            raise ValidationError(f"{what} holds a string with a NUL character (\\x00), which no store keeps")
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValidationError(f"{what} holds {node}, which JSON cannot store")
        elif not (node is None or isinstance(node, str | int | float)):  # bool is an int
            raise ValidationError(f"{what} holds a {type(node).__name__}; only JSON values are allowed")
    return keys
