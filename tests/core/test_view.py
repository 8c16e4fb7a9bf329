"""The outward shape of a memory (deltamem.core.view): times, provenance, namespace, unsendable metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from deltamem.core import MemoryEntry
from deltamem.core.limits import MAX_JSON_DEPTH
from deltamem.core.view import UNSENDABLE, MemoryView, json_time, memory_view

T = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def entry(**changes: Any) -> MemoryEntry:
    base = MemoryEntry(id="m1", namespace="tenant:acme/user:ana", text="Ana lives in Oslo", timestamp=T,
                       created_at=T.replace(microsecond=123), updated_at=T, session_id="s1", message_indices=(0, 2),
                       keywords=("oslo",), metadata={"source": "chat"})
    return base.evolve(**changes)


def test_the_view_is_every_field_in_order_with_z_times() -> None:
    assert memory_view(entry()) == {
        "id": "m1", "namespace": "tenant:acme/user:ana", "text": "Ana lives in Oslo",
        "timestamp": "2024-05-01T09:30:00Z", "created_at": "2024-05-01T09:30:00.000123Z",
        "updated_at": "2024-05-01T09:30:00Z", "session_id": "s1", "message_indices": [0, 2], "keywords": ["oslo"],
        "metadata": {"source": "chat"}}
    assert list(memory_view(entry())) == list(MemoryView.model_fields)


def test_json_time_writes_what_the_view_writes() -> None:
    e = entry()
    view = memory_view(e)
    assert [json_time(e.timestamp), json_time(e.created_at)] == [view["timestamp"], view["created_at"]]


def test_namespace_can_be_named_for_the_reader() -> None:
    assert memory_view(entry(), namespace="user:ana")["namespace"] == "user:ana"
    assert MemoryView.of(entry()).namespace == "tenant:acme/user:ana"


def test_an_explicit_add_has_empty_provenance_and_a_missing_side_stays_null() -> None:
    view = memory_view(entry(session_id=None, message_indices=()))
    assert (view["session_id"], view["message_indices"]) == (None, [])
    assert memory_view(None) is None


def test_metadata_too_deep_to_send_becomes_a_marker_and_the_entry_keeps_it() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(MAX_JSON_DEPTH + 1):
        node["d"] = {}
        node = node["d"]
    e = entry(metadata=deep)
    sent = memory_view(e)["metadata"]
    assert list(sent) == [UNSENDABLE] and "nested more than" in sent[UNSENDABLE]
    assert e.metadata["d"] == deep["d"]
