"""The namespace invariant in the core: a change set touches only entries of its own namespace (finding 1 of #19).

A change set rebuilt from forged history (before/after entries of another namespace, or of another id) is refused
by ``invert`` before it can become a revert that writes into the other namespace; ``apply`` checks its own output.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deltamem.core import (
    Add,
    Change,
    ChangeSet,
    InvalidOperation,
    MemoryEntry,
    MemoryState,
    NamespaceError,
    apply,
    check_change_set,
    invert,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def entry(mid: str, text: str, ns: str) -> MemoryEntry:
    return MemoryEntry(id=mid, namespace=ns, text=text, timestamp=T0, created_at=T0, updated_at=T0)


def change_set(ns: str, *changes: Change) -> ChangeSet:
    return ChangeSet(id="cs1", namespace=ns, ops=(), changes=changes, state=MemoryState(ns), created_at=T0)


FORGED = {
    "delete of a foreign entry": Change("DELETE", "x", entry("x", "planted", "victim"), None),
    "add of a foreign entry": Change("ADD", "x", None, entry("x", "planted", "victim")),
    "update from a foreign entry": Change("UPDATE", "x", entry("x", "a", "victim"), entry("x", "b", "mallory")),
    "update into a foreign entry": Change("UPDATE", "x", entry("x", "a", "mallory"), entry("x", "b", "victim")),
    "entry of another id": Change("DELETE", "x", entry("y", "other id", "mallory"), None),
}


@pytest.mark.parametrize("change", FORGED.values(), ids=FORGED.keys())
def test_invert_refuses_a_change_set_that_reaches_outside_its_namespace(change: Change) -> None:
    forged = change_set("mallory", change)
    with pytest.raises(NamespaceError, match="'x'"):
        invert(forged, MemoryState("mallory"), force=True)
    with pytest.raises(NamespaceError):
        check_change_set(forged)


@pytest.mark.parametrize("change", [
    Change("ADD", "x", entry("x", "a", "mallory"), entry("x", "b", "mallory")),
    Change("DELETE", "x", None, None),
    Change("UPDATE", "", entry("x", "a", "mallory"), entry("x", "b", "mallory")),
])
def test_malformed_changes_are_invalid(change: Change) -> None:
    with pytest.raises(InvalidOperation):
        check_change_set(change_set("mallory", change))


def test_a_memory_changed_twice_in_one_change_set_is_invalid() -> None:
    one = Change("ADD", "x", None, entry("x", "a", "mallory"))
    with pytest.raises(InvalidOperation, match="twice"):
        check_change_set(change_set("mallory", one, one))


def test_check_names_the_namespaces_involved() -> None:
    with pytest.raises(NamespaceError, match=r"'victim'.*'mallory'"):
        check_change_set(change_set("mallory", FORGED["delete of a foreign entry"]))


def test_a_change_set_apply_builds_passes_the_check() -> None:
    state = MemoryState.of("u", [entry("m1", "one", "u")])
    cs = apply(state, [Add(text="two")])
    check_change_set(cs)
    check_change_set(invert(cs, cs.state))
