"""Pure application of operations: ``apply(state, ops) -> ChangeSet``, and the inverse used by revert."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, assert_never

from deltamem.core.errors import ConflictError, InvalidOperation, NamespaceError, ValidationError
from deltamem.core.limits import DEFAULT_METADATA_LIMITS, MetadataLimits, check_metadata
from deltamem.core.model import MemoryEntry, MemoryState
from deltamem.core.ops import Add, Delete, Noop, Operation, Update
from deltamem.core.timeutil import as_utc, utcnow

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


_SIDES: dict[str, tuple[bool, bool]] = {"ADD": (False, True), "UPDATE": (True, True), "DELETE": (True, False)}


def check_change(namespace: str, change: Change) -> None:
    """Refuse a change that reaches outside ``namespace``: its before and after entries must lie in ``namespace`` and
    be the memory the change names (:class:`NamespaceError`), and its kind must agree with which of them exist (ADD:
    after only, DELETE: before only, UPDATE: both; :class:`InvalidOperation`).

    Stores write the entries as they are (their namespace and id columns come from the entry), so this check is what
    keeps a change set, forged or not, inside its own namespace.
    """
    mid = change.memory_id
    if not isinstance(mid, str) or not mid:
        raise InvalidOperation(f"a {change.kind} change has no memory id")
    if _SIDES.get(change.kind) != (change.before is not None, change.after is not None):
        raise InvalidOperation(f"the {change.kind} change of memory {mid!r} has inconsistent before/after entries")
    for side, entry in (("before", change.before), ("after", change.after)):
        if entry is None:
            continue
        if entry.namespace != namespace:
            raise NamespaceError(f"the {side} entry of memory {mid!r} lies in namespace {entry.namespace!r}, not in "
                                 f"{namespace!r}; a change set may only touch its own namespace")
        if entry.id != mid:
            raise NamespaceError(f"the {side} entry of the change of memory {mid!r} is memory {entry.id!r}")


def check_change_set(change_set: ChangeSet) -> None:
    """The namespace invariant, checked on every write path (apply, invert, each store's commit and load): every
    change lies in the change set's namespace (:func:`check_change`) and touches a memory at most once."""
    if change_set.state.namespace != change_set.namespace:
        raise NamespaceError(f"change set {change_set.id} of namespace {change_set.namespace!r} carries the state of "
                             f"{change_set.state.namespace!r}")
    seen: set[str] = set()
    for c in change_set.changes:
        check_change(change_set.namespace, c)
        if c.memory_id in seen:
            raise InvalidOperation(f"change set {change_set.id} changes memory {c.memory_id!r} twice")
        seen.add(c.memory_id)


def _new_id() -> str:
    return uuid.uuid4().hex


def _check_text(text: object, index: int, op: Operation, max_chars: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidOperation("text is empty", index=index, op=op)
    if len(text) > max_chars:
        raise InvalidOperation(f"text has {len(text)} characters; the limit is {max_chars}", index=index, op=op)
    strings = [text, *(op.keywords or ())] if isinstance(op, Add | Update) else [text]
    if isinstance(op, Add) and op.id is not None:
        strings.append(op.id)
    _check_unicode(strings, index, op)
    return text.strip()


def check_fields(op: Operation, index: int, *, max_text_chars: int = MAX_TEXT_CHARS,
                 metadata_limits: MetadataLimits = DEFAULT_METADATA_LIMITS) -> None:
    """The checks :func:`apply` runs on an op's own fields (text, keywords, ids, reason, time, metadata), without a
    state: for ops kept to be applied later (an edited review item), which must be storable as they wait."""
    if isinstance(op, Add | Update):
        _check_text(op.text, index, op, max_text_chars)
        _checked_fields(op, index, metadata_limits)
    _check_unicode([v for v in (getattr(op, "id", None), getattr(op, "reason", None)) if isinstance(v, str)], index,
                   op)


def check_label(value: object, what: str) -> None:
    """A free string kept beside the memories (a session id, an actor, a reviewer's name) must be text every store
    can write: a str of valid Unicode (no lone surrogate) without NUL. Raises :class:`ValidationError`; None passes."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise ValidationError(f"{what} holds a NUL character (\\x00), which no store keeps")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValidationError(f"{what} {value[:40]!r} is not valid Unicode text: {e.reason}") from e


def _check_unicode(texts: Sequence[str], index: int, op: Operation) -> None:
    # A lone surrogate (JSON allows "\ud800") is a str but not text: no store could encode it. A NUL neither:
    # PostgreSQL refuses it, so SQLite alone would keep it (and its export would not load into PostgreSQL).
    for t in texts:
        if isinstance(t, str) and "\x00" in t:
            raise InvalidOperation(f"{t[:40]!r} holds a NUL character (\\x00), which no store keeps", index=index,
                                   op=op)
        if isinstance(t, str) and not t.isascii():
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InvalidOperation(f"{t[:40]!r} is not valid Unicode text: {e.reason}", index=index, op=op) from e


def _checked_fields(op: Add | Update, index: int, limits: MetadataLimits
                    ) -> tuple[datetime | None, dict[str, Any] | None]:
    """The op's timestamp and metadata, each through its one gate (:func:`as_utc`, :func:`check_metadata`)."""
    try:
        when = as_utc(op.timestamp, what="timestamp") if op.timestamp is not None else None
        meta = check_metadata(op.metadata, limits) if op.metadata is not None else None
    except ValidationError as e:
        raise InvalidOperation(str(e), index=index, op=op) from e
    return when, meta


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
    metadata_limits: MetadataLimits = DEFAULT_METADATA_LIMITS,
) -> ChangeSet:
    """Apply ``ops`` to ``state`` and return the change set: the new state and the exact diff.

    Every op is validated before anything changes: an unknown or already deleted id, two ops on one id, an empty,
    oversize or non-Unicode text, a timestamp outside :func:`as_utc`'s range, metadata beyond ``metadata_limits``,
    or an id collision raises :class:`InvalidOperation` naming the op, and ``state`` is untouched
    (states are immutable; apply never mutates its input); a ``session_id`` or ``actor`` that is not storable text
    raises :class:`ValidationError` (:func:`check_label`). The cost is one dict copy plus O(len(ops)).
    """
    ops = tuple(ops)
    check_label(session_id, "session_id")
    check_label(actor, "actor")
    now = now or utcnow()
    entries = state._raw()
    touched: set[str] = set()
    changes: list[Change] = []
    for i, op in enumerate(ops):
        match op:
            case Add():
                text = _check_text(op.text, i, op, max_text_chars)
                when, meta = _checked_fields(op, i, metadata_limits)
                mid = op.id or id_factory()
                if mid in entries or mid in touched:
                    raise InvalidOperation(f"id {mid!r} already exists", index=i, op=op)
                after = MemoryEntry(
                    id=mid, namespace=state.namespace, text=text, timestamp=when or now, created_at=now,
                    updated_at=now, session_id=session_id, message_indices=op.message_indices,
                    keywords=op.keywords, metadata=meta or {},
                )
                changes.append(Change("ADD", mid, None, after))
            case Update():
                before = _existing(entries, touched, op.id, i, op)
                text = _check_text(op.text, i, op, max_text_chars)
                when, meta = _checked_fields(op, i, metadata_limits)
                after = before.evolve(
                    text=text,
                    timestamp=when or before.timestamp,
                    updated_at=now,
                    session_id=session_id if session_id is not None else before.session_id,
                    message_indices=op.message_indices or before.message_indices,
                    keywords=op.keywords if op.keywords is not None else before.keywords,
                    metadata=meta if meta is not None else before.metadata,
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
    cs = ChangeSet(
        id=change_set_id or _new_id(), namespace=state.namespace, ops=ops, changes=tuple(changes),
        state=_advance(state, changes), created_at=now, session_id=session_id, actor=actor,
    )
    check_change_set(cs)  # cheap (one pass over the changes); guards states built around MemoryState's checks
    return cs


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
        raise NamespaceError(f"change set {change_set.id} belongs to namespace {change_set.namespace!r}")
    check_change_set(change_set)  # rebuilt from stored history, which an old import may have forged
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
    inverse = ChangeSet(
        id=change_set_id or _new_id(), namespace=current.namespace, ops=(), changes=tuple(changes),
        state=_advance(current, changes), created_at=now or utcnow(), session_id=change_set.session_id, actor=actor,
        reverts=change_set.id, note=f"revert of {change_set.id}",
    )
    check_change_set(inverse)
    return inverse
