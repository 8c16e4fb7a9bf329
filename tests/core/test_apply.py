import re
from datetime import UTC, datetime

import pytest

from deltamem.core import (
    Add,
    ConflictError,
    Delete,
    InvalidOperation,
    MemoryEntry,
    MemoryState,
    Noop,
    Update,
    apply,
    invert,
    op_from_dict,
    op_to_dict,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = datetime(2024, 2, 1, tzinfo=UTC)


def entry(mid: str, text: str, ns: str = "u") -> MemoryEntry:
    return MemoryEntry(id=mid, namespace=ns, text=text, timestamp=T0, created_at=T0, updated_at=T0)


@pytest.fixture
def state() -> MemoryState:
    return MemoryState.of("u", [entry("m1", "Lives in Boston"), entry("m2", "Has a dog named Rex")])


def ids() -> object:
    n = iter(range(100))
    return lambda: f"new{next(n)}"


def test_apply_computes_new_state_and_exact_diff(state: MemoryState) -> None:
    cs = apply(state, [Add(text="Works as a nurse"), Update(id="m1", text="Lives in Seattle"), Delete(id="m2"),
                       Noop(reason="chit-chat")], now=T1, id_factory=ids(), session_id="s1")
    assert cs.state.texts() == ["Lives in Seattle", "Works as a nurse"]
    assert [(c.kind, c.memory_id) for c in cs.changes] == [("ADD", "new0"), ("UPDATE", "m1"), ("DELETE", "m2")]
    upd = cs.changes[1]
    assert upd.before is not None and upd.before.text == "Lives in Boston"
    assert upd.after is not None and upd.after.updated_at == T1 and upd.after.created_at == T0
    assert cs.changes[0].after is not None and cs.changes[0].after.session_id == "s1"
    assert cs.counts() == {"ADD": 1, "UPDATE": 1, "DELETE": 1}
    assert len(cs.ops) == 4


def test_apply_does_not_mutate_input(state: MemoryState) -> None:
    before = dict(state)
    apply(state, [Delete(id="m1"), Add(text="x")])
    assert dict(state) == before


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([Update(id="nope", text="x")], "unknown or deleted memory id 'nope'"),
        ([Delete(id="nope")], "unknown or deleted"),
        ([Update(id="m1", text="a"), Delete(id="m1")], "already changed by an earlier op"),
        ([Add(text="   ")], "text is empty"),
        ([Update(id="m1", text="")], "text is empty"),
        ([Add(text="x" * 2001)], "limit is 2000"),
        ([Add(text="dup", id="m2")], "already exists"),
        ([Add(text="a", id="z"), Add(text="b", id="z")], "already exists"),
    ],
)
def test_invalid_ops_raise_naming_the_op(state: MemoryState, ops: list, message: str) -> None:
    with pytest.raises(InvalidOperation) as err:
        apply(state, ops)
    assert message in str(err.value)
    assert err.value.index == len(ops) - 1
    assert err.value.op is ops[-1]


def test_invalid_op_anywhere_applies_nothing(state: MemoryState) -> None:
    with pytest.raises(InvalidOperation) as err:
        apply(state, [Add(text="fine"), Update(id="m1", text="fine too"), Delete(id="ghost")])
    assert err.value.index == 2
    assert state.texts() == ["Lives in Boston", "Has a dog named Rex"]


def test_max_text_is_configurable(state: MemoryState) -> None:
    with pytest.raises(InvalidOperation, match="limit is 10"):
        apply(state, [Add(text="eleven char")], max_text_chars=10)


def test_update_keeps_unspecified_fields() -> None:
    s = MemoryState.of("u", [MemoryEntry(id="m", namespace="u", text="a", timestamp=T0, created_at=T0,
                                          updated_at=T0, keywords=("k",), metadata={"src": "chat"})])
    cs = apply(s, [Update(id="m", text="b")], now=T1)
    after = cs.state["m"]
    assert after.keywords == ("k",) and dict(after.metadata) == {"src": "chat"} and after.timestamp == T0


def test_invert_restores_exact_previous_state(state: MemoryState) -> None:
    cs = apply(state, [Add(text="n"), Update(id="m1", text="Seattle"), Delete(id="m2")], now=T1)
    back = invert(cs, cs.state, now=T1)
    assert back.state == state
    assert back.reverts == cs.id
    assert {c.kind for c in back.changes} == {"ADD", "UPDATE", "DELETE"}


def test_invert_refuses_when_later_change_touched_same_memory(state: MemoryState) -> None:
    cs = apply(state, [Update(id="m1", text="Seattle")])
    later = apply(cs.state, [Update(id="m1", text="Portland")])
    with pytest.raises(ConflictError, match="m1"):
        invert(cs, later.state)
    forced = invert(cs, later.state, force=True)
    assert forced.state["m1"].text == "Lives in Boston"


def test_op_dict_round_trip() -> None:
    ops = [Add(text="a", keywords=("k",), timestamp=T0, message_indices=(1, 2), metadata={"x": 1}),
           Update(id="m", text="b"), Delete(id="m", reason="retracted"), Noop(reason="nothing")]
    assert [op_from_dict(op_to_dict(o)) for o in ops] == ops


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"op": "MERGE", "id": "m"}, "unknown op 'MERGE'"),
        ({"text": "no op"}, "unknown op '(missing)'"),
        ({"op": "UPDATE", "text": "x"}, "missing or bad field"),
        ({"op": "ADD", "text": "x", "confidence": 0.9}, "unexpected field"),
        ({"op": "ADD", "text": "x", "keywords": "notalist"}, "keywords must be a list"),
        ({"op": "ADD", "text": "x", "timestamp": "yesterday"}, "not an ISO-8601"),
        (["ADD", "x"], "must be an object"),
    ],
)
def test_op_from_dict_rejects_bad_input(data: object, message: str) -> None:
    with pytest.raises(InvalidOperation, match=re.escape(message)):
        op_from_dict(data, index=0)  # type: ignore[arg-type]


def test_state_rejects_foreign_entries() -> None:
    with pytest.raises(ValueError, match="cannot sit in"):
        MemoryState.of("u", [entry("m1", "x", ns="other")])
