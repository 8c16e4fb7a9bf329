"""Inputs of the reward: a small agent-output parser and the ``{"id", "text", "keywords"}`` state records.

The agent package owns the full parser (tool calls, repair, error messages for the model); this one only finds a
JSON list of operations in a completion, which is all the reward needs to score a rollout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from deltamem.core import AgentOutputError, ConfigError, MemoryEntry, MemoryState
from deltamem.core.reply import Truncated, find_reply, salvage_ops

#: The namespace and time given to entries built from records: the reward never looks at either.
RECORD_NAMESPACE = "reward"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


#: One memory as the reward sees it: ``(id, text, keywords)``.
Item = tuple[str, str, tuple[str, ...]]


def extract_ops(raw: str) -> list[dict[str, Any]]:
    """The operation dicts in an agent's final output, e.g. ``[{"op": "ADD", "text": "..."}, {"op": "NOOP"}]``.

    Read by the one reply protocol of :mod:`deltamem.core.reply`, exactly as the agent reads its replies: ``<think>``
    blocks, code fences and prose around the JSON are tolerated; a list of objects, ``{"ops": [...]}`` /
    ``{"operations": [...]}`` or one op object is accepted; when several qualify, the last one wins; a reply cut off
    inside its ops list keeps the complete ops before the cut. ``[]`` is a valid answer: no change.

    Raises :class:`AgentOutputError` (carrying ``raw``) when no such value exists.

    >>> extract_ops('Done.\\n```json\\n[{"op": "DELETE", "id": "m2"}]\\n```')
    [{'op': 'DELETE', 'id': 'm2'}]
    """
    if not isinstance(raw, str):
        raise AgentOutputError(f"agent output must be text, got {type(raw).__name__}", raw=repr(raw))
    try:
        value = find_reply(raw)
    except Truncated:
        value = salvage_ops(raw)
    ops = _as_ops(value)
    if ops is None:
        raise AgentOutputError("no JSON list of operations found in the agent output", raw=raw)
    return ops


def _as_ops(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, dict):
        for key in ("ops", "operations", "memory"):
            if isinstance(value.get(key), list):
                return _as_ops(value[key])
        return [value] if "op" in value else None
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    return None


def _records(data: Any, what: str) -> Sequence[Any]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{what}: not valid JSON ({e})") from e
    if isinstance(data, Mapping) or not isinstance(data, Sequence) or isinstance(data, bytes):
        raise ConfigError(f"{what}: expected a list of memories, got {type(data).__name__}")
    return data


def _keywords(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"{what}: keywords must be a list of strings")
    kw = tuple(value)
    try:
        "".join(kw)  # a C-speed check that every keyword is a string (this runs for every memory of every reward)
    except TypeError:
        raise ConfigError(f"{what}: keywords must be a list of strings") from None
    return kw


def items_of(data: Any, *, what: str = "state", require_id: bool = False, keywords: bool = True) -> list[Item]:
    """``(id, text, keywords)`` of every memory in ``data``.

    ``data`` is a :class:`MemoryState`, a sequence of :class:`MemoryEntry`, a sequence of records
    ``{"id": str, "text": str, "keywords": [str, ...]}`` or that list as a JSON string. A record's ``id`` is optional
    unless ``require_id`` (then missing or repeated ids are errors); ``keywords`` is optional and, with
    ``keywords=False``, neither read nor checked (the prediction's keywords play no part in the reward). Raises
    :class:`ConfigError` naming ``what`` and the record on malformed input.
    """
    if isinstance(data, MemoryState):
        return [(e.id, e.text, e.keywords) for e in data.values()]
    out: list[Item] = []
    for i, rec in enumerate(_records(data, what)):
        if type(rec) is not dict:  # fast path for the common case; other mappings and entries below
            if isinstance(rec, MemoryEntry):
                out.append((rec.id, rec.text, rec.keywords))
                continue
            if not isinstance(rec, Mapping):
                raise ConfigError(f"{what}: memory #{i} must be an object, got {type(rec).__name__}")
        text, mid = rec.get("text"), rec.get("id")
        if type(text) is not str:
            raise ConfigError(f"{what}: memory #{i} needs a string 'text'")
        if type(mid) is not str:
            if mid is None and not require_id:
                mid = f"#{i}"
            elif isinstance(mid, int) and not isinstance(mid, bool):
                mid = str(mid)
            else:
                raise ConfigError(f"{what}: memory #{i} needs a string 'id'")
        if not mid:
            raise ConfigError(f"{what}: memory #{i} needs a string 'id'")
        out.append((mid, text, _keywords(rec.get("keywords"), f"{what}: memory #{i}") if keywords else ()))
    if require_id and len({m for m, _, _ in out}) != len(out):
        raise ConfigError(f"{what}: memory ids must be unique")
    return out


def state_from_records(data: Any, *, what: str = "state") -> MemoryState:
    """A :class:`MemoryState` (namespace ``"reward"``, fixed timestamps) from records as accepted by :func:`items_of`.

    This is S_t for applying an agent's operations; ids are required and unique.
    """
    if isinstance(data, MemoryState):
        return data
    return state_of_items(items_of(data, what=what, require_id=True))


def state_of_items(items: Sequence[Item]) -> MemoryState:
    """A :class:`MemoryState` (namespace ``"reward"``, fixed timestamps) holding ``items``."""
    return MemoryState(RECORD_NAMESPACE, {
        mid: MemoryEntry(id=mid, namespace=RECORD_NAMESPACE, text=text, timestamp=_EPOCH, created_at=_EPOCH,
                         updated_at=_EPOCH, keywords=kw)
        for mid, text, kw in items
    })


def records_of(data: Any, *, what: str = "state") -> list[dict[str, Any]]:
    """The JSON records of a state: the inverse of :func:`state_from_records` (the file format of the CLI)."""
    return [{"id": mid, "text": text, "keywords": list(kw)} for mid, text, kw in items_of(data, what=what)]
