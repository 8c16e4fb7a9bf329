"""The review policy over a window: whether an agent's change set waits for a person, and why.

Judged one change set at a time, a compliant model asked to forget could stay just under the limits every session:
100 memories fell to 13 in six sessions of 29 % each, and no review item was raised. So the destructive ops of the
namespace's recent agent change sets are added to those at hand and measured against the namespace as it was when
the window opened (the rules and defaults: :class:`~deltamem.config.ReviewPolicy`). :func:`select_window` and
:func:`assess` are pure; :func:`review_reason` reads the store.

The policy advises, it does not lock: two agent sessions of one namespace running at the same moment are each
measured without the other. Both job runners of the server run one session per namespace at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from deltamem.config import ReviewPolicy
from deltamem.core import Add, Delete, Operation, Update, utcnow
from deltamem.stores.base import ArchiveStore, ChangeSetRecord

#: The actor of change sets made by the memory agent; only these count towards (and are held by) the policy.
AGENT_ACTOR = "agent"
#: Change-set headers read at most to find where the window opens (they are read newest first).
SCAN_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Selection:
    """The agent change sets inside the window (newest first, reverted ones left out) and where it opened."""

    counted: tuple[ChangeSetRecord, ...]
    start: datetime | None  # created_at of the oldest agent change set in the window; None: no earlier one
    size_at_start: int  # live memories just before ``start`` (the live count now when the window is empty)
    complete: bool  # the records reached past the window's start


@dataclass(frozen=True, slots=True)
class Window:
    """What the agent's earlier change sets in the window did (the change set at hand not included)."""

    start: datetime | None
    change_sets: int
    size_at_start: int
    touched: frozenset[str]  # memories held at ``start`` that were deleted or overwritten since
    deleted: frozenset[str]  # memories deleted (whenever they were added)

    @classmethod
    def empty(cls, live: int) -> Window:
        """No earlier agent change set: the change set at hand is judged against the live count."""
        return cls(None, 0, live, frozenset(), frozenset())


def select_window(records: Sequence[ChangeSetRecord], policy: ReviewPolicy, *, now: datetime,
                  live: int) -> Selection:
    """The window among change-set headers (newest first): the last ``window_change_sets`` agent change sets, or
    all those of the last ``window_hours`` if there are more. Every change set since the window opened, whoever made
    it, is undone on the live count to give the namespace's size at the start."""
    cutoff = now - timedelta(hours=policy.window_hours)
    seen, delta, size = 0, 0, live
    start: datetime | None = None
    counted: list[ChangeSetRecord] = []
    for r in records:
        delta += r.counts.get("DELETE", 0) - r.counts.get("ADD", 0)
        if r.actor != AGENT_ACTOR:
            continue
        if seen >= policy.window_change_sets and r.created_at < cutoff:
            return Selection(tuple(counted), start, size, complete=True)
        seen, start, size = seen + 1, r.created_at, max(0, live + delta)
        if r.reverted_by is None:  # a reverted change set's deletions were undone
            counted.append(r)
    return Selection(tuple(counted), start, size, complete=False)


def read_window(store: ArchiveStore, namespace: str, policy: ReviewPolicy, *, now: datetime, live: int) -> Window:
    """The window of ``namespace``: headers read newest first (more while the window may open further back), then
    the history of each agent change set in it."""
    limit = min(SCAN_LIMIT, max(32, 4 * policy.window_change_sets))
    while True:
        records = store.change_sets(namespace, limit=limit)
        sel = select_window(records, policy, now=now, live=live)
        if sel.complete or len(records) < limit or limit >= SCAN_LIMIT:
            break
        limit = min(SCAN_LIMIT, 4 * limit)
    if sel.start is None:
        return Window.empty(live)
    touched: set[str] = set()
    deleted: set[str] = set()
    for r in sel.counted:
        for h in store.history(namespace, change_set_id=r.id):
            if h.before is None:
                continue
            if h.before.created_at < sel.start:
                touched.add(h.memory_id)
            if h.kind == "DELETE":
                deleted.add(h.memory_id)
    return Window(sel.start, len(sel.counted), sel.size_at_start, frozenset(touched), frozenset(deleted))


def assess(policy: ReviewPolicy, ops: Sequence[Operation], *, window: Window, live: int,
           fresh: frozenset[str] = frozenset()) -> str | None:
    """Why ``ops`` must wait for review (each rule that fires, with its counts and the window), or None.

    ``live``: the namespace's live count now; ``fresh``: memories among the targets added after the window opened.
    """
    if not policy.enabled:
        return None
    now_touched = {op.id for op in ops if isinstance(op, Update | Delete) and op.id not in fresh}
    now_deleted = {op.id for op in ops if isinstance(op, Delete)}
    adds = sum(1 for op in ops if isinstance(op, Add))
    touched, deleted = window.touched | now_touched, window.deleted | now_deleted
    earlier = scope = ""
    if window.start is not None:
        sets = f"{window.change_sets} earlier agent change set" + ("s" if window.change_sets != 1 else "")
        earlier = f" in {sets} since {window.start:%Y-%m-%d %H:%M} UTC"
        scope = f"this change set and {sets} since {window.start:%Y-%m-%d %H:%M} UTC"
    rules: list[str] = []
    n = len(touched)
    if n > policy.max_destructive and n > policy.max_destructive_share * window.size_at_start:
        split = f"{len(now_touched - window.touched)} in this change set" + (
            f", {len(window.touched)}{earlier}" if earlier else "")
        rules.append(f"destructive share: the agent would delete or overwrite {n} of the {window.size_at_start} "
                     f"memories the namespace held when the window opened ({split}); limits: more than "
                     f"{policy.max_destructive} and more than {policy.max_destructive_share:.0%}")
    if len(deleted) > policy.max_deletes:
        split = f"{len(now_deleted - window.deleted)} in this change set" + (
            f", {len(window.deleted)}{earlier}" if earlier else "")
        rules.append(f"delete count: the agent would delete {len(deleted)} memories in the window ({split}); "
                     f"limit: more than {policy.max_deletes}, whatever the share")
    if policy.hold_emptying and live > 0 and now_deleted and live - len(now_deleted) + adds <= 0:
        last = "the last memory" if len(now_deleted) == 1 else f"the last {len(now_deleted)} memories"
        rules.append(f"emptying: this change set deletes {last} of the namespace; the agent may not leave it empty")
    if not rules:
        return None
    return "; ".join(rules) + (f" (window: {scope or 'this change set alone'}; it spans the last "
                               f"{policy.window_change_sets} agent change sets, or those of the last "
                               f"{policy.window_hours:g} h if more)")


def review_reason(store: ArchiveStore, namespace: str, ops: Sequence[Operation], policy: ReviewPolicy, *,
                  now: datetime | None = None) -> str | None:
    """Why the agent's ``ops`` for ``namespace`` must wait for review, or None (reads the window from ``store``)."""
    if not policy.enabled:
        return None
    live = store.count(namespace)
    window = read_window(store, namespace, policy, now=now or utcnow(), live=live)
    fresh: frozenset[str] = frozenset()
    if window.start is not None:
        start = window.start
        targets = store.get(namespace, [op.id for op in ops if isinstance(op, Update | Delete)])
        fresh = frozenset(mid for mid, e in targets.items() if e.created_at >= start)
    return assess(policy, ops, window=window, live=live, fresh=fresh)
