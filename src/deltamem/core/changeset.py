"""Pure application of operations: ``apply(state, ops) -> ChangeSet``, and the inverse used by revert."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, assert_never

from deltamem.core.errors import ConflictError, InvalidOperation
from deltamem.core.model import MemoryEntry, MemoryState
from deltamem.core.ops import Add, Delete, Noop, Operation, Update
from deltamem.core.timeutil import utcnow

#: Default upper bound on a memory's text. An atomic fact is one sentence; anything this long is a paste, not a fact.
MAX_TEXT_CHARS = 2000

ChangeKind = Literal["ADD", "UPDATE", "DELETE"]


@dataclass(frozen=True, slots=True)
class Change:
    """One memory's change: ``before`` is None for ADD, ``after`` is None for DELETE."""

    kind: ChangeKind
    memory_id: str
    before: MemoryEntry | None
    after: MemoryEntry | None


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The exact result of applying a list of operations to a state, committed atomically by a store.

    ``state`` is the new state (as complete as the input state was). ``changes`` is the diff, one entry per touched
    memory; Noop ops appear in ``ops`` but produce no change. ``reverts`` names the change set this one undoes.
    """

    id: str
    namespace: str
    ops: tuple[Operation, ...]
    changes: tuple[Change, ...]
    state: MemoryState
    created_at: datetime
    session_id: str | None = None
    actor: str = "user"
    reverts: str | None = None
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when nothing changes (only Noops, or no ops)."""
        return not self.changes

    def counts(self) -> dict[str, int]:
        """Number of ADD / UPDATE / DELETE changes."""
        out = {"ADD": 0, "UPDATE": 0, "DELETE": 0}
        for c in self.changes:
            out[c.kind] += 1
        return out


def _new_id() -> str:
    return uuid.uuid4().hex


def _check_text(text: object, index: int, op: Operation, max_chars: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidOperation("text is empty", index=index, op=op)
    if len(text) > max_chars:
        raise InvalidOperation(f"text has {len(text)} characters; the limit is {max_chars}", index=index, op=op)
    return text.strip()


def apply(
    state: MemoryState,
    ops: Iterable[Operation],
    *,
    session_id: str | None = None,
    actor: str = "user",
    now: datetime | None = None,
    id_factory: Callable[[], str] = _new_id,
    change_set_id: str | None = None,
    max_text_chars: int = MAX_TEXT_CHARS,
) -> ChangeSet:
    """Apply ``ops`` to ``state`` and return the change set: the new state and the exact diff.

    Every op is validated before anything changes: an unknown or already deleted id, two ops on one id, an empty or
    oversize text, or an id collision raises :class:`InvalidOperation` naming the op, and ``state`` is untouched
    (states are immutable; apply never mutates its input). The cost is one dict copy plus O(len(ops)).
    """
    ops = tuple(ops)
    now = now or utcnow()
    entries = state._raw()
    touched: set[str] = set()
    changes: list[Change] = []
    for i, op in enumerate(ops):
        match op:
            case Add():
                text = _check_text(op.text, i, op, max_text_chars)
                mid = op.id or id_factory()
                if mid in entries or mid in touched:
                    raise InvalidOperation(f"id {mid!r} already exists", index=i, op=op)
                after = MemoryEntry(
                    id=mid, namespace=state.namespace, text=text, timestamp=op.timestamp or now, created_at=now,
                    updated_at=now, session_id=session_id, message_indices=op.message_indices,
                    keywords=op.keywords, metadata=op.metadata,
                )
                changes.append(Change("ADD", mid, None, after))
            case Update():
                before = _existing(entries, touched, op.id, i, op)
                text = _check_text(op.text, i, op, max_text_chars)
                after = before.evolve(
                    text=text,
                    timestamp=op.timestamp or before.timestamp,
                    updated_at=now,
                    session_id=session_id if session_id is not None else before.session_id,
                    message_indices=op.message_indices or before.message_indices,
                    keywords=op.keywords if op.keywords is not None else before.keywords,
                    metadata=op.metadata if op.metadata is not None else before.metadata,
                )
                changes.append(Change("UPDATE", op.id, before, after))
            case Delete():
                before = _existing(entries, touched, op.id, i, op)
                changes.append(Change("DELETE", op.id, before, None))
            case Noop():
                continue
            case _:
                assert_never(op)
        touched.add(changes[-1].memory_id)
    return ChangeSet(
        id=change_set_id or _new_id(), namespace=state.namespace, ops=ops, changes=tuple(changes),
        state=_advance(state, changes), created_at=now, session_id=session_id, actor=actor,
    )


def _existing(entries: dict[str, MemoryEntry], touched: set[str], mid: str, i: int, op: Operation) -> MemoryEntry:
    if not isinstance(mid, str) or not mid:
        raise InvalidOperation("id is missing", index=i, op=op)
    if mid in touched:
        raise InvalidOperation(f"memory {mid!r} is already changed by an earlier op of this change set", index=i, op=op)
    entry = entries.get(mid)
    if entry is None:
        raise InvalidOperation(f"unknown or deleted memory id {mid!r}", index=i, op=op)
    return entry


def _advance(state: MemoryState, changes: Sequence[Change]) -> MemoryState:
    entries = dict(state._raw())
    for c in changes:
        if c.after is None:
            entries.pop(c.memory_id, None)
        else:
            entries[c.memory_id] = c.after
    return state._with(entries)


def invert(
    change_set: ChangeSet,
    current: MemoryState,
    *,
    force: bool = False,
    now: datetime | None = None,
    actor: str = "user",
    change_set_id: str | None = None,
) -> ChangeSet:
    """The change set that restores exactly what ``change_set`` changed (its ``before`` entries).

    ``current`` must hold (at least) the live entries among ``change_set``'s memory ids. If a memory was changed again
    after ``change_set`` (its live version differs from ``change_set``'s ``after``), raise :class:`ConflictError`
    unless ``force``, in which case the before-version wins over the later change.
    """
    if current.namespace != change_set.namespace:
        raise InvalidOperation(f"change set {change_set.id} belongs to namespace {change_set.namespace!r}")
    if change_set.reverts is None and not change_set.changes:
        raise InvalidOperation(f"change set {change_set.id} changed nothing; there is nothing to revert")
    live = current._raw()
    conflicts = [c.memory_id for c in change_set.changes if live.get(c.memory_id) != c.after]
    if conflicts and not force:
        raise ConflictError(
            f"later change sets changed {len(conflicts)} of the memories that {change_set.id} touched "
            f"({', '.join(conflicts[:5])}); revert them first or force the revert"
        )
    changes: list[Change] = []
    for c in change_set.changes:
        now_entry = live.get(c.memory_id)
        if c.before is None:
            if now_entry is not None:
                changes.append(Change("DELETE", c.memory_id, now_entry, None))
        elif now_entry is None:
            changes.append(Change("ADD", c.memory_id, None, c.before))
        elif now_entry != c.before:
            changes.append(Change("UPDATE", c.memory_id, now_entry, c.before))
    return ChangeSet(
        id=change_set_id or _new_id(), namespace=current.namespace, ops=(), changes=tuple(changes),
        state=_advance(current, changes), created_at=now or utcnow(), session_id=change_set.session_id, actor=actor,
        reverts=change_set.id, note=f"revert of {change_set.id}",
    )
