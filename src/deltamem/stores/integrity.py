"""What a well-formed dumped record, and a consistent set of them, is: the one validation behind import and load.

:func:`check_record` judges one record alone; every store's ``load`` and every import run it. :func:`check_records`
judges a whole export (an import file; :func:`deltamem.stores.archive.read_export` runs both): no duplicates, every
reference inside the record's own namespace, and the memory records equal to what replaying the history gives.
Both raise :class:`CorruptDataError` (a :class:`NamespaceError` for an entry outside its record's namespace) before
anything is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from deltamem.core import Change, CorruptDataError, MemoryEntry, check_change
from deltamem.core.codec import ops_from_list
from deltamem.core.errors import ValidationError
from deltamem.core.limits import MAX_JSON_DEPTH, check_json
from deltamem.stores.base import ChangeSetRecord, DumpRecord, HistoryRecord, StoredMemory

#: A bound on the values of one memory's metadata in a record (far above any configured limit; bounds the walk).
_MAX_VALUES = 1_000_000


def namespace_of(rec: DumpRecord) -> str:
    """The namespace a record belongs to."""
    return rec.entry.namespace if isinstance(rec, StoredMemory) else rec.namespace


def describe(rec: DumpRecord) -> str:
    """A record as error messages name it."""
    if isinstance(rec, StoredMemory):
        return f"memory record {rec.entry.id!r} of {rec.entry.namespace!r}"
    if isinstance(rec, ChangeSetRecord):
        return f"change set {rec.id!r} of {rec.namespace!r}"
    return f"history record of change set {rec.change_set_id!r} (memory {rec.memory_id!r}) of {rec.namespace!r}"


def check_record(rec: DumpRecord) -> None:
    """One record on its own: a history record's entries lie in its namespace and are the memory it names, and its
    kind agrees with them (the namespace invariant of :func:`deltamem.core.check_change`).

    This is the one per-record check of every import and every load; field checks that apply to records (ranges of
    values, sizes) belong here.
    """
    if isinstance(rec, HistoryRecord):
        check_change(rec.namespace, Change(rec.kind, rec.memory_id, rec.before, rec.after))
        entries = [e for e in (rec.before, rec.after) if e is not None]
    elif isinstance(rec, ChangeSetRecord):
        if not rec.id or not rec.namespace:
            raise CorruptDataError(f"{describe(rec)} has an empty id or namespace")
        kinds = set(rec.counts) - {"ADD", "UPDATE", "DELETE"}
        if kinds or any(v < 0 for v in rec.counts.values()):
            raise CorruptDataError(f"{describe(rec)} has malformed counts {dict(rec.counts)}")
        try:
            ops_from_list(list(rec.ops))  # shown and replayed later: they must parse as operations
        except CorruptDataError as e:
            raise CorruptDataError(f"{describe(rec)}: {e}") from e
        entries = []
    else:
        entries = [rec.entry]
    for entry in entries:
        if not entry.id or not entry.namespace:
            raise CorruptDataError(f"{describe(rec)} holds a memory with an empty id or namespace")
        if entry.session_id is not None and not isinstance(entry.session_id, str):
            raise CorruptDataError(f"{describe(rec)} holds a memory whose session_id is not a string")
        try:  # the absolute bound every stored value must keep to be readable (configured limits: part of apply)
            check_json(entry.metadata, max_depth=MAX_JSON_DEPTH, max_values=_MAX_VALUES, what="metadata")
        except ValidationError as e:
            raise CorruptDataError(f"{describe(rec)}: {e}") from e


@dataclass
class _Replay:
    entry: MemoryEntry
    live: bool


def check_records(records: Sequence[DumpRecord], *, namespaces: Sequence[str] | None = None) -> None:
    """A whole export, checked before anything of it is written (each record passed :func:`check_record` already:
    :func:`~deltamem.stores.archive.read_export` runs it line by line, to name the line).

    - every record lies in ``namespaces`` (the header's list) when given;
    - no change set and no memory appears twice (in one namespace);
    - every history record belongs to a change set of its own namespace in the file, and each change set's counts
      equal its history records; ``reverts`` / ``reverted_by`` name change sets of the same namespace in the file;
    - replaying the history, in file order, from an empty namespace is possible (each UPDATE or DELETE finds the
      entry it starts from, each ADD a memory that is not live) and ends exactly at the memory records: a live record
      equals the replayed entry, a deleted one the entry it was deleted as, and no record lacks a history.
    """
    allowed = set(namespaces) if namespaces is not None else None
    sets: dict[tuple[str, str], ChangeSetRecord] = {}
    memories: dict[tuple[str, str], StoredMemory] = {}
    for rec in records:
        ns = namespace_of(rec)
        if allowed is not None and ns not in allowed:
            raise CorruptDataError(f"{describe(rec)} lies outside the namespaces the header lists")
        if isinstance(rec, ChangeSetRecord):
            if (ns, rec.id) in sets:
                raise CorruptDataError(f"{describe(rec)} appears twice")
            sets[ns, rec.id] = rec
        elif isinstance(rec, StoredMemory):
            if (ns, rec.entry.id) in memories:
                raise CorruptDataError(f"{describe(rec)} appears twice")
            memories[ns, rec.entry.id] = rec
    _check_change_sets(records, sets)
    _check_replay(records, memories)


def _check_change_sets(records: Sequence[DumpRecord], sets: dict[tuple[str, str], ChangeSetRecord]) -> None:
    # A revert is computed from the committed history of the change set it reverts, so its own history comes later
    # (whatever the stores' locking; nothing is assumed about how concurrent change sets interleave).
    counted: Counter[tuple[str, str, str]] = Counter()
    first: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], int] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, HistoryRecord):
            continue
        key = (rec.namespace, rec.change_set_id)
        if key not in sets:
            raise CorruptDataError(f"{describe(rec)} names a change set that the file does not hold in its namespace")
        first.setdefault(key, i)
        last[key] = i
        counted[rec.namespace, rec.change_set_id, rec.kind] += 1
    for (ns, cs_id), cs in sets.items():
        for ref in (cs.reverts, cs.reverted_by):
            if ref is not None and (ns, ref) not in sets:
                raise CorruptDataError(f"{describe(cs)} refers to change set {ref!r}, which the file does not hold "
                                       "in its namespace")
        if cs.reverts is not None and first.get((ns, cs_id), len(records)) < last.get((ns, cs.reverts), -1):
            raise CorruptDataError(f"{describe(cs)} reverts {cs.reverts!r}, but its history comes before that "
                                   "change set's")
        for kind in ("ADD", "UPDATE", "DELETE"):
            if cs.counts.get(kind, 0) != counted[ns, cs_id, kind]:
                raise CorruptDataError(f"{describe(cs)} disagrees with its history: it counts "
                                       f"{cs.counts.get(kind, 0)} {kind} changes, its history holds "
                                       f"{counted[ns, cs_id, kind]}")


def _check_replay(records: Sequence[DumpRecord], memories: dict[tuple[str, str], StoredMemory]) -> None:
    replay: dict[tuple[str, str], _Replay] = {}
    for rec in records:
        if not isinstance(rec, HistoryRecord):
            continue
        key = (rec.namespace, rec.memory_id)
        now = replay.get(key)
        live = now.entry if now is not None and now.live else None
        if rec.before != live:
            detail = ("the ADD finds the memory live already" if rec.before is None
                      else f"the {rec.kind} starts from a memory that is not live" if live is None
                      else f"the {rec.kind} starts from another version of the memory than the history left")
            raise CorruptDataError(f"{describe(rec)} disagrees with the history before it: {detail}")
        entry = rec.after if rec.after is not None else rec.before
        assert entry is not None  # check_record: a change has a before or an after entry
        replay[key] = _Replay(entry, rec.after is not None)
    for key, mem in memories.items():
        got = replay.get(key)
        if got is None:
            raise CorruptDataError(f"{describe(mem)} disagrees with its history: no change set wrote it")
        if mem.entry != got.entry or (mem.deleted_at is None) != got.live:
            raise CorruptDataError(f"{describe(mem)} disagrees with its history: replaying the history gives "
                                   f"{'a live' if got.live else 'a deleted'} memory with other fields")
    missing = sorted(set(replay) - set(memories))
    if missing:
        ns, mid = missing[0]
        raise CorruptDataError(f"memory {mid!r} of {ns!r} has a history but no memory record: the memory records "
                               "disagree with the history")
